"""How the board pack writes numbers: one rule per kind of number, used everywhere.

- Amounts: 3 significant figures with thousands separators, ``EUR 44,600,000``; the
  headline figures to the unit (``exact=True``), ``EUR 44,618,719``, so that a reader
  can trace them to the run's stored outputs.
- Probabilities (fractions) as percentages: one decimal from 1% up, two significant
  figures below, ``17.6%``, ``5%``, ``0.05%``.
- Ratios (ROSI, stressed over base) with 2 decimals, ``1.44``.
- Counts with thousands separators, ``20,000``; payback periods in years, ``1.9``.

A missing or not-a-number value is written as an en dash in every helper, so that an
empty cell never reads as zero.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "MISSING",
    "format_amount",
    "format_count",
    "format_probability",
    "format_ratio",
    "format_years",
]

#: What a missing value (None, NaN) is written as.
MISSING = "–"


def _number(x: Any) -> float | None:
    """``x`` as a float, or None when it is missing or not a number."""
    if x is None or isinstance(x, bool):
        return None
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def format_amount(x: Any, currency: str = "", *, exact: bool = False) -> str:
    """An amount of money (or any quantity) to 3 significant figures, with separators.

    Parameters
    ----------
    x
        The amount, in currency units.
    currency
        Code written before the amount ("EUR"); empty for none.
    exact
        Round to the unit instead of to 3 significant figures (the headline figures).

    Examples
    --------
    >>> format_amount(44_618_719.3, "EUR"), format_amount(44_618_719.3, "EUR", exact=True)
    ('EUR 44,600,000', 'EUR 44,618,719')
    >>> format_amount(999_999, "USD"), format_amount(-1234, "GBP"), format_amount(0.15)
    ('USD 1,000,000', '-GBP 1,230', '0.15')
    >>> format_amount(None, "EUR"), format_amount(float("inf"), "EUR")
    ('–', 'EUR ∞')
    """
    value = _number(x)
    if value is None:
        return MISSING
    prefix = f"{currency} " if currency else ""
    sign = "-" if value < 0 else ""
    size = abs(value)
    if math.isinf(size):
        return f"{sign}{prefix}∞"
    if exact:
        text = f"{size:,.0f}"
    else:
        rounded = float(f"{size:.3g}")  # 999,999 becomes 1,000,000, not 999,999
        if rounded >= 100:
            text = f"{rounded:,.0f}"
        else:
            text = np.format_float_positional(rounded, trim="-")
    if text == "0":
        sign = ""
    return f"{sign}{prefix}{text}"


def format_probability(p: Any) -> str:
    """A probability (a fraction) as a percentage.

    One decimal from 1% up (a trailing ``.0`` dropped), two significant figures
    below 1%, so that small tail probabilities keep their size.

    Examples
    --------
    >>> format_probability(0.17625), format_probability(0.2), format_probability(0.05)
    ('17.6%', '20%', '5%')
    >>> format_probability(0.0005), format_probability(0.000123), format_probability(0)
    ('0.05%', '0.012%', '0%')
    >>> format_probability(1.0), format_probability(float("nan"))
    ('100%', '–')
    """
    value = _number(p)
    if value is None:
        return MISSING
    percent = 100 * value
    if percent == 0:
        return "0%"
    if abs(percent) >= 0.995:  # rounds to 1.0% or more
        text = f"{percent:.1f}".removesuffix(".0")
    else:
        text = np.format_float_positional(float(f"{percent:.2g}"), trim="-")
    return f"{text}%"


def format_ratio(x: Any) -> str:
    """A ratio (return on security investment, stressed over base) with 2 decimals.

    Examples
    --------
    >>> format_ratio(1.441620), format_ratio(-0.2551), format_ratio(7.918), format_ratio(None)
    ('1.44', '-0.26', '7.92', '–')
    >>> format_ratio(float("inf"))
    '∞'

    """
    value = _number(x)
    if value is None:
        return MISSING
    if math.isinf(value):  # a free option that helps: an unbounded return
        return "∞" if value > 0 else "-∞"
    text = f"{value:,.2f}"
    return "0.00" if text == "-0.00" else text


def format_count(n: Any) -> str:
    """A whole number with thousands separators.

    Examples
    --------
    >>> format_count(20000), format_count(7), format_count(None)
    ('20,000', '7', '–')
    """
    value = _number(n)
    if value is None:
        return MISSING
    return f"{round(value):,d}"


def format_years(y: Any) -> str:
    """A payback period in years: one decimal below 100 years; "never" when the
    option never pays back (a missing value).

    Examples
    --------
    >>> format_years(1.883568), format_years(0), format_years(276.9), format_years(None)
    ('1.9', '0.0', '277', 'never')
    """
    value = _number(y)
    if value is None or math.isinf(value):
        return "never"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"
