"""Export chosen parts of a simulation result as files, with a manifest.

:class:`ReportWizard` lets a user choose scenarios, sections and a format, and writes
one file per section into a folder, plus ``manifest.json`` with the SHA-256 of each
file. The folder appears whole or not at all: the files are written (each atomically)
into a hidden sibling folder that is renamed into place at the end. With a workspace
and a run id each file is recorded with ``Workspace.record_export``.

Formats are CSV and JSON (one file per section), and PDF or HTML: the board pack
(:func:`riskbench.boardpack.board_pack`, its own fixed sections) of the portfolio, with
narratives of the chosen scenarios; the mitigation plan is the best within the
options' total cost.

Files (``<ext>`` is ``csv`` or ``json``):

- ``summary.<ext>``: ``result.summary()`` rows of the chosen scenarios, then the
  ``portfolio`` row (the whole portfolio's, not the sum of the chosen).
- ``exceedance_curve.<ext>``: ``result.exceedance_curve(s)`` for each chosen scenario
  and the portfolio, long form: ``scenario, loss, probability``.
- ``matrix_placement.<ext>``: ``matrix.place(result).table`` rows of the chosen
  scenarios.
- ``mitigations.<ext>``: ``rb.evaluate_mitigations(...).table`` for the options that
  name a chosen scenario (only when mitigations are given).
- ``narratives.json`` (JSON in either format: the text has paragraphs):
  ``rb.narrate(scenario, result, llm=False)`` per chosen scenario.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import param

from riskbench.ai.narrate import narrate
from riskbench.errors import Issue, ValidationError
from riskbench.exports import MANIFEST_FILE as MANIFEST
from riskbench.exports import check_export_folder
from riskbench.files import atomic_write_text, replace_dir, sha256_file
from riskbench.matrix import ImpactMatrix
from riskbench.mitigation import Mitigation, evaluate_mitigations
from riskbench.widgets._panel import extension

__all__ = ["FORMATS", "SECTIONS", "ReportWizard"]

#: Sections a report can hold, in the order they are written.
SECTIONS = ("summary", "exceedance_curve", "matrix_placement", "mitigations", "narratives")
#: Formats: data files (csv, json) or the board pack (pdf, html).
FORMATS = ("csv", "json", "pdf", "html")
BOARD_PACK_FORMATS = ("pdf", "html")
_SECTION_LABELS = {
    "summary": "Summary",
    "exceedance_curve": "Exceedance curve",
    "matrix_placement": "Matrix placement",
    "mitigations": "Mitigations",
    "narratives": "Narratives",
}


def _plain(v: Any) -> Any:
    """A JSON-ready value: non-finite floats become None, numpy scalars Python ones."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, tuple | list):
        return [_plain(x) for x in v]
    return v


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


class ReportWizard(pn.viewable.Viewer):
    """Choose scenarios, sections and a format; export them as files with a manifest.

    Parameters
    ----------
    result
        A :class:`riskbench.SimulationResult` (or :class:`riskbench.ExactResult`).
    portfolio
        The portfolio the mitigations are evaluated on and the narratives written from
        (default: ``result.portfolio``).
    workspace, run_id
        A :class:`riskbench.Workspace` and the id of the saved run (``ws.save_run``):
        each exported file is then recorded with ``workspace.record_export``.
    mitigations
        Options for the ``mitigations`` section (evaluated with the result's trials
        and seed); without them the section is not offered.
    matrix
        The impact matrix of ``matrix_placement`` (default:
        ``ImpactMatrix.default(scale=1_000_000)``).
    graph
        A dependency graph the narratives trace outages through.

    Examples
    --------
    >>> import riskbench as rb
    >>> from riskbench.widgets.report import ReportWizard
    >>> res = rb.simulate(rb.load_portfolio("examples/register.yaml"), 2_000, seed=1)
    >>> wizard = ReportWizard(res)
    >>> wizard.choose(scenarios=["ransomware-erp"], sections=["summary"], fmt="csv")
    >>> wizard.export("out/report")  # doctest: +SKIP
    """

    scenarios = param.List(default=[], item_type=str, doc="Ids of the scenarios reported.")
    sections = param.List(default=[], item_type=str, doc="Sections written (see SECTIONS).")
    fmt = param.Selector(default="csv", objects=list(FORMATS), doc="Format of the files.")

    def __init__(
        self,
        result: Any,
        *,
        portfolio: Any = None,
        workspace: Any = None,
        run_id: str | None = None,
        mitigations: Sequence[Mitigation] | None = None,
        matrix: ImpactMatrix | None = None,
        graph: Any = None,
        tolerance: Sequence[tuple[float, float]] = (),
        **params: Any,
    ) -> None:
        super().__init__(**params)
        extension()
        if (workspace is None) != (run_id is None):
            raise ValidationError(
                [Issue("run_id", "give both workspace and run_id to record exports, or neither")]
            )
        self.result = result
        self.portfolio = portfolio if portfolio is not None else result.portfolio
        self.workspace = workspace
        self.run_id = run_id
        self.mitigations = list(mitigations) if mitigations is not None else None
        self.matrix = matrix if matrix is not None else ImpactMatrix.default(scale=1_000_000)
        self.graph = graph
        self.tolerance = tuple((float(a), float(b)) for a, b in tolerance)
        self.available = tuple(
            s for s in SECTIONS if s != "mitigations" or self.mitigations is not None
        )
        self.scenarios = list(result.ids)
        self.sections = list(self.available)

        # Widgets and panes: built here, never as class attributes.
        self.scenario_select = pn.widgets.MultiSelect(
            label="Scenarios",
            options={f"{s.category}: {s.title}": s.id for s in result.portfolio.scenarios},
            value=list(self.scenarios),
            size=min(len(result.ids), 12),
        )
        self.section_boxes = pn.widgets.CheckBoxGroup(
            options={_SECTION_LABELS[s]: s for s in self.available},
            value=list(self.sections),
            inline=False,
        )
        self.format_select = pn.widgets.Select(
            label="Format",
            options={
                "CSV": "csv",
                "JSON": "json",
                "PDF board pack": "pdf",
                "HTML board pack": "html",
            },
            value="csv",
        )
        self.folder_input = pn.widgets.TextInput(label="Folder", placeholder="out/report")
        self.export_button = pn.widgets.Button(label="Export", color="primary")
        self.message = pn.pane.Alert("", alert_type="danger", visible=False)
        self.done = pn.pane.Markdown("")
        for w in (self.scenario_select, self.section_boxes, self.format_select):
            w.param.watch(self._on_choice, "value")
        self.export_button.on_click(lambda _e: self._export_from_ui())

    # -- public --------------------------------------------------------------------
    def choose(
        self,
        *,
        scenarios: Iterable[str] | None = None,
        sections: Iterable[str] | None = None,
        fmt: str | None = None,
    ) -> None:
        """Choose what :meth:`export` writes; arguments left out keep their value.

        Raises
        ------
        riskbench.errors.ValidationError
            For an unknown scenario or section, no scenario or section, or an unknown
            format.
        """
        issues = []
        new_scen = list(self.scenarios if scenarios is None else scenarios)
        new_sec = list(self.sections if sections is None else sections)
        new_fmt = self.fmt if fmt is None else fmt
        unknown = [s for s in new_scen if s not in self.result.ids]
        if unknown:
            issues.append(
                Issue("scenarios", f"unknown ids {unknown}; known: {list(self.result.ids)}")
            )
        elif not new_scen:
            issues.append(Issue("scenarios", "choose at least one scenario"))
        bad = [s for s in new_sec if s not in self.available]
        if bad:
            extra = (
                " (mitigations needs ReportWizard(..., mitigations=[...]))"
                if "mitigations" in bad
                else ""
            )
            issues.append(
                Issue("sections", f"unknown {bad}; allowed: {list(self.available)}{extra}")
            )
        elif not new_sec:
            issues.append(Issue("sections", "choose at least one section"))
        if new_fmt not in FORMATS:
            issues.append(Issue("fmt", f"must be one of {list(FORMATS)}, got {new_fmt!r}"))
        if issues:
            raise ValidationError(issues)
        self.scenarios = [s for s in self.result.ids if s in new_scen]
        self.sections = [s for s in SECTIONS if s in new_sec]
        self.fmt = new_fmt
        self._sync_widgets()

    def export(self, folder: str | Path) -> list[Path]:
        """Write the chosen sections into ``folder``, then ``manifest.json``; the paths
        written (the manifest last).

        The folder appears complete or not at all; a folder left by an earlier export
        (it has a ``manifest.json``) is replaced, any other non-empty folder is
        refused. With a workspace each file is recorded as an export of the run, with
        the section as its kind (``manifest`` for the manifest).
        """
        target = check_export_folder(folder)
        pack = self.fmt in BOARD_PACK_FORMATS
        contents = [] if pack else self._contents()  # computed before anything is written
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
        try:
            tmp.chmod(0o755)  # mkdtemp makes it private to its owner
            files = []
            if pack:
                name = f"board-pack.{self.fmt}"
                self._board_pack(tmp / name)
                contents = [("board-pack", name, None)]
            for section, name, text in contents:
                if text is not None:
                    atomic_write_text(tmp / name, text)
                files.append(
                    {
                        "section": section,
                        "path": name,
                        "sha256": sha256_file(tmp / name),
                        "bytes": (tmp / name).stat().st_size,
                    }
                )
            atomic_write_text(tmp / MANIFEST, _json(self._manifest(files)))
            replace_dir(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        paths = [target / f["path"] for f in files] + [target / MANIFEST]
        if self.workspace is not None and self.run_id is not None:
            kinds = [f["section"] for f in files] + ["manifest"]
            for kind, path in zip(kinds, paths, strict=True):
                self.workspace.record_export(self.run_id, kind, path)
        return paths

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            "### Report",
            pn.Row(
                self.scenario_select,
                pn.Column("Sections", self.section_boxes),
                pn.Column(self.format_select, self.folder_input, self.export_button),
            ),
            self.message,
            self.done,
        )

    # -- content -------------------------------------------------------------------
    def _board_pack(self, path: Path) -> Path:
        """The board pack of the portfolio (same trials and seed as the result), with
        narratives of the chosen scenarios."""
        from riskbench.boardpack import board_pack
        from riskbench.runs.analysis import RunInputs, analyse

        options = list(self.mitigations or [])
        inputs = RunInputs(
            portfolio=self.portfolio,
            trials=int(self.result.trials),
            seed=int(self.result.seed),
            as_of=_dt.date.today().isoformat(),
            org=getattr(self.workspace, "org", ""),
            options=options,
            plan="best" if options else "none",
            graph=self.graph,
            tolerance=self.tolerance,
            top=0,
            narrate=tuple(self.scenarios),
            parameters={"source": "ReportWizard", "scenarios": list(self.scenarios)},
        )
        outputs = analyse(inputs)
        outputs.meta["run_id"] = self.run_id
        return board_pack(outputs, path, format=self.fmt)

    def _contents(self) -> list[tuple[str, str, str | None]]:
        """(section, file name, text) for each chosen section."""
        out: list[tuple[str, str, str | None]] = []
        for section in self.sections:
            if section == "narratives":
                out.append((section, "narratives.json", _json(self._narratives())))
                continue
            frame = getattr(self, f"_{section}")()
            name = f"{section}.{self.fmt}"
            if self.fmt == "csv":
                text = frame.to_csv()
            else:
                index = frame.index.name or "index"
                text = _json(_records(frame.reset_index().rename(columns={"index": index})))
            out.append((section, name, text))
        return out

    def _summary(self) -> pd.DataFrame:
        return self.result.summary().loc[[*self.scenarios, "portfolio"]]

    def _exceedance_curve(self) -> pd.DataFrame:
        parts = []
        for sid in [*self.scenarios, None]:
            curve = self.result.exceedance_curve(sid)
            curve.insert(0, "scenario", sid or "portfolio")
            parts.append(curve)
        return pd.concat(parts, ignore_index=True).set_index("scenario")

    def _matrix_placement(self) -> pd.DataFrame:
        table = self.matrix.place(self.result).table
        table = table[table["scenario"].isin(self.scenarios)].copy()
        for col in ("likelihood_band", "severity_band"):
            table[col] = table[col].astype(str)
        return table.set_index("scenario")

    def _mitigations(self) -> pd.DataFrame:
        chosen = set(self.scenarios)
        options = [m for m in self.mitigations or [] if chosen & set(m.scenarios)]
        report = evaluate_mitigations(
            self.portfolio, options, trials=self.result.trials, seed=self.result.seed
        )
        return report.table.rename_axis("option")

    def _narratives(self) -> dict[str, Any]:
        out = {}
        for sid in self.scenarios:
            n = narrate(
                self.portfolio[sid],
                self.result,
                graph=self.graph,
                mitigations=self.mitigations or (),
                llm=False,
            )
            out[sid] = {"text": n.text, "sections": n.sections, "method": n.method}
        return {"style": "board", "narratives": out}

    def _manifest(self, files: list[dict[str, Any]]) -> dict[str, Any]:
        from riskbench import __version__

        return {
            "riskbench_version": __version__,
            "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "run_id": self.run_id,
            "currency": self.result.currency,
            "trials": getattr(self.result, "trials", None),
            "seed": getattr(self.result, "seed", None),
            "scenarios": list(self.scenarios),
            "sections": list(self.sections),
            "format": self.fmt,
            "files": files,
        }

    # -- UI ------------------------------------------------------------------------
    def _sync_widgets(self) -> None:
        self._syncing = True
        try:
            self.scenario_select.value = list(self.scenarios)
            self.section_boxes.value = list(self.sections)
            self.format_select.value = self.fmt
        finally:
            self._syncing = False

    def _show_error(self, err: ValidationError) -> None:
        self.message.object = "<br>".join(html.escape(str(i)) for i in err.issues)
        self.message.visible = True

    def _on_choice(self, _event: Any) -> None:
        if getattr(self, "_syncing", False):
            return
        try:
            self.choose(
                scenarios=self.scenario_select.value,
                sections=self.section_boxes.value,
                fmt=self.format_select.value,
            )
        except ValidationError as err:
            self._show_error(err)
            self.export_button.disabled = True
            return
        self.message.visible = False
        self.export_button.disabled = False

    def _export_from_ui(self) -> None:
        self.export_button.loading = True
        try:
            paths = self.export(self.folder_input.value)
        except ValidationError as err:
            self._show_error(err)
            return
        except OSError as err:
            self.message.object = html.escape(f"could not write the report: {err}")
            self.message.visible = True
            return
        finally:
            self.export_button.loading = False
        self.message.visible = False
        items = "".join(f"\n- `{p}`" for p in paths)
        self.done.object = f"Wrote {len(paths)} files:{items}"
