"""The board pack's charts, drawn from a run's stored tables (nothing is re-simulated).

Each function returns PNG bytes. Figures are made with :class:`matplotlib.figure.Figure`
and the Agg canvas, never through pyplot, so no figure outlives its call and no global
pyplot state changes. Amounts on the axes are written by
:func:`~riskbench.boardpack.formatting.format_amount`, probabilities by
:func:`~riskbench.boardpack.formatting.format_probability`.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskbench.boardpack.formatting import format_amount, format_probability
from riskbench.errors import MissingDependencyError
from riskbench.matrix import DEFAULT_LIKELIHOOD_LABELS, DEFAULT_SEVERITY_LABELS, ImpactMatrix

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "APPETITE_COLOURS",
    "contributors_chart",
    "exceedance_chart",
    "frontier_chart",
    "matrix_chart",
    "stress_chart",
]

DPI = 150
#: Cell colours of the impact matrix by appetite: the dashboard's hues, lightened so
#: that the labels on them stay readable in print.
APPETITE_COLOURS = {"accept": "#a5d6a7", "monitor": "#ffe082", "treat": "#ef9a9a"}
_EMPTY_COLOUR = "#eeeeee"
_INHERENT = "#263238"
_RESIDUAL = "#1e88e5"
_TOLERANCE = "#d32f2f"
_STRESSED = "#b71c1c"
_BASE = "#90a4ae"


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError("matplotlib", "reports", purpose="Board pack charts") from None
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _png(fig: Figure) -> bytes:
    """The figure as an opaque RGB PNG: no alpha channel, which a PDF would carry as a
    second (soft mask) image, and no metadata, so the same outputs give the same bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    FigureCanvasAgg(fig)
    rgba = io.BytesIO()
    fig.savefig(rgba, format="png", dpi=DPI, metadata={"Software": None})
    rgba.seek(0)
    out = io.BytesIO()
    with Image.open(rgba) as image:
        image.convert("RGB").save(out, format="PNG", optimize=True, dpi=(DPI, DPI))
    return out.getvalue()


def _amount_axis(axis: Any) -> None:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: format_amount(v)))
    axis.set_minor_formatter(NullFormatter())


def _label(text: str, width: int = 38) -> str:
    return textwrap.shorten(str(text), width=width, placeholder="…")


def exceedance_chart(
    curve: pd.DataFrame, tolerance: pd.DataFrame | None, *, currency: str, trials: int | None
) -> bytes:
    """The portfolio's loss exceedance curves (inherent, and residual when stored)
    against the risk tolerance; both axes logarithmic."""
    fig = _figure(7.5, 4.3)
    ax = fig.add_subplot()
    portfolio = curve[curve["scenario"] == "portfolio"]
    styles = {
        "inherent": (_INHERENT, "-", "inherent"),
        "residual": (_RESIDUAL, "-", "after the plan"),
    }
    floor = 1.0 / trials if trials else 1e-4
    for basis, (colour, ls, label) in styles.items():
        part = portfolio[portfolio["basis"] == basis].sort_values("loss")
        # A log axis cannot show a loss of 0 or a probability of 0.
        part = part[(part["loss"] > 0) & (part["probability"] > 0)]
        if len(part):
            ax.plot(part["loss"], part["probability"], color=colour, ls=ls, lw=2.2, label=label)
            floor = min(floor, float(part["probability"].min()))
    if tolerance is not None and len(tolerance):
        tol = tolerance.sort_values("loss")
        ax.plot(
            tol["loss"],
            tol["probability"],
            color=_TOLERANCE,
            ls="--",
            lw=1.6,
            marker="o",
            ms=5,
            label="risk tolerance",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(floor, 1.0)
    _amount_axis(ax.xaxis)
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda p, _pos: format_probability(p)))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(f"annual loss ({currency})")
    ax.set_ylabel("chance of exceeding in a year")
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)
    ax.legend(loc="lower left", fontsize="small")
    return _png(fig)


def _bands(values: pd.Series, defaults: Sequence[str], order_by: pd.Series) -> list[str]:
    """The band labels in order, low to high: the default ones when the table uses
    them, else the labels it holds ordered by the measure behind them."""
    seen = [v for v in values.dropna().unique()]
    if set(seen) <= set(defaults):
        return list(defaults)
    lows = order_by.groupby(values).min()
    return [str(b) for b in lows.sort_values().index]


def _matrix_panel(
    ax: Axes, table: pd.DataFrame, prefix: str, lik: list[str], sev: list[str], title: str
) -> None:
    from matplotlib.patches import Rectangle

    default = ImpactMatrix.default(scale=1.0)
    uses_default = lik == list(DEFAULT_LIKELIHOOD_LABELS) and sev == list(DEFAULT_SEVERITY_LABELS)
    numbers = {sid: i + 1 for i, sid in enumerate(table["scenario"])}
    for i, lband in enumerate(lik):
        for j, sband in enumerate(sev):
            here = table[
                (table[f"{prefix}likelihood_band"] == lband)
                & (table[f"{prefix}severity_band"] == sband)
            ]
            if len(here):
                appetite = str(here[f"{prefix}appetite"].iloc[0])
            elif uses_default:
                appetite = default.appetite_of(lband, sband)
            else:
                appetite = ""
            colour = APPETITE_COLOURS.get(appetite, _EMPTY_COLOUR)
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor=colour, edgecolor="white", lw=2))
            if len(here):
                ids = ", ".join(str(numbers[s]) for s in here["scenario"])
                ax.text(
                    j + 0.5,
                    i + 0.62,
                    str(len(here)),
                    ha="center",
                    va="center",
                    fontsize=13,
                    fontweight="bold",
                    color="#212121",
                )
                ax.text(
                    j + 0.5,
                    i + 0.25,
                    textwrap.fill(ids, 12),
                    ha="center",
                    va="center",
                    fontsize=6.5,
                    color="#212121",
                    linespacing=1.1,
                )
    ax.set_xlim(0, len(sev))
    ax.set_ylim(0, len(lik))
    ax.set_xticks(np.arange(len(sev)) + 0.5, [textwrap.fill(s, 9) for s in sev], fontsize=7.5)
    ax.set_yticks(np.arange(len(lik)) + 0.5, [textwrap.fill(s, 9) for s in lik], fontsize=7.5)
    ax.tick_params(length=0)
    ax.set_xlabel("severity")
    ax.set_ylabel("likelihood")
    ax.set_title(title, fontsize=11)
    for spine in ax.spines.values():
        spine.set_visible(False)


def matrix_chart(matrix: pd.DataFrame) -> bytes:
    """Heat maps of the impact matrix: inherent, and residual when the table has it.

    Each cell in its appetite colour, with the number of scenarios in it (large) and
    their numbers (the 1-based row of ``matrix``, as in the key table beside it).
    """
    has_residual = "residual_likelihood_band" in matrix.columns
    lik = _bands(matrix["likelihood_band"], DEFAULT_LIKELIHOOD_LABELS, matrix["p_any"])
    sev = _bands(matrix["severity_band"], DEFAULT_SEVERITY_LABELS, matrix["severity"])
    panels = [("", "Inherent")] + ([("residual_", "After the plan")] if has_residual else [])
    fig = _figure(4.4 * len(panels) + 0.4, 4.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (prefix, title) in zip(axes, panels, strict=True):
        _matrix_panel(ax, matrix, prefix, lik, sev, title)
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=c, label=a) for a, c in APPETITE_COLOURS.items()]
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=3,
        fontsize="small",
        title="appetite",
        title_fontsize="small",
        frameon=False,
    )
    return _png(fig)


def contributors_chart(
    summary: pd.DataFrame,
    residual: pd.DataFrame | None,
    titles: dict[str, str],
    *,
    currency: str,
    top: int = 10,
) -> bytes:
    """Horizontal bars of the largest expected annual losses by scenario (inherent,
    and after the plan when stored)."""
    rows = summary[summary["scenario"] != "portfolio"].sort_values("mean", ascending=False)
    rows = rows.head(top).iloc[::-1]  # largest at the top
    fig = _figure(7.5, 0.42 * len(rows) + 1.2)
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    labels = [textwrap.fill(_label(titles.get(s, s), 60), 34) for s in rows["scenario"]]
    if residual is not None and len(residual):
        after = residual.set_index("scenario")["mean"].reindex(rows["scenario"]).to_numpy()
        ax.barh(y + 0.2, rows["mean"], height=0.4, color=_INHERENT, label="inherent")
        ax.barh(y - 0.2, after, height=0.4, color=_RESIDUAL, label="after the plan")
        ax.legend(loc="lower right", fontsize="small")
    else:
        ax.barh(y, rows["mean"], height=0.6, color=_INHERENT)
    ax.set_yticks(y, labels, fontsize=7.5)
    _amount_axis(ax.xaxis)
    ax.tick_params(axis="x", labelsize=7.5)
    ax.set_xlabel(f"expected annual loss ({currency})")
    ax.grid(True, axis="x", alpha=0.3)
    return _png(fig)


def stress_chart(stress: pd.DataFrame, *, currency: str) -> bytes:
    """The 1-in-100-year loss of the portfolio, base against stressed, per stress set."""
    rows = stress.iloc[::-1]
    fig = _figure(7.5, 0.6 * len(rows) + 1.3)
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    base = ax.barh(y + 0.18, rows["p99_base"], height=0.36, color=_BASE, label="base")
    stressed = ax.barh(
        y - 0.18, rows["p99_stressed"], height=0.36, color=_STRESSED, label="stressed"
    )
    for bars, values in ((base, rows["p99_base"]), (stressed, rows["p99_stressed"])):
        ax.bar_label(bars, labels=[format_amount(v) for v in values], padding=3, fontsize=7)
    ax.set_yticks(y, [_label(s, 30) for s in rows["stress_set"]], fontsize=8)
    _amount_axis(ax.xaxis)
    ax.tick_params(axis="x", labelsize=7.5)
    ax.set_xlim(0, float(max(rows["p99_stressed"].max(), rows["p99_base"].max())) * 1.22)
    ax.set_xlabel(f"1-in-100-year annual loss ({currency})")
    fig.legend(loc="outside lower center", ncols=2, fontsize="small", frameon=False)
    ax.grid(True, axis="x", alpha=0.3)
    return _png(fig)


def frontier_chart(frontier: pd.DataFrame, plan: dict[str, Any], *, currency: str) -> bytes:
    """The best achievable expected annual loss for each annual budget, with the
    budget and the chosen plan marked."""
    rows = frontier.sort_values("annual_cost")
    fig = _figure(7.5, 3.8)
    ax = fig.add_subplot()
    ax.step(rows["annual_cost"], rows["objective"], where="post", color=_INHERENT, lw=1.5)
    ax.plot(
        rows["annual_cost"],
        rows["objective"],
        "o",
        color=_INHERENT,
        ms=4,
        label="best plan for the cost",
    )
    ids = set(plan.get("ids") or [])
    chosen = rows[rows["mitigations"].map(lambda m: set(m or []) == ids)] if ids else rows[:0]
    if len(chosen):
        ax.plot(
            chosen["annual_cost"],
            chosen["objective"],
            "*",
            color=_RESIDUAL,
            ms=15,
            label="the plan",
            zorder=3,
        )
    budget = plan.get("budget_per_year")
    if budget:
        ax.axvline(float(budget), color=_TOLERANCE, ls="--", lw=1.2, label="annual budget")
    _amount_axis(ax.xaxis)
    _amount_axis(ax.yaxis)
    ax.tick_params(labelsize=7.5)
    ax.set_xlabel(f"annual cost of the mitigations ({currency})")
    ax.set_ylabel(f"expected annual loss ({currency})")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    return _png(fig)
