"""Charts of simulation results: loss exceedance curve, tornado and loss histogram.

Needs the ``plots`` extra (matplotlib), imported only when a chart is drawn, so
``import riskbench`` stays light. Each chart draws on ``ax`` when given and on a new
pyplot figure otherwise, and returns the axes. Money on every axis is written by
:func:`format_money` ("EUR 1.2M").

Examples
--------
>>> format_money(1_234_567, "EUR"), format_money(850_000, "USD")
('EUR 1.23M', 'USD 850k')
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from riskbench.errors import Issue, MissingDependencyError, ValidationError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from riskbench.results import ExactResult, SimulationResult
    from riskbench.sensitivity import Tornado

__all__ = ["exceedance_chart", "format_money", "histogram_chart", "tornado_chart"]

_UNITS = ((1e12, "tn"), (1e9, "bn"), (1e6, "M"), (1e3, "k"))
_PORTFOLIO_COLOUR = "black"
_TOLERANCE_COLOUR = "tab:red"
_LOW_COLOUR = "tab:blue"
_HIGH_COLOUR = "tab:orange"


def format_money(x: float, currency: str = "") -> str:
    """``x`` to 3 significant figures with a unit: k, M, bn or tn.

    Parameters
    ----------
    x
        An amount in currency units.
    currency
        Code written before the amount ("EUR"); empty for none.

    Examples
    --------
    >>> format_money(1_200_000, "EUR"), format_money(12_500_000_000, "EUR")
    ('EUR 1.2M', 'EUR 12.5bn')
    >>> format_money(999_999, "USD"), format_money(-42.0, "GBP"), format_money(0, "")
    ('USD 1M', '-GBP 42', '0')
    """
    prefix = f"{currency} " if currency else ""
    value = float(x)
    if not math.isfinite(value):
        return f"{prefix}{value}"
    sign = "-" if value < 0 else ""
    # Round first, so that 999,999 becomes 1M rather than "1e+03k".
    rounded = float(f"{abs(value):.3g}")
    number, unit = rounded, ""
    for factor, suffix in _UNITS:
        if rounded >= factor:
            number, unit = rounded / factor, suffix
            break
    text = f"{number:,.0f}" if number >= 1000 else f"{number:.3g}"
    return f"{sign}{prefix}{text}{unit}"


def _format_probability(p: float) -> str:
    """A probability as a percentage: 0.01 -> "1%", 1e-4 -> "0.01%"."""
    return f"{100 * p:.3g}%"


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependencyError("matplotlib", "plots", purpose="Charts") from None
    return plt


def _ticker() -> Any:
    try:
        import matplotlib.ticker as ticker
    except ImportError:
        raise MissingDependencyError("matplotlib", "plots", purpose="Charts") from None
    return ticker


def _scenario_colours() -> Iterator[Any]:
    """Colours for scenario curves: tab10 without its red, which marks the tolerance."""
    try:
        from matplotlib import colormaps
    except ImportError:
        raise MissingDependencyError("matplotlib", "plots", purpose="Charts") from None
    tab10 = colormaps["tab10"]
    palette = [tab10(i) for i in range(10) if i != 3]
    return itertools.cycle(palette)


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    _, new = _pyplot().subplots(figsize=figsize, layout="constrained")
    return new  # type: ignore[no-any-return]


def _money_axis(axis: Any, currency: str) -> None:
    ticker = _ticker()
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: format_money(v, currency)))
    axis.set_minor_formatter(ticker.NullFormatter())


def _tolerance_points(tolerance: Any) -> tuple[np.ndarray, np.ndarray]:
    """(losses, probabilities) of a risk-tolerance curve, checked."""
    if isinstance(tolerance, pd.DataFrame):
        missing = [c for c in ("loss", "probability") if c not in tolerance.columns]
        if missing:
            raise ValidationError(
                [
                    Issue(
                        "tolerance",
                        f"a DataFrame needs columns 'loss' and 'probability'; missing "
                        f"{missing}, has {list(tolerance.columns)}",
                    )
                ]
            )
        pts = tolerance[["loss", "probability"]].to_numpy(dtype=float)
    else:
        try:
            pts = np.asarray(tolerance, dtype=float)
        except (TypeError, ValueError):
            pts = np.empty((0, 0))
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 1:
        raise ValidationError(
            [
                Issue(
                    "tolerance",
                    "must be a DataFrame with columns loss, probability or a list of "
                    f"(loss, probability) points, got {tolerance!r}",
                )
            ]
        )
    loss, prob = pts[:, 0], pts[:, 1]
    issues = []
    if not np.all(np.isfinite(loss) & (loss > 0)):
        issues.append(Issue("tolerance.loss", f"must be positive (log axis), got {loss.tolist()}"))
    if not np.all((prob > 0) & (prob <= 1)):
        issues.append(
            Issue(
                "tolerance.probability",
                f"must be fractions in (0, 1] (0.01, not 1%), got {prob.tolist()}",
            )
        )
    if issues:
        raise ValidationError(issues)
    order = np.argsort(loss)
    return loss[order], prob[order]


def exceedance_chart(
    result: SimulationResult | ExactResult,
    *,
    scenarios: Sequence[str] | Literal["all"] | None = None,
    ax: Axes | None = None,
    tolerance: pd.DataFrame | Sequence[tuple[float, float]] | None = None,
) -> Axes:
    """The loss exceedance curve: P(annual loss > x) against x, both axes logarithmic.

    Parameters
    ----------
    result
        A simulation (or exact) result.
    scenarios
        Scenario ids whose own curves are drawn beside the portfolio's (bold);
        ``"all"`` for every scenario, ``None`` for the portfolio only.
    ax
        Matplotlib axes to draw on; a new figure when ``None``.
    tolerance
        A risk-tolerance curve to compare against: a DataFrame with columns
        ``loss`` and ``probability`` or a list of ``(loss, probability)`` points.

    Returns
    -------
    matplotlib.axes.Axes
        One line for the portfolio, one per scenario, one for the tolerance.

    Examples
    --------
    >>> import riskbench as rb
    >>> res = rb.simulate(rb.load_portfolio("examples/register.yaml"), trials=2_000, seed=1)
    >>> ax = exceedance_chart(res, scenarios=["plant-fire"], tolerance=[(1e6, 0.5), (5e7, 0.01)])
    >>> len(ax.get_lines()), ax.get_xscale(), ax.get_yscale()
    (3, 'log', 'log')
    """
    ids: list[str]
    if scenarios is None:
        ids = []
    elif isinstance(scenarios, str):
        if scenarios != "all":
            raise ValidationError(
                [Issue("scenarios", f"must be a list of scenario ids or 'all', got {scenarios!r}")]
            )
        ids = list(result.ids)
    else:
        ids = list(scenarios)
    curves = {sid: result.exceedance_curve(sid) for sid in ids}  # checks the ids first
    points = None if tolerance is None else _tolerance_points(tolerance)
    ax = _axes(ax, (8.0, 5.0))
    currency = result.currency

    portfolio = result.exceedance_curve()
    # The log axis cannot show a loss of 0; P(L > 0) is the curve's first positive point.
    shown = portfolio[(portfolio["loss"] > 0) & (portfolio["probability"] > 0)]
    ax.plot(shown["loss"], shown["probability"], color=_PORTFOLIO_COLOUR, lw=2.5, label="portfolio")
    for sid, curve, colour in zip(curves, curves.values(), _scenario_colours(), strict=False):
        part = curve[(curve["loss"] > 0) & (curve["probability"] > 0)]
        ax.plot(part["loss"], part["probability"], color=colour, lw=1.0, alpha=0.85, label=sid)
    if points is not None:
        ax.plot(
            points[0],
            points[1],
            color=_TOLERANCE_COLOUR,
            ls="--",
            lw=1.8,
            marker="o",
            ms=4,
            label="risk tolerance",
        )

    ax.set_xscale("log")
    ax.set_yscale("log")
    trials = getattr(result, "trials", None)
    floor = 1.0 / trials if trials else float(shown["probability"].min() if len(shown) else 1e-6)
    ax.set_ylim(floor, 1.0)
    _money_axis(ax.xaxis, currency)
    ticker = _ticker()
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda p, _pos: _format_probability(p)))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel(f"annual loss ({currency}, {result.basis})")
    ax.set_ylabel("probability of exceeding in a year")
    ax.set_title(f"Loss exceedance curve: {result.portfolio.name}")
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)
    if ids or points is not None:
        ax.legend(fontsize="small", loc="lower left")
    return ax


def tornado_chart(
    tornado: Tornado, *, ax: Axes | None = None, top: int = 15, currency: str = ""
) -> Axes:
    """Horizontal bars of the largest swings in a :class:`~riskbench.Tornado`.

    Each (scenario, input) row gets two bars from its base value of the metric:
    one to the value with the input in its low band, one to the value with it in
    its high band. The largest swing is at the top; a vertical line marks the
    portfolio's base value.

    Parameters
    ----------
    tornado
        From :func:`riskbench.tornado` or ``result.tornado()``.
    ax
        Matplotlib axes to draw on; a new figure when ``None``.
    top
        How many rows to show (the largest swings).
    currency
        Code written on the money axis ("EUR"); a tornado does not carry it.

    Returns
    -------
    matplotlib.axes.Axes
        With ``2 * min(top, rows)`` bars.
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValidationError([Issue("top", f"must be an integer >= 1, got {top!r}")])
    metric = tornado.metric
    table = tornado.table.head(top)
    n = len(table)
    ax = _axes(ax, (8.0, 1.2 + 0.38 * max(n, 1)))
    y = np.arange(n)[::-1]  # row 0, the largest swing, at the top
    base = table[f"{metric}_base"].to_numpy(dtype=float)
    low = table[f"{metric}_low"].to_numpy(dtype=float)
    high = table[f"{metric}_high"].to_numpy(dtype=float)
    q_low, q_high = tornado.quantiles
    ax.barh(
        y,
        low - base,
        left=base,
        color=_LOW_COLOUR,
        height=0.7,
        label=f"input in its low band (below q{q_low:g})",
    )
    ax.barh(
        y,
        high - base,
        left=base,
        color=_HIGH_COLOUR,
        height=0.7,
        label=f"input in its high band (above q{q_high:g})",
    )
    overall = tornado.base.get(metric)
    if overall is not None:
        ax.axvline(overall, color="black", lw=1.0, ls=":")
    labels = [f"{row.scenario}: {row.input}" for row in table.itertuples()]
    ax.set_yticks(y, labels)
    currency = currency or tornado.currency
    _money_axis(ax.xaxis, currency)
    ax.set_xlabel(f"portfolio {metric}" + (f" ({currency})" if currency else ""))
    ax.set_title(f"Tornado: swing in portfolio {metric} ({tornado.years:,} years)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    return ax


def histogram_chart(
    result: SimulationResult | ExactResult, ax: Axes | None = None, *, bins: int = 60
) -> Axes:
    """The distribution of annual portfolio loss on log-spaced bins.

    Bar heights are the share of years in each bin, so they add up to P(loss > 0);
    years with no loss cannot sit on a log axis and are reported in the title.
    Vertical lines mark the mean, VaR 99% and TVaR 99%.

    Examples
    --------
    >>> import riskbench as rb
    >>> res = rb.simulate(rb.load_portfolio("examples/register.yaml"), trials=2_000, seed=1)
    >>> ax = histogram_chart(res, bins=30)
    >>> len(ax.patches), ax.get_xscale()
    (30, 'log')
    """
    from riskbench.results import SimulationResult

    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValidationError([Issue("bins", f"must be an integer >= 1, got {bins!r}")])
    if isinstance(result, SimulationResult):
        values = np.asarray(result.annual_loss, dtype=float)
        weights = np.full(values.size, 1.0 / values.size)
    else:
        pmf = result.pmf()
        values = pmf["loss"].to_numpy(dtype=float)
        weights = pmf["probability"].to_numpy(dtype=float)
    positive = values > 0
    ax = _axes(ax, (8.0, 4.5))
    currency = result.currency
    if positive.any():
        lo, hi = values[positive].min(), values[positive].max()
        edges = (
            np.geomspace(lo, hi * (1 + 1e-9), bins + 1) if hi > lo else np.array([lo / 2, lo * 2])
        )
        ax.hist(values[positive], bins=edges.tolist(), weights=weights[positive], color="tab:gray")
    for label, x, style in (
        ("mean", float(values @ weights), "-"),
        ("VaR 99%", result.var(0.99), "--"),
        ("TVaR 99%", result.tvar(0.99), ":"),
    ):
        if x > 0:
            ax.axvline(
                x, color="black", ls=style, lw=1.2, label=f"{label} {format_money(x, currency)}"
            )
    ax.set_xscale("log")
    _money_axis(ax.xaxis, currency)
    ticker = _ticker()
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda p, _pos: _format_probability(p)))
    share_zero = float(weights[~positive].sum())
    ax.set_xlabel(f"annual loss ({currency}, {result.basis})")
    ax.set_ylabel("share of years")
    no_loss = _format_probability(share_zero)
    ax.set_title(f"Annual loss: {result.portfolio.name} ({no_loss} of years with no loss)")
    ax.legend(fontsize="small")
    return ax
