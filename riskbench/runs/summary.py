"""The executive summary of a run: the headline numbers in words, through the
narrative seam.

With no model configured (the default, and in tests) the offline template writes it
from the run's figures. With ``RISKBENCH_LLM`` set, the model drafts it from a fact
table of those figures; a draft citing any figure that is not a fact is sent back once,
then the template text is used, with a note saying why.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from riskbench.ai import humanize as hz
from riskbench.ai.grounding import Fact, GroundingReport, check_grounding
from riskbench.runs.outputs import RunOutputs

__all__ = ["ExecutiveSummary", "draft_executive_summary", "executive_summary", "summary_facts"]


@dataclass(frozen=True)
class ExecutiveSummary:
    """The summary's text, who wrote it (``template`` or ``llm:<model>``), notes on the
    way, and the check of its figures against :func:`summary_facts`."""

    text: str
    method: str
    notes: tuple[str, ...]
    grounding: GroundingReport


def summary_facts(outputs: RunOutputs) -> list[Fact]:
    """The figures an executive summary may state: the portfolio's mean, 1-in-10 and
    1-in-100 year losses, each scenario's mean, the tolerance breach, the stress sets'
    1-in-100 year losses, the plan's cost and residual figures, the counts and the date."""
    facts: list[Fact] = []
    summary = outputs.table("summary").set_index("scenario")
    port = summary.loc["portfolio"]
    for key, label in (
        ("mean", "expected annual loss"),
        ("p90", "1-in-10-year annual loss"),
        ("p99", "1-in-100-year annual loss"),
        ("tvar99", "average of the worst 1%"),
    ):
        facts.append(Fact(f"portfolio.{key}", float(port[key]), "money", f"portfolio {label}"))
    for sid, row in summary.drop(index="portfolio").iterrows():
        facts.append(
            Fact(f"{sid}.mean", float(row["mean"]), "money", f"{sid} expected annual loss")
        )
    facts.append(Fact("scenarios", float(len(summary) - 1), "number", "scenarios in the register"))
    breach = outputs.meta.get("tolerance_breach")
    if breach:
        facts.append(Fact("tolerance.breach_low", float(breach[0]), "money", "breach from"))
        facts.append(Fact("tolerance.breach_high", float(breach[1]), "money", "breach to"))
    for _, row in outputs.table("stress").iterrows():
        name = row["stress_set"]
        facts.append(
            Fact(
                f"stress.{name}.p99",
                float(row["p99_stressed"]),
                "money",
                f"1-in-100-year loss under {name}",
            )
        )
    plan = outputs.plan
    if plan.get("ids"):
        facts.append(
            Fact("plan.measures", float(len(plan["ids"])), "number", "measures in the plan")
        )
        for key in ("annual_cost", "one_off_cost", "residual_mean", "residual_p99"):
            facts.append(Fact(f"plan.{key}", float(plan[key]), "money", f"plan {key}"))
    as_of = dt.date.fromisoformat(str(outputs.meta["as_of"]))
    for part in ("year", "month", "day"):
        facts.append(Fact(f"as_of.{part}", float(getattr(as_of, part)), "number", "as-of date"))
    return facts


def executive_summary(outputs: RunOutputs) -> str:
    """The headline numbers in words, for the first page of the board pack.

    Written from the run's own figures (the offline narrative seam: every figure is
    one of the run's numbers, rounded the way a reader says it).
    """
    meta, plan = outputs.meta, outputs.plan
    cur = outputs.currency
    summary = outputs.table("summary").set_index("scenario")
    port = summary.loc["portfolio"]
    scen = summary.drop(index="portfolio").sort_values("mean", ascending=False)
    titles = outputs.table("scenarios").set_index("scenario")["title"]
    lines = [
        f"As of {meta['as_of']}, the {hz.count(len(scen), 'scenario')} in the risk "
        f"register of {meta['organisation']} are expected to cost "
        f"{hz.money(port['mean'], cur)} a year on average. In a bad year, one in ten, "
        f"losses reach {hz.money(port['p90'], cur)}; in a severe year, one in a hundred, "
        f"they reach {hz.money(port['p99'], cur)}.",
    ]
    top = list(scen.index[:3])
    if top:
        lines.append(
            "The largest contributors are "
            + hz.join([f"{titles[s]} ({hz.money(scen.loc[s, 'mean'], cur)} a year)" for s in top])
            + "."
        )
    tolerance = outputs.table("tolerance")
    breach = meta.get("tolerance_breach")
    if len(tolerance):
        lines.append(
            "The loss curve stays within the board's risk tolerance."
            if not breach
            else "The loss curve exceeds the board's risk tolerance for annual losses "
            f"from {hz.money(breach[0], cur)} to {hz.money(breach[1], cur)}."
        )
    stress = outputs.table("stress")
    if len(stress):
        worst = stress.sort_values("p99_stressed", ascending=False).iloc[0]
        lines.append(
            f'Under the harshest stress set, "{worst["stress_set"]}", the one-in-a-hundred '
            f"year loss would be {hz.money(worst['p99_stressed'], cur)}."
        )
    if plan.get("ids"):
        lines.append(
            f"The proposed mitigation plan ({hz.count(len(plan['ids']), 'measure')}, "
            f"{hz.money(plan['annual_cost'], cur)} a year) lowers the expected annual loss "
            f"to {hz.money(plan['residual_mean'], cur)} and the one-in-a-hundred year loss "
            f"to {hz.money(plan['residual_p99'], cur)}."
        )
    return "\n\n".join(lines)


_SYSTEM = """You are a chief risk officer writing the executive summary of a board risk
report: four or five short paragraphs of plain English for directors, headline numbers
first (expected annual loss, a bad year, a severe year), then the largest contributors,
the risk tolerance, the harshest stress and the proposed mitigation plan.
Grounding rule: every number you write must be one of the figures in the fact table,
written as it appears there (or a rounding of it). Do not invent any other number, year,
count or percentage. If a figure is not in the table, describe it in words instead."""


def draft_executive_summary(outputs: RunOutputs, *, llm: Any = None) -> ExecutiveSummary:
    """The executive summary through the narrative seam (see the module docstring).

    ``llm``: None uses ``RISKBENCH_LLM`` when set; False forces the template.
    """
    from riskbench.ai.llm import model_name, model_or_offline
    from riskbench.ai.narrate import grounded_draft

    facts = summary_facts(outputs)
    text = executive_summary(outputs)
    offline = ExecutiveSummary(text, "template", (), check_grounding(text, facts))
    model, note = (None, None) if llm is False else model_or_offline(llm)
    if model is None:
        return (
            offline
            if note is None
            else ExecutiveSummary(text, "template", (note,), offline.grounding)
        )
    table = "\n".join(f"- {f.label or f.name}: {f.value:,.6g} ({f.kind})" for f in facts)
    messages = [
        {"role": "system", "content": _SYSTEM},
        {
            "role": "user",
            "content": f"Organisation: {outputs.meta.get('organisation')}\n"
            f"Currency: {outputs.currency}\n\nFact table (the only figures you may use):\n"
            f"{table}\n\nA plain template version, for structure only:\n{text}\n\n"
            "Write the executive summary now, as plain text paragraphs.",
        },
    ]
    drafted, report, notes = grounded_draft(model, messages, facts, what="executive summary")
    if drafted is None or report is None:
        return ExecutiveSummary(text, "template", tuple(notes), offline.grounding)
    return ExecutiveSummary(drafted, f"llm:{model_name(model)}", tuple(notes), report)
