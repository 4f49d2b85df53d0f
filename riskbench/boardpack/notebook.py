"""The board pack as an in-memory notebook: markdown cells for the words, display
outputs for the tables (``text/html``) and the charts (``image/png``), no code.

Every section is drawn from the run's stored outputs (:class:`~riskbench.runs.RunOutputs`);
every number is written by the helpers of :mod:`riskbench.boardpack.formatting`.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from riskbench.boardpack import charts
from riskbench.boardpack.formatting import (
    MISSING,
    format_amount,
    format_count,
    format_probability,
    format_ratio,
    format_years,
)
from riskbench.boardpack.markup import (
    Cell,
    Col,
    cell_text,
    flatten,
    html_table,
    md,
    paragraphs,
    prose,
    slug,
)
from riskbench.errors import Issue, MissingDependencyError, ValidationError

if TYPE_CHECKING:
    from nbformat import NotebookNode

    from riskbench.runs import RunOutputs

__all__ = ["REPORT_TITLE", "SECTIONS", "board_pack_notebook"]

REPORT_TITLE = "Board risk report"
#: The headings of the pack's sections, in order; each starts a new page.
SECTIONS = (
    "Executive summary",
    "Loss exceedance curve",
    "Impact matrix",
    "Top scenarios",
    "Stress tests",
    "Dependency graph findings",
    "Mitigation plan",
    "Appendix: assumptions",
    "Appendix: calibration",
    "Appendix: provenance",
)
_TOP = 5


def _nbformat() -> Any:
    try:
        import nbformat
    except ImportError:
        raise MissingDependencyError("nbformat", "reports", purpose="The board pack") from None
    return nbformat


def _check(outputs: RunOutputs) -> None:
    issues: list[Issue] = []
    for name in ("summary", "curve"):
        if name not in outputs.tables:
            issues.append(Issue(f"tables.{name}", "is missing: the board pack needs it"))
    summary = outputs.tables.get("summary")
    if summary is not None and not (summary.get("scenario") == "portfolio").any():
        issues.append(Issue("tables.summary", "has no 'portfolio' row"))
    for key in ("as_of", "currency"):
        if not outputs.meta.get(key):
            issues.append(Issue(f"meta.{key}", f"is empty, got {outputs.meta.get(key)!r}"))
    if issues:
        raise ValidationError(issues)


class _Pack:
    """Collects the cells of the pack, one section after another."""

    def __init__(self, outputs: RunOutputs, manifest: Mapping[str, Any] | None) -> None:
        self.nbf = _nbformat()
        self.out = outputs
        self.manifest = manifest
        self.meta = outputs.meta
        self.cur = outputs.currency
        self.cells: list[Any] = []
        scen = outputs.table("scenarios")
        self.titles: dict[str, str] = (
            dict(zip(scen["scenario"], scen["title"], strict=True)) if len(scen) else {}
        )
        residual = outputs.tables.get("residual_summary")
        self.residual = residual if residual is not None and len(residual) else None

    # -- cells ---------------------------------------------------------------------
    def heading(self, text: str, level: int = 1) -> None:
        # Raw HTML in the markdown cell: our own ids, which the cover's contents link to.
        tag = f"h{level}"
        self.markdown(f'<{tag} id="{slug(text)}">{html.escape(text)}</{tag}>')

    def markdown(self, source: str) -> None:
        self.cells.append(self.nbf.v4.new_markdown_cell(source))

    def text(self, *lines: str) -> None:
        """Plain paragraphs (escaped); one markdown cell."""
        self.markdown("\n\n".join(md(p) for p in lines if p))

    def display(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        output = self.nbf.v4.new_output("display_data", data=data, metadata=metadata or {})
        self.cells.append(self.nbf.v4.new_code_cell(source="", outputs=[output]))

    def html(self, fragment: str, plain: str = "") -> None:
        self.display({"text/html": fragment, "text/plain": plain or "(table)"})

    def table(self, cols: Sequence[Col], rows: Sequence[Sequence[Cell]], **kw: str) -> None:
        self.html(html_table(cols, rows, **kw))

    def image(self, png: bytes, alt: str) -> None:
        self.display(
            {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": alt},
            {"alt": alt},
        )

    def amount(self, x: Any, *, exact: bool = False) -> str:
        return format_amount(x, self.cur, exact=exact)

    def section_absent(self, what: str) -> None:
        self.markdown(f"_{md(what)}_")

    # -- sections ------------------------------------------------------------------
    def cover(self) -> None:
        meta = self.meta
        organisation = meta.get("organisation") or meta.get("org") or meta.get("portfolio") or ""
        run_id = meta.get("run_id") or (self.manifest or {}).get("run_id") or "not recorded"
        seed = meta.get("seed")
        facts = [
            ("As of", str(meta.get("as_of"))),
            ("Run id", str(run_id)),
            ("Simulated years", format_count(meta.get("trials"))),
            ("Seed", "none (not reproducible)" if seed is None else str(seed)),
            ("Scenarios", format_count(meta.get("scenarios"))),
            ("Currency", self.cur),
        ]
        rows = "\n".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts
        )
        contents = "\n".join(
            f'<li><a href="#{slug(s)}">{html.escape(s)}</a></li>' for s in SECTIONS
        )
        portfolio = meta.get("portfolio") or ""
        self.html(
            '<section class="bp-cover">\n'
            f'<p class="bp-org">{html.escape(str(organisation))}</p>\n'
            f'<h1 id="{slug(REPORT_TITLE)}">{REPORT_TITLE}</h1>\n'
            f'<p class="bp-subtitle">{html.escape(str(portfolio))}</p>\n'
            f'<table class="bp-facts">{rows}</table>\n'
            f'<nav class="bp-contents"><p>Contents</p><ol>{contents}</ol></nav>\n'
            "</section>",
            f"{organisation}: {REPORT_TITLE}",
        )

    def executive(self) -> None:
        self.heading("Executive summary")
        summary_words = paragraphs(self.out.narratives.get("executive"))
        if summary_words:
            self.markdown("\n\n".join(md(p) for p in summary_words))
        summary = self.out.tables["summary"].set_index("scenario")
        inherent = summary.loc["portfolio"]
        after = (
            self.residual.set_index("scenario").loc["portfolio"]
            if self.residual is not None
            else None
        )
        measures = [
            ("Expected annual loss", "mean"),
            ("1 in 10 years (90th percentile)", "p90"),
            ("1 in 100 years (99th percentile)", "p99"),
            ("Average of the worst 1 in 100 years (TVaR 99%)", "tvar99"),
        ]
        cols = [Col("Annual loss"), Col("Inherent", num=True)]
        if after is not None:
            cols.append(Col("After the plan", num=True))
        rows = []
        for label, key in measures:
            value = self.out.p99 if key == "p99" else inherent[key]
            row = [label, self.amount(value, exact=True)]
            if after is not None:
                row.append(self.amount(after[key], exact=True))
            rows.append(row)
        exact = self.meta.get("exact_p99")
        if exact is not None and np.isfinite(exact):
            rows.append(
                ["1 in 100 years, exact (FFT)", self.amount(exact, exact=True)]
                + ([MISSING] if after is not None else [])
            )
        self.table(cols, rows, cls="bp-headline")
        trials = format_count(self.meta.get("trials"))
        self.text(
            f"Headline figures are shown to the unit so that they can be traced to the run's "
            f"stored outputs; they are estimates from {trials} simulated years, not exact to "
            "the unit. Elsewhere amounts are rounded to 3 significant figures."
        )

    def _chance(self, basis: str, losses: np.ndarray) -> np.ndarray | None:
        curve = self.out.tables["curve"]
        part = curve[(curve["scenario"] == "portfolio") & (curve["basis"] == basis)]
        if not len(part):
            return None
        part = part.sort_values("loss")
        chance = np.interp(losses, part["loss"], part["probability"], right=0.0)
        return np.asarray(chance, dtype=float)

    def exceedance(self) -> None:
        self.heading("Loss exceedance curve")
        self.text(
            "The chance, in any one year, that the portfolio's total loss exceeds the amount "
            "on the horizontal axis, before mitigation (inherent) and after the mitigation "
            "plan, against the board's risk tolerance: the largest chance the board accepts "
            "of each loss. Both axes are logarithmic."
        )
        tolerance = self.out.tables.get("tolerance")
        png = charts.exceedance_chart(
            self.out.tables["curve"], tolerance, currency=self.cur, trials=self.meta.get("trials")
        )
        self.image(png, "Loss exceedance curve of the portfolio against the risk tolerance")
        if tolerance is None or not len(tolerance):
            self.section_absent("This run has no risk tolerance to compare against.")
            return
        tol = tolerance.sort_values("loss")
        losses = tol["loss"].to_numpy(dtype=float)
        chances = {b: self._chance(b, losses) for b in ("inherent", "residual")}
        cols = [
            Col("Annual loss above", num=True),
            Col("Tolerance", num=True),
            Col("Chance, inherent", num=True),
        ]
        if chances["residual"] is not None:
            cols.append(Col("Chance, after the plan", num=True))
        cols.append(Col("Within tolerance"))
        rows = []
        for i, (loss, limit) in enumerate(zip(losses, tol["probability"], strict=True)):
            row = [self.amount(loss), format_probability(limit)]
            last = None
            for basis in ("inherent", "residual"):
                chance = chances[basis]
                if chance is not None:
                    row.append(format_probability(chance[i]))
                    last = chance[i]
            row.append(MISSING if last is None else ("yes" if last <= limit else "no"))
            rows.append(row)
        self.table(cols, rows)
        breach = self.meta.get("tolerance_breach")
        if breach:
            self.text(
                f"The inherent curve exceeds the tolerance for annual losses from "
                f"{self.amount(breach[0])} to {self.amount(breach[1])}. The last column "
                "compares the curve after the plan when there is one."
            )

    def matrix(self) -> None:
        self.heading("Impact matrix")
        table = self.out.table("matrix")
        if not len(table):
            self.section_absent("This run placed no scenarios on the impact matrix.")
            return
        has_residual = "residual_likelihood_band" in table.columns
        self.text(
            "Each scenario is placed by its likelihood (the chance of at least one event in "
            "a year) and its severity; each cell has the colour of the board's risk appetite "
            "for it: accept, monitor or treat. A cell shows how many scenarios it holds "
            "(large) and their numbers in the key below."
        )
        self.image(
            charts.matrix_chart(table), "Impact matrix heat maps, inherent and after the plan"
        )

        def tally(col: str) -> str:
            counts = table[col].value_counts()
            return ", ".join(f"{counts.get(a, 0)} to {a}" for a in ("treat", "monitor", "accept"))

        words = f"Inherent: {tally('appetite')}."
        if has_residual:
            words += f" After the plan: {tally('residual_appetite')}."
        self.text(words)
        cols = [
            Col("#", num=True),
            Col("Scenario"),
            Col("Likelihood"),
            Col("Severity"),
            Col("Appetite"),
        ]
        if has_residual:
            cols += [Col("After the plan"), Col("Appetite after")]
        rows = []
        for i, r in enumerate(table.itertuples(index=False), start=1):
            row = [
                str(i),
                str(r.title),
                str(r.likelihood_band),
                str(r.severity_band),
                str(r.appetite),
            ]
            if has_residual:
                row += [
                    f"{r.residual_likelihood_band} / {r.residual_severity_band}",
                    str(r.residual_appetite),
                ]
            rows.append(row)
        self.table(cols, rows, cls="bp-small")

    def top_scenarios(self) -> None:
        self.heading("Top scenarios")
        summary = self.out.tables["summary"]
        stories = self.out.narratives.get("scenarios") or {}
        scenarios = summary[summary["scenario"] != "portfolio"].sort_values("mean", ascending=False)
        ids = list(stories) or list(scenarios["scenario"].head(_TOP))
        self.text(
            f"The scenarios with the largest expected annual loss; the {len(ids)} largest "
            "are described below, each with its figures and what they rest on."
        )
        self.image(
            charts.contributors_chart(summary, self.residual, self.titles, currency=self.cur),
            "Expected annual loss of the largest scenarios",
        )
        by_id = summary.set_index("scenario")
        after = self.residual.set_index("scenario") if self.residual is not None else None
        info = self.out.table("scenarios")
        info = info.set_index("scenario") if len(info) else None
        cols = [
            Col("Expected annual loss", num=True),
            Col("1 in 10 years", num=True),
            Col("1 in 100 years", num=True),
            Col("TVaR 99%", num=True),
            Col("Chance of a loss in a year", num=True),
        ]
        if after is not None:
            cols.append(Col("Expected loss after the plan", num=True))
        for sid in ids:
            title = self.titles.get(sid, sid)
            self.heading(title, 2)
            if info is not None and sid in info.index:
                self.markdown(
                    f"_{md(str(info.loc[sid, 'category']).capitalize())} risk; owner: "
                    f"{md(info.loc[sid, 'owner'])}_"
                )
            if sid in by_id.index:
                r = by_id.loc[sid]
                row = [
                    self.amount(r["mean"]),
                    self.amount(r["p90"]),
                    self.amount(r["p99"]),
                    self.amount(r["tvar99"]),
                    format_probability(r["p_any"]),
                ]
                if after is not None:
                    row.append(
                        self.amount(after.loc[sid, "mean"]) if sid in after.index else MISSING
                    )
                self.table(cols, [row], cls="bp-metrics")
            story = paragraphs(stories.get(sid))
            if story and story[0].startswith(title):
                story = story[1:]  # the title line the heading already shows
            if story:
                self.markdown("\n\n".join(prose(p) for p in story))

    def stress(self) -> None:
        self.heading("Stress tests")
        table = self.out.table("stress")
        if not len(table):
            self.section_absent("This run applied no stress sets.")
            return
        self.text(
            "The portfolio under each stress set: the same scenarios with the set's shocks "
            "to frequencies and severities, simulated with the same seed."
        )
        cols = [
            Col("Stress set"),
            Col("What it assumes"),
            Col("Expected annual loss, stressed", num=True),
            Col("1 in 100 years, base", num=True),
            Col("1 in 100 years, stressed", num=True),
            Col("Stressed over base", num=True),
            Col("TVaR 99%, stressed", num=True),
        ]
        rows = [
            [
                str(r.stress_set),
                str(r.description),
                self.amount(r.mean_stressed),
                self.amount(r.p99_base),
                self.amount(r.p99_stressed),
                format_ratio(r.p99_ratio),
                self.amount(r.tvar99_stressed),
            ]
            for r in table.itertuples(index=False)
        ]
        self.table(cols, rows, cls="bp-small")
        self.image(
            charts.stress_chart(table, currency=self.cur),
            "1-in-100-year loss, base and stressed, by stress set",
        )

    def graph(self) -> None:
        self.heading("Dependency graph findings")
        findings = [f for f in self.out.findings if f]
        spof = self.out.table("single_points_of_failure")
        graph_file = (self.meta.get("parameters") or {}).get("graph_file")
        if not findings and not len(spof):
            self.section_absent(
                "The dependency graph shows no single point of failure above the threshold."
                if graph_file
                else "This run had no dependency graph."
            )
            return
        if findings:
            self.markdown("\n".join(f"- {md(f)}" for f in findings))
        if len(spof):
            self.heading("Single points of failure", 2)
            has_name = "name" in spof.columns
            cols = (
                [Col("Node")]
                + ([Col("Name")] if has_name else [])
                + [
                    Col("Kind"),
                    Col("Revenue lost in a 30-day outage", num=True),
                    Col("Share of the year's revenue", num=True),
                ]
            )
            rows = [
                [str(r["node"])]
                + ([str(r["name"])] if has_name else [])
                + [str(r["kind"]), self.amount(r["lost_revenue"]), format_probability(r["share"])]
                for _, r in spof.iterrows()
            ]
            self.table(cols, rows)

    def plan(self) -> None:
        self.heading("Mitigation plan")
        options = self.out.table("mitigations")
        plan = self.out.plan
        if plan:
            names = list(plan.get("names") or plan.get("ids") or [])
            budget = plan.get("budget_per_year")
            chosen = (
                f"The plan chosen within a budget of {self.amount(budget)} a year"
                if plan.get("objective") == "mean" and budget
                else "The plan"
            )
            self.text(f"{chosen} has {len(names)} measures:")
            self.markdown("\n".join(f"- {md(name)}" for name in names))
            self.text(
                f"It costs {self.amount(plan.get('one_off_cost'))} once and "
                f"{self.amount(plan.get('annual_cost'))} a year. It lowers the expected annual "
                f"loss from {self.amount(plan.get('inherent_mean'))} to "
                f"{self.amount(plan.get('residual_mean'))} and the 1-in-100-year loss from "
                f"{self.amount(plan.get('inherent_p99'))} to "
                f"{self.amount(plan.get('residual_p99'))}.",
            )
        else:
            self.section_absent("This run has no mitigation plan.")
        if len(options):
            self.heading("Options", 2)
            cols = [
                Col("Option (scenarios it treats)"),
                Col("One-off cost", num=True),
                Col("Annual cost", num=True),
                Col("Expected loss reduction", num=True),
                Col("1-in-100 reduction", num=True),
                Col("ROSI", num=True),
                Col("NPV", num=True),
                Col("Payback (years)", num=True),
                Col("In plan"),
            ]
            rows = [
                [
                    (str(r.name), str(r.scenarios)),
                    self.amount(r.one_off_cost),
                    self.amount(r.annual_cost),
                    self.amount(r.eal_reduction),
                    self.amount(r.p99_reduction),
                    format_ratio(r.rosi),
                    self.amount(r.npv),
                    format_years(r.payback_years),
                    "yes" if bool(r.in_plan) else "no",
                ]
                for r in options.itertuples(index=False)
            ]
            self.table(cols, rows, cls="bp-small")
            self.text(
                "Reductions are in the annual loss, each option on its own. ROSI, the return "
                "on security investment, is the reduction in expected annual loss less the "
                "annual cost, over the annual cost. NPV discounts the yearly reduction less "
                "running costs over the evaluation horizon, less the one-off costs. Payback "
                "is the one-off cost over the yearly net benefit; never when there is none."
            )
        frontier = self.out.table("frontier")
        if len(frontier) > 1:
            self.heading("Cost and benefit of the best plans", 2)
            self.image(
                charts.frontier_chart(frontier, plan, currency=self.cur),
                "Best expected annual loss for each annual budget",
            )

    def assumptions(self) -> None:
        self.heading("Appendix: assumptions")
        table = self.out.table("assumptions")
        if not len(table):
            self.section_absent("The scenario cards record no assumptions.")
            return
        self.text("The assumptions recorded on the scenario cards, with their sources.")
        cols = [
            Col("Scenario"),
            Col("Assumption"),
            Col("What is assumed"),
            Col("Why"),
            Col("Source"),
        ]
        rows = [
            [str(r.scenario), str(r.name), str(r.text), cell_text(r.rationale), cell_text(r.source)]
            for r in table.itertuples(index=False)
        ]
        self.table(cols, rows, cls="bp-small bp-prose")

    def calibration(self) -> None:
        self.heading("Appendix: calibration")
        table = self.out.table("calibration")
        if not len(table):
            self.section_absent("This run recorded no calibration.")
            return
        if (table["years"].fillna(0) == 0).all():
            self.text("No incident data was used: the frequencies are those of the cards.")
        else:
            self.text("Event frequencies on the cards, and after calibration on the incident log.")
        cols = [
            Col("Scenario"),
            Col("Events a year, card", num=True),
            Col("Events a year, calibrated", num=True),
            Col("Incidents", num=True),
            Col("Years of data", num=True),
        ]
        rows = [
            [
                self.titles.get(r.scenario, str(r.scenario)),
                format_amount(r.card_events_per_year),
                format_amount(r.calibrated_events_per_year),
                format_count(r.incidents),
                format_count(r.years),
            ]
            for r in table.itertuples(index=False)
        ]
        self.table(cols, rows, cls="bp-small")

    def provenance(self) -> None:
        self.heading("Appendix: provenance")
        if self.manifest is None:
            self.text("No run manifest was given: these are the metadata the run recorded.")
            record: Mapping[str, Any] = self.meta
        else:
            self.text(
                "The run's manifest: its parameters, seed, the hashes of its input data, "
                "the package versions, the source revision and when it ran."
            )
            record = self.manifest
        rows = [[key, value] for key, value in flatten(record)]
        self.table([Col("Item"), Col("Value")], rows, cls="bp-small bp-record")


def board_pack_notebook(
    outputs: RunOutputs, *, manifest: Mapping[str, Any] | None = None
) -> NotebookNode:
    """The board pack as a notebook of markdown cells and display outputs, no code.

    Parameters
    ----------
    outputs
        A scenario run's outputs (:func:`riskbench.runs.scenario_run` or
        :meth:`RunOutputs.load <riskbench.runs.RunOutputs.load>`).
    manifest
        The run's manifest, shown in the provenance appendix; the run's ``meta``
        when ``None``.

    Returns
    -------
    nbformat.NotebookNode
        A valid nbformat 4 notebook; the cover, then one section per entry of
        :data:`SECTIONS`. Code cells have no source: they only carry the outputs.

    Raises
    ------
    ValidationError
        When the outputs lack the summary or curve tables, the portfolio's row, the
        as-of date or the currency.
    """
    _check(outputs)
    pack = _Pack(outputs, manifest)
    pack.cover()
    pack.executive()
    pack.exceedance()
    pack.matrix()
    pack.top_scenarios()
    pack.stress()
    pack.graph()
    pack.plan()
    pack.assumptions()
    pack.calibration()
    pack.provenance()
    organisation = outputs.meta.get("organisation") or outputs.meta.get("org") or ""
    nb: NotebookNode = pack.nbf.v4.new_notebook(
        cells=pack.cells,
        metadata={
            "title": f"{organisation} {REPORT_TITLE}".strip(),
            "riskbench": {"kind": "board-pack", "as_of": str(outputs.meta.get("as_of"))},
        },
    )
    pack.nbf.validate(nb)
    return nb
