"""Grounding: every figure in a narrative must come from the data.

:func:`extract_figures` finds the figures a text states: amounts ("EUR 4.2 million",
"$500k", "2-6 million euros"), percentages ("8%", "0.5 percent"), odds ("1 in 20
years", "once every 20 years") and plain numbers ("12 days", "2,500 staff", "99th").
:func:`check_grounding` matches each against a list of :class:`Fact` and reports the
ones no fact supports.

A written figure stands for every value it could be a rounding of: "4.2 million"
for anything within half a unit of its last non-zero digit (0.05 million), "850,000"
for anything within 5,000 and "853,000" within 500. Each kind of figure matches its
own kinds of fact:

=========  ======================================================
figure     matches facts of kind
=========  ======================================================
money      money
percent    probability (8% is 0.08)
one_in     probability or rate ("1 in 20" is 0.05; N within its tolerance)
number     number, rate or money (a bare "4.2 million" may be an amount)
=========  ======================================================

Examples
--------
>>> facts = [Fact("severity.p95", 4.213e6, "money"), Fact("frequency.p", 0.05, "probability")]
>>> report = check_grounding(
...     "About 1 in 20 years an event costs EUR 4.2 million, sometimes EUR 9.1 million.", facts
... )
>>> [(f.text, f.value) for f in report.figures]
[('1 in 20 years', 0.05), ('EUR 4.2 million', 4200000.0), ('EUR 9.1 million', 9100000.0)]
>>> report.ok
False
>>> report.describe()
'1 figure is not in the data: EUR 9.1 million'
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, get_args

from riskbench.errors import Issue, ValidationError

__all__ = [
    "CURRENCY_CODES",
    "Fact",
    "FactKind",
    "Figure",
    "FigureKind",
    "GroundingReport",
    "check_grounding",
    "extract_figures",
]

FactKind = Literal["money", "probability", "rate", "number"]
FigureKind = Literal["money", "percent", "one_in", "number"]

#: Currency codes recognised before or after an amount (with the symbols € $ £ ¥ and
#: the words euro(s), dollar(s), pound(s), franc(s)).
CURRENCY_CODES = (
    "EUR", "USD", "GBP", "CHF", "JPY", "CNY", "AUD", "CAD", "SEK", "NOK", "DKK", "PLN",
    "CZK", "HUF", "INR", "SGD", "HKD", "NZD", "ZAR", "BRL", "MXN",
)  # fmt: skip

# Float noise allowance on top of a figure's tolerance, relative to the values compared.
_REL_EPS = 1e-9

_CODES = "|".join(CURRENCY_CODES)
_SYMBOLS = "€$£¥"
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"

_QUANTITY = re.compile(
    rf"""
    (?P<neg>[-−])?
    (?P<pre>(?:{_CODES})\s?|(?:US|A|C|NZ|HK|S)?\$\s?|[{_SYMBOLS}]\s?)?
    (?P<num>{_NUM})
    (?:
        (?P<ord>st|nd|rd|th)(?![A-Za-z])
      | (?P<pct>\s?(?:%|(?i:percent|per\ cent)(?![A-Za-z])))
      | (?P<scale>
            \s?(?:(?i:thousand|million|billion|trillion)|mn|bn)(?![A-Za-z])
          | [kKmMB](?![A-Za-z])
        )?
        (?P<post>
            \s?(?:(?:{_CODES})(?![A-Za-z])|[{_SYMBOLS}]|(?i:euros?|dollars?|pounds?|francs?)(?![A-Za-z]))
        )?
    )
    """,
    re.VERBOSE,
)

_ONE_IN = re.compile(
    rf"""
    (?<![\w.,])(?:(?i:one)|1)[\s-]+(?i:in)[\s-]+(?:(?i:every)\s+)?(?P<n>{_NUM})
        (?:[\s-]+(?i:years?))?(?![\w%])
    | (?<![\w])(?i:once)[\s-]+(?i:every|in)[\s-]+(?P<n2>{_NUM})[\s-]+(?i:years?)(?![\w])
    """,
    re.VERBOSE,
)

# A unit word right after a plain number belongs to the figure as written: "12 days".
_UNIT = re.compile(
    r"[\s-](?i:(?:second|minute|hour|day|week|month|year|event|incident)s?|times)(?![A-Za-z])"
)
_CONNECTOR = re.compile(r"\s*(?:[-–—]|to|and)\s*")
_BETWEEN = re.compile(r"(?i:\bbetween)\s*$")

_SCALES = {
    "thousand": 10**3, "k": 10**3,
    "million": 10**6, "mn": 10**6, "m": 10**6,
    "billion": 10**9, "bn": 10**9, "b": 10**9,
    "trillion": 10**12,
}  # fmt: skip


@dataclass(frozen=True)
class Fact:
    """A number a narrative may state.

    Parameters
    ----------
    name
        Where it comes from: ``"severity.p95"``, ``"result.p99"``.
    value
        Money in currency units; a probability as a fraction (0 to 1); a rate in events
        a year; a number is anything else (days, counts, years).
    kind
        One of ``"money"``, ``"probability"``, ``"rate"``, ``"number"``.
    label
        What it is, for prompts: ``"95th percentile of one event's loss"``.

    Examples
    --------
    >>> Fact("severity.p95", 4.213e6, "money", "95th percentile of one event's loss").value
    4213000.0
    """

    name: str
    value: float
    kind: FactKind
    label: str = ""

    def __post_init__(self) -> None:
        where = f"fact {self.name!r}"
        issues = []
        if not isinstance(self.name, str) or not self.name:
            issues.append(Issue("name", f"must be a non-empty string, got {self.name!r}"))
        kinds = get_args(FactKind)
        if self.kind not in kinds:
            issues.append(Issue("kind", f"{where}: got {self.kind!r}; allowed: {', '.join(kinds)}"))
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            issues.append(Issue("value", f"{where}: must be a finite number, got {v!r}"))
        elif self.kind == "probability" and not 0 <= v <= 1:
            issues.append(
                Issue("value", f"{where}: a probability must be between 0 and 1, got {v!r}")
            )
        elif self.kind == "rate" and v < 0:
            issues.append(Issue("value", f"{where}: a rate must be 0 or more, got {v!r}"))
        if not isinstance(self.label, str):
            issues.append(Issue("label", f"{where}: must be a string, got {self.label!r}"))
        if issues:
            raise ValidationError(issues)
        object.__setattr__(self, "value", float(v))


@dataclass(frozen=True)
class Figure:
    """A figure as a text states it.

    Attributes
    ----------
    text
        As written: ``"EUR 4.2 million"``, ``"8%"``, ``"1 in 20 years"``. The ends of a
        range carry what the range shares: ``"EUR 2-6 million"`` gives
        ``"EUR 2 million"`` and ``"EUR 6 million"``.
    value
        In the units of :class:`Fact`: 4.2e6; 0.08 for "8%"; 0.05 for "1 in 20".
    kind
        ``"money"``, ``"percent"``, ``"one_in"`` or ``"number"``.
    tolerance
        Half a unit of the last non-zero written digit, in value units; for a
        ``one_in`` figure it applies to N ("1 in 20": N in [15, 25]).
    start, end
        The span in the text (for a range end, the end's own characters).
    """

    text: str
    value: float
    kind: FigureKind
    tolerance: float
    start: int
    end: int

    @property
    def interval(self) -> tuple[float, float]:
        """The values the figure stands for, ``(low, high)``.

        Examples
        --------
        >>> [f.interval for f in extract_figures("8% or 1 in 20")]
        [(0.075, 0.085), (0.04, 0.06666666666666667)]
        """
        if self.kind != "one_in":
            return (self.value - self.tolerance, self.value + self.tolerance)
        n = 1 / self.value
        high = 1 / (n - self.tolerance) if n > self.tolerance else math.inf
        return (1 / (n + self.tolerance), high)

    def matches(self, fact: Fact) -> bool:
        """Whether ``fact`` supports this figure (its kind fits and its value is in range).

        Examples
        --------
        >>> fig = extract_figures("EUR 4.2 million")[0]
        >>> fig.matches(Fact("a", 4.213e6, "money")), fig.matches(Fact("b", 4.3e6, "money"))
        (True, False)
        """
        return fact.kind in _MATCHES[self.kind] and _distance(self, fact) <= 1


_MATCHES: dict[str, tuple[str, ...]] = {
    "money": ("money",),
    "percent": ("probability",),
    "one_in": ("probability", "rate"),
    "number": ("number", "rate", "money"),
}


def _distance(fig: Figure, fact: Fact) -> float:
    """How far ``fact`` is from ``fig`` in units of the figure's tolerance (<= 1 matches)."""
    if fig.kind == "one_in":
        if fact.value <= 0:
            return math.inf
        a, b = 1 / fig.value, 1 / fact.value
    else:
        a, b = fig.value, fact.value
    slack = fig.tolerance + _REL_EPS * max(abs(a), abs(b))
    if slack == 0:
        return 0.0 if a == b else math.inf
    return abs(a - b) / slack


@dataclass(frozen=True)
class GroundingReport:
    """What :func:`check_grounding` found.

    Attributes
    ----------
    figures
        Every figure in the text, in order.
    ungrounded
        The figures no fact supports.
    matched
        ``(figure, fact name)`` for each supported figure (the closest fact).
    """

    figures: tuple[Figure, ...]
    ungrounded: tuple[Figure, ...]
    matched: tuple[tuple[Figure, str], ...]

    @property
    def ok(self) -> bool:
        """True when every figure is supported by a fact."""
        return not self.ungrounded

    def describe(self) -> str:
        """A one-line summary, listing the unsupported figures as written.

        Examples
        --------
        >>> check_grounding("EUR 9.1 million, 35% and 4%", [Fact("p", 0.04, "probability")]
        ...                 ).describe()
        '2 figures are not in the data: EUR 9.1 million, 35%'
        >>> check_grounding("4%", [Fact("p", 0.04, "probability")]).describe()
        'the one figure is in the data'
        """
        n = len(self.ungrounded)
        if n:
            listed = ", ".join(f.text for f in self.ungrounded)
            verb = "figure is" if n == 1 else "figures are"
            return f"{n} {verb} not in the data: {listed}"
        total = len(self.figures)
        if total == 0:
            return "there are no figures in the text"
        if total == 1:
            return "the one figure is in the data"
        return f"all {total} figures are in the data"


def _tolerance(num: str) -> Decimal:
    """Half the place value of the last non-zero digit of ``num`` (as written)."""
    digits = num.replace(",", "")
    whole, _, frac = digits.partition(".")
    if frac.strip("0"):
        place = -len(frac.rstrip("0"))
    elif whole.strip("0"):
        place = len(whole) - len(whole.rstrip("0"))
    else:  # zero: the last written digit
        place = -len(frac)
    return Decimal(5).scaleb(place - 1)


@dataclass
class _Quantity:
    """One number as the quantity regex found it, before ranges share their parts."""

    start: int
    core: int  # where the currency or the number starts (after any minus sign)
    end: int
    negative: bool
    pre: str
    num: str
    ord: str
    pct: str
    scale: str
    post: str

    def text(self, source: str) -> str:
        return source[self.start : self.end]


def _quantities(masked: str) -> list[_Quantity]:
    out = []
    for m in _QUANTITY.finditer(masked):
        core = m.start("pre") if m.group("pre") else m.start("num")
        num_at = m.start("num")
        negative = False
        start = core
        if m.group("neg"):
            before = masked[: m.start("neg")]
            if not before or before[-1].isspace() or before[-1] in "([":
                negative = True
                start = m.start("neg")
        pre = m.group("pre") or ""
        if pre[:1].isalpha() and core and (masked[core - 1].isalnum() or masked[core - 1] == "_"):
            # "XEUR 5", "AUS$5": the code is part of a word; the number stands alone.
            pre, core, start, negative = "", num_at, num_at, False
        prev = masked[:core]
        if not pre and prev:
            if prev[-1].isalnum() or prev[-1] in "_.":
                continue  # "NIS2", "v1.2.3"
            if prev[-1] in "-–/" and len(prev) > 1 and prev[-2].isalpha() and not negative:
                continue  # "erp-2", "COVID-19"
        rest = masked[m.end() :]
        if rest and (rest[0].isalnum() or rest[0] == "_"):
            continue  # "2FA", "4G"
        if rest[:1] in (".", ",") and rest[1:2].isdigit() and m.end() == m.end("num"):
            continue  # "1.2.3": a version, not a figure
        out.append(
            _Quantity(
                start=start,
                core=core,
                end=m.end(),
                negative=negative,
                pre=pre,
                num=masked[num_at : m.end("num")],
                ord=m.group("ord") or "",
                pct=m.group("pct") or "",
                scale=m.group("scale") or "",
                post=m.group("post") or "",
            )
        )
    return out


def _figure(
    q: _Quantity, text: str, *, extra_pre: str = "", pct: str = "", scale: str = "", post: str = ""
) -> Figure:
    """The figure ``q`` states, with the parts a range end carries over from the other."""
    pct = q.pct or pct
    scale_text = q.scale or scale
    post_text = q.post or post
    pre_text = q.pre or extra_pre
    factor = Decimal(_SCALES[scale_text.strip().lower()]) if scale_text else Decimal(1)
    if pct:
        factor /= 100
    value = Decimal(q.num.replace(",", "")) * factor
    if q.negative:
        value = -value
    tolerance = _tolerance(q.num) * factor
    kind: FigureKind
    if pct:
        kind = "percent"
    elif pre_text or post_text:
        kind = "money"
    else:
        kind = "number"
    written = q.text(text)
    end = q.end
    if kind == "number" and not q.ord and (unit := _UNIT.match(text, q.end)):
        end = unit.end()
        written = text[q.start : end]
    if extra_pre:
        sign = "-" if q.negative else ""
        written = sign + extra_pre + text[q.core : q.end]
    written += pct if not q.pct else ""
    written += scale if not q.scale else ""
    written += post if not q.post else ""
    return Figure(
        text=written,
        value=float(value),
        kind=kind,
        tolerance=float(tolerance),
        start=q.start,
        end=end,
    )


def _range_figures(low: _Quantity, high: _Quantity, text: str) -> tuple[Figure, Figure]:
    """The two ends of a range, each carrying what the other end states for both."""
    low_bare = not (low.pre or low.post or low.pct or low.ord or low.scale)
    high_plain = not (high.pre or high.post or high.pct or high.ord)
    low_kw: dict[str, str] = {}
    high_kw: dict[str, str] = {}
    if high.pct and low_bare:
        low_kw["pct"] = high.pct
    # "2-6 million" is 2 million to 6 million; "500,000-6 million" is not, nor is
    # "EUR 1 and EUR 1.5 million", whose second end is an amount of its own.
    ascending = Decimal(low.num.replace(",", "")) <= Decimal(high.num.replace(",", ""))
    if high.scale and not (low.scale or low.pct or low.ord or high.pre) and ascending:
        low_kw["scale"] = high.scale
    if high.post and not (low.pre or low.post or low.pct or low.ord):
        low_kw["post"] = high.post
    if low.pre and high_plain and (not low.scale or high.scale):
        pre = low.pre if low.pre.strip() in _SYMBOLS else low.pre.strip() + " "
        high_kw["extra_pre"] = pre
    return _figure(low, text, **low_kw), _figure(high, text, **high_kw)


def _one_in_figures(text: str) -> tuple[list[Figure], str]:
    """The "1 in N" figures, and the text with them blanked out."""
    figures = []
    masked = list(text)
    for m in _ONE_IN.finditer(text):
        group = "n" if m.group("n") is not None else "n2"
        num = m.group(group)
        n = Decimal(num.replace(",", ""))
        if n == 0:
            continue
        figures.append(
            Figure(
                text=m.group(),
                value=float(1 / n),
                kind="one_in",
                tolerance=float(_tolerance(num)),
                start=m.start(),
                end=m.end(),
            )
        )
        masked[m.start() : m.end()] = " " * (m.end() - m.start())
    return figures, "".join(masked)


def extract_figures(text: str) -> list[Figure]:
    """Every figure ``text`` states, in order of appearance.

    Not figures: digits glued to letters ("NIS2", "2FA") or joined to a word by a
    hyphen before them ("erp-2", "COVID-19"); version numbers ("1.2.3"); spelled-out
    numbers, except in "one in N". A number followed by a hyphenated word is a figure
    ("a 72-hour outage": 72). An ordinal is its number ("99th": 99). In a range
    ("EUR 2-6 million", "between 2 and 6%", "EUR 2 to 6 million") the currency, the
    scale and the percent sign apply to both ends.

    Parameters
    ----------
    text
        The narrative.

    Returns
    -------
    list of Figure

    Examples
    --------
    >>> [(f.text, f.value, f.kind) for f in extract_figures("EUR 2-6 million over 12 days")]
    [('EUR 2 million', 2000000.0, 'money'), ('EUR 6 million', 6000000.0, 'money'), \
('12 days', 12.0, 'number')]
    >>> [(f.text, f.value) for f in extract_figures("NIS2 fines of 2% in 2024; erp-2 down")]
    [('2%', 0.02), ('2024', 2024.0)]
    """
    if not isinstance(text, str):
        raise ValidationError([Issue("text", f"must be a string, got {type(text).__name__}")])
    figures, masked = _one_in_figures(text)
    qs = _quantities(masked)
    i = 0
    while i < len(qs):
        q = qs[i]
        if i + 1 < len(qs):
            nxt = qs[i + 1]
            between = masked[q.end : nxt.core]
            if _CONNECTOR.fullmatch(between) and (
                between.strip() != "and" or _BETWEEN.search(masked[: q.start])
            ):
                if nxt.negative and between.strip() in "-–—":
                    nxt.negative = False
                    nxt.start = nxt.core
                figures.extend(_range_figures(q, nxt, text))
                i += 2
                continue
        figures.append(_figure(q, text))
        i += 1
    figures.sort(key=lambda f: f.start)
    return figures


def check_grounding(text: str, facts: Iterable[Fact]) -> GroundingReport:
    """Check every figure in ``text`` against ``facts``.

    A figure is grounded when a fact of a matching kind lies within its tolerance
    (see the module docstring); it is matched to the closest such fact.

    Parameters
    ----------
    text
        The narrative.
    facts
        The numbers it may state.

    Returns
    -------
    GroundingReport

    Examples
    --------
    >>> facts = [Fact("freq", 0.05, "probability"), Fact("loss", 852_613, "money")]
    >>> r = check_grounding("1 in 20 years, EUR 850,000 or EUR 860,000", facts)
    >>> [(f.text, name) for f, name in r.matched], [f.text for f in r.ungrounded]
    ([('1 in 20 years', 'freq'), ('EUR 850,000', 'loss')], ['EUR 860,000'])
    """
    fact_list = list(facts)
    bad = [
        Issue(f"facts[{i}]", f"must be a Fact, got {type(f).__name__}")
        for i, f in enumerate(fact_list)
        if not isinstance(f, Fact)
    ]
    if bad:
        raise ValidationError(bad)
    figures = extract_figures(text)
    ungrounded: list[Figure] = []
    matched: list[tuple[Figure, str]] = []
    for fig in figures:
        best: tuple[float, str] | None = None
        for fact in fact_list:
            if fact.kind not in _MATCHES[fig.kind]:
                continue
            d = _distance(fig, fact)
            if d <= 1 and (best is None or d < best[0]):
                best = (d, fact.name)
        if best is None:
            ungrounded.append(fig)
        else:
            matched.append((fig, best[1]))
    return GroundingReport(tuple(figures), tuple(ungrounded), tuple(matched))
