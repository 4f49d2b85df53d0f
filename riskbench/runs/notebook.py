"""Parameterised notebook runs with papermill, stored with their provenance.

:func:`run_notebook` checks the parameters before anything runs, executes the
notebook with papermill in a fresh kernel, and stores the executed notebook, what the
notebook wrote and a provenance manifest in the run's folder under
``$RISKBENCH_HOME/runs/<org>/<run id>/``; the run is recorded in the organisation's
workspace (``notebook_runs``) as running, then succeeded or failed with the failing
cell's index and error.

The kernel finds its output folder in the ``RISKBENCH_RUN_DIR`` environment variable
(:func:`run_dir`); notebooks write ``outputs.json`` there with
:meth:`~riskbench.runs.RunOutputs.save`.

Parameters are checked in one of two ways:

- a notebook whose metadata says ``{"riskbench": {"parameters": "scenario-run"}}``
  (``notebooks/scenario_run.ipynb``) gets :class:`~riskbench.runs.RunParameters`'
  full check (types, ranges, files, dates);
- any other notebook: each name must be in its ``parameters`` cell and each value of
  the type of that cell's default.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from riskbench.errors import Issue, RunError
from riskbench.files import atomic_write_text, environ_set, riskbench_home, sha256_file
from riskbench.runs.outputs import OUTPUTS_FILE, RunOutputs
from riskbench.runs.params import RunParameters, _literal

__all__ = [
    "EXECUTED",
    "MANIFEST",
    "NotebookRun",
    "check_parameters",
    "load_parameters",
    "run_dir",
    "run_notebook",
]

EXECUTED = "executed.ipynb"
MANIFEST = "manifest.json"
_KIND_KEY = "riskbench"
_SCENARIO_RUN = "scenario-run"
#: Packages whose versions go into every manifest.
_PACKAGES = (
    "riskbench",
    "numpy",
    "scipy",
    "pandas",
    "papermill",
    "nbconvert",
    "ipykernel",
    "matplotlib",
    "weasyprint",
)


def run_dir(default: str | os.PathLike[str] = "out/scenario_run") -> Path:
    """Where a notebook run writes its outputs: ``$RISKBENCH_RUN_DIR`` under
    :func:`run_notebook`, else ``default`` (an interactive session)."""
    path = Path(os.environ.get("RISKBENCH_RUN_DIR") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class NotebookRun:
    """A recorded notebook run.

    Attributes
    ----------
    run_id
        Unique per execution. ``input_hash`` is the same for runs with the same
        notebook, parameters and input data: such runs give the same numbers.
    status
        ``running``, ``succeeded``, ``failed`` or ``interrupted`` (its scheduler died).
    error
        For a failed run: ``{"cell_index", "ename", "evalue"}`` (``cell_index`` counts
        the executed notebook's cells from 0, the injected parameters cell included),
        or ``{"parameters": [...]}`` when the parameters were refused.
    folder
        The run's folder: ``executed.ipynb``, ``manifest.json`` and the notebook's
        outputs (``outputs.json`` for a scenario run).
    """

    run_id: str
    org: str
    notebook: str
    parameters: dict[str, Any]
    input_hash: str
    status: str
    folder: Path
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    error: dict[str, Any] | None = None
    outputs_sha256: str | None = None
    manifest: dict[str, Any] | None = None
    schedule: str | None = None
    slot: dt.datetime | None = None
    created_by: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def outputs(self) -> RunOutputs:
        """The run's :class:`RunOutputs` (a scenario run's ``outputs.json``)."""
        return RunOutputs.load(self.folder)


def load_parameters(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A parameters file (YAML or JSON mapping of name: value)."""
    from riskbench.files import read_yaml

    data = read_yaml(Path(path))
    if not isinstance(data, dict):
        raise RunError(
            f"{path}: must be a mapping of parameter: value, got {type(data).__name__}",
            issues=[Issue("parameters", f"must be a mapping, got {type(data).__name__}")],
        )
    return {str(k): v for k, v in data.items()}


def _notebook_kind(nb: Any) -> str | None:
    meta = nb.metadata.get(_KIND_KEY, {})
    return meta.get("parameters") if isinstance(meta, Mapping) else None


_NOT_LITERAL = object()


def _defaults(nb: Any) -> dict[str, Any]:
    """The names and default values of the notebook's ``parameters`` cell (a value
    that is not a literal is ``_NOT_LITERAL``)."""
    import ast

    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            out: dict[str, Any] = {}
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target = node.targets[0]
                    if isinstance(target, ast.Name):
                        try:
                            out[target.id] = ast.literal_eval(node.value)
                        except ValueError:
                            out[target.id] = _NOT_LITERAL
            return out
    return {}


def _type_name(value: Any) -> str:
    return {bool: "true/false", int: "a whole number", float: "a number", str: "text"}.get(
        type(value), type(value).__name__
    )


def check_parameters(notebook: str | os.PathLike[str], values: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters ``values`` checked against ``notebook``; every value the run
    uses (the notebook's literal defaults overlaid with ``values``), to inject and
    record.

    Raises :class:`~riskbench.errors.RunError` listing every bad name or value.
    """
    path = Path(notebook)
    return _check(_read_notebook(path), path, values)


def _read_notebook(path: Path) -> Any:
    import nbformat

    if not path.is_file():
        raise RunError(
            f"no notebook at {path}", issues=[Issue("notebook", f"no file at {str(path)!r}")]
        )
    return nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]


def _check(nb: Any, path: Path, values: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`check_parameters` of the notebook ``nb`` read from ``path``."""
    defaults = _defaults(nb)
    literal = {k: v for k, v in defaults.items() if v is not _NOT_LITERAL}
    if _notebook_kind(nb) == _SCENARIO_RUN:
        merged = {k: v for k, v in literal.items() if k in RunParameters.names()}
        params = RunParameters.from_mapping({**merged, **values}, base_dir=path.parent)
        return params.to_dict()
    issues: list[Issue] = []
    out: dict[str, Any] = dict(literal)
    for name, raw in values.items():
        if name not in defaults:
            issues.append(
                Issue(name, f"is not a parameter of {path.name}; allowed: {sorted(defaults)}")
            )
            continue
        value, default = _literal(raw), defaults[name]
        if default is not None and default is not _NOT_LITERAL and value is not None:
            ok = isinstance(value, type(default)) and not (
                isinstance(value, bool) and not isinstance(default, bool)
            )
            if (
                isinstance(default, float)
                and isinstance(value, int)
                and not isinstance(value, bool)
            ):
                value, ok = float(value), True
            if not ok:
                issues.append(
                    Issue(name, f"must be {_type_name(default)} like {default!r}, got {raw!r}")
                )
                continue
        out[name] = value
    if issues:
        raise RunError("bad run parameters:\n" + "\n".join(f"  {i}" for i in issues), issues=issues)
    return out


def _file_hashes(notebook: Path, parameters: Mapping[str, Any]) -> dict[str, str]:
    """SHA-256 of the notebook and of every parameter that names an existing file."""
    hashes = {"notebook": sha256_file(notebook)}
    for name, value in sorted(parameters.items()):
        if isinstance(value, str) and value:
            candidate = (notebook.parent / value).expanduser()
            if candidate.is_file():
                hashes[name] = sha256_file(candidate)
    return hashes


def _store_hashes(parameters: Mapping[str, Any], org: str, workspace: Any) -> dict[str, str]:
    """Hashes of the stored data a scenario run reads: the workspace's scenario
    versions (when no card file is given; a version never changes once saved) and the
    organisation's incident counts."""
    out: dict[str, str] = {}
    if not parameters.get("card") and workspace is not None:
        versions = {i.scenario_id: i.version for i in workspace.scenarios()}
        out["workspace scenarios"] = _json_hash(versions)
    if parameters.get("incidents") == "store":
        from riskbench.logstore import LogStore

        with LogStore() as store:
            counts = store.incident_counts(org, by="scenario_id")
        out["incident log"] = _json_hash(counts.to_dict("records"))
    return out


def _json_hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _git_revision(path: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(path.parent), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "-C", str(path.parent), "status", "--porcelain", "--", str(path)],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout.strip()
    return out.stdout.strip() + ("+modified" if dirty else "")


def _versions() -> dict[str, str]:
    found = {}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    found["python"] = platform.python_version()
    return found


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run_notebook(
    notebook: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    org: str | None = None,
    user: str | None = None,
    workspace: Any = None,
    home: str | os.PathLike[str] | None = None,
    kernel: str = "python3",
    timeout: int | None = 1800,
    schedule: str | None = None,
    slot: dt.datetime | None = None,
    raise_on_failure: bool = True,
) -> NotebookRun:
    """Execute ``notebook`` with papermill and record the run with its provenance.

    Parameters
    ----------
    notebook
        The notebook (``notebooks/scenario_run.ipynb`` for the board-pack run).
    parameters
        Parameter values (literals, or text as ``papermill -p`` gives them). A
        scenario-run notebook's ``org`` defaults to the workspace's organisation.
    org, user
        The organisation and user the run is recorded for (default
        ``$RISKBENCH_ORG``/``$RISKBENCH_USER``, else ``northwind``/``local``); ignored
        when ``workspace`` is given.
    workspace
        An open :class:`~riskbench.workspace.Workspace` to record in.
    home
        ``$RISKBENCH_HOME`` for the embedded store and the run folders.
    kernel
        Jupyter kernel name.
    timeout
        Seconds a cell may run.
    schedule, slot
        Set by the scheduler: the schedule's name and the time the run was due.
    raise_on_failure
        Raise :class:`~riskbench.errors.RunError` when the run fails (after
        recording it); with False the failed :class:`NotebookRun` is returned.

    Returns
    -------
    NotebookRun
        The recorded run (status ``succeeded`` unless ``raise_on_failure`` is False).

    Raises
    ------
    RunError
        Bad parameters (nothing runs; the run is recorded as failed with the
        reasons), or a failing cell (its index and error are in the message).
    """
    from riskbench.workspace import Workspace

    nb_path = Path(notebook).resolve()
    values = dict(parameters or {})
    own = workspace is None
    if own:
        workspace = Workspace(
            org=org or os.environ.get("RISKBENCH_ORG") or "northwind",
            user=user or os.environ.get("RISKBENCH_USER") or "local",
            home=home,
        )
    try:
        return _run(
            nb_path,
            values,
            workspace,
            home=home,
            kernel=kernel,
            timeout=timeout,
            schedule=schedule,
            slot=slot,
            raise_on_failure=raise_on_failure,
        )
    finally:
        if own:
            workspace.close()


def _run(
    nb_path: Path,
    values: dict[str, Any],
    ws: Any,
    *,
    home: str | os.PathLike[str] | None,
    kernel: str,
    timeout: int | None,
    schedule: str | None,
    slot: dt.datetime | None,
    raise_on_failure: bool,
) -> NotebookRun:
    from riskbench.runs import store

    started = _now()
    run_id = f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    folder = riskbench_home(home) / "runs" / ws.org / run_id
    store.require(ws, "analyst", "run a notebook")
    try:
        nb = _read_notebook(nb_path)
        scenario_kind = _notebook_kind(nb) == _SCENARIO_RUN
        if scenario_kind:
            values.setdefault("org", ws.org)
        injected = _check(nb, nb_path, values)
        if injected.get("org", ws.org) != ws.org:
            raise RunError(
                f"bad run parameters:\n  org: {injected['org']!r} is not the organisation "
                f"this run is recorded in ({ws.org!r})",
                issues=[Issue("org", f"{injected['org']!r} differs from {ws.org!r}")],
            )
        inputs = _file_hashes(nb_path, injected)
        if scenario_kind:
            inputs |= _store_hashes(injected, ws.org, ws)
    except RunError as err:
        run = NotebookRun(
            run_id=run_id,
            org=ws.org,
            notebook=str(nb_path),
            parameters={k: _plain(v) for k, v in values.items()},
            input_hash=_json_hash({"refused": values}),
            status="failed",
            folder=folder,
            started_at=started,
            finished_at=_now(),
            error={"parameters": [str(i) for i in err.issues] or [str(err)]},
            schedule=schedule,
            slot=slot,
        )
        store.record(ws, run)
        if raise_on_failure:
            raise
        return run

    input_hash = _json_hash({"parameters": injected, "inputs": inputs})
    run = NotebookRun(
        run_id=run_id,
        org=ws.org,
        notebook=str(nb_path),
        parameters=injected,
        input_hash=input_hash,
        status="running",
        folder=folder,
        started_at=started,
        schedule=schedule,
        slot=slot,
    )
    store.record(ws, run)
    run = _execute(run, nb_path, injected, inputs, ws, home=home, kernel=kernel, timeout=timeout)
    store.finish(ws, run)
    if not run.ok and raise_on_failure:
        assert run.error is not None
        raise RunError(
            f"{nb_path.name} failed (run {run.run_id}): {run.error['ename']}: "
            f"{run.error['evalue']}",
            cell_index=run.error.get("cell_index"),
        )
    return run


def _plain(v: Any) -> Any:
    return v if isinstance(v, str | int | float | bool | type(None) | list | dict) else str(v)


def _execute(
    run: NotebookRun,
    nb_path: Path,
    injected: dict[str, Any],
    inputs: dict[str, str],
    ws: Any,
    *,
    home: str | os.PathLike[str] | None,
    kernel: str,
    timeout: int | None,
) -> NotebookRun:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    tmp = run.folder.parent / f".{run.run_id}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    env = {
        "RISKBENCH_RUN_DIR": str(tmp),
        "RISKBENCH_RUN_ID": run.run_id,
        "RISKBENCH_ORG": ws.org,
        "RISKBENCH_USER": ws.user,
    }
    if home is not None:
        env["RISKBENCH_HOME"] = str(home)
    error: dict[str, Any] | None = None
    with environ_set(env):
        try:
            pm.execute_notebook(
                str(nb_path),
                str(tmp / EXECUTED),
                parameters=injected,
                kernel_name=kernel,
                cwd=str(nb_path.parent),
                progress_bar=False,
                execution_timeout=timeout,
                report_mode=False,
            )
        except PapermillExecutionError as err:
            error = {"cell_index": err.cell_index, "ename": err.ename, "evalue": err.evalue}
        except Exception as err:  # the kernel died, a timeout: still a recorded failure
            error = {"cell_index": None, "ename": type(err).__name__, "evalue": str(err)}
    finished = _now()
    outputs_sha = None  # the outputs' fingerprint: equal for runs with equal inputs
    if (tmp / OUTPUTS_FILE).exists():
        outputs_sha = RunOutputs.load(tmp).fingerprint()
    manifest = {
        "run_id": run.run_id,
        "org": run.org,
        "notebook": str(nb_path),
        "parameters": injected,
        "seed": injected.get("seed"),
        "input_hash": run.input_hash,
        "inputs": inputs,
        "versions": _versions(),
        "git_revision": _git_revision(nb_path),
        "started_at": run.started_at.isoformat(),
        "finished_at": finished.isoformat(),
        "status": "failed" if error else "succeeded",
        "error": error,
        "schedule": run.schedule,
        "slot": run.slot.isoformat() if run.slot else None,
        "files": {
            p.relative_to(tmp).as_posix(): sha256_file(p)
            for p in sorted(tmp.rglob("*"))
            if p.is_file()
        },
    }
    atomic_write_text(tmp / MANIFEST, json.dumps(manifest, indent=1, default=str) + "\n")
    from riskbench.files import replace_dir

    replace_dir(tmp, run.folder)
    return dataclasses.replace(
        run,
        status="failed" if error else "succeeded",
        finished_at=finished,
        error=error,
        outputs_sha256=outputs_sha,
        manifest=manifest,
    )
