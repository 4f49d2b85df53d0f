"""Numbers and words for a board audience: amounts, chances, rates, counts, lists.

Every function is pure and deterministic. The numeric ones round to what a reader can
take in (two or three significant digits) and write the result so that
:func:`riskbench.ai.grounding.extract_figures` reads it back to a value within its
tolerance of the input: a narrative written with these functions always passes the
grounding check.

Examples
--------
>>> money(4_213_000)
'EUR 4.2 million'
>>> money_range(500_000, 15e6, "USD")
'between USD 500,000 and USD 15 million'
>>> percent(0.083), odds(0.05), rate(3.2)
('8.3%', 'about 1 in 20 years', 'about 3.2 times a year')
>>> count(1, "event"), count(2, "recorded incident"), days(2.5)
('one event', '2 recorded incidents', '2.5 days')
>>> sentence(f"{article('ERP')} ERP outage lasts {days(12)}")
'An ERP outage lasts 12 days.'
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from riskbench.errors import Issue, ValidationError

__all__ = [
    "article",
    "count",
    "days",
    "join",
    "money",
    "money_range",
    "odds",
    "ordinal",
    "percent",
    "plural",
    "rate",
    "sentence",
]

_CURRENCY = re.compile(r"[A-Z]{3}")

# Nouns whose plural the suffix rules get wrong; uncountable ones stay as they are.
_IRREGULAR = {
    "person": "people",
    "child": "children",
    "criterion": "criteria",
    "analysis": "analyses",
    "crisis": "crises",
}
_UNCOUNTABLE = frozenset(
    {"staff", "personnel", "equipment", "data", "software", "hardware", "information",
     "series", "downtime", "damage"}
)  # fmt: skip

# Vowel-initial words read with a consonant ("a user", "a one-off", "a euro") and
# consonant-initial ones read with a vowel ("an hour").
_A_PREFIXES = ("uni", "use", "usa", "usu", "uti", "ure", "eu", "ewe", "ubiq")
_AN_EXCEPTIONS = ("unin", "unim", "unid")
_A_WORDS = frozenset({"one", "once", "EUR"})  # "a one-off", "a EUR 2 million loss"
_AN_PREFIXES = ("hour", "honest", "honor", "honour", "heir")
# Letters whose names start with a vowel sound: an acronym read letter by letter
# takes "an" when it starts with one of them ("an ERP", "an SLA", "a KPI").
_VOWEL_LETTERS = frozenset("AEFHILMNORSX")


def _finite(field: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError([Issue(field, f"must be a finite number, got {value!r}")])
    return float(value)


def _non_negative(field: str, value: float) -> float:
    x = _finite(field, value)
    if x < 0:
        raise ValidationError([Issue(field, f"must be 0 or more, got {value!r}")])
    return x


def _dec(x: float) -> Decimal:
    # repr gives the shortest decimal that reads back as x: no binary noise in the digits.
    return Decimal(repr(float(x)))


def _round_sig(d: Decimal, sig: int) -> Decimal:
    """``d`` rounded to ``sig`` significant digits (half to even)."""
    if d == 0:
        return Decimal(0)
    return d.quantize(Decimal(1).scaleb(d.adjusted() - sig + 1), rounding=ROUND_HALF_EVEN)


def _round_sig_int(d: Decimal, sig: int) -> Decimal:
    """``d`` rounded to ``sig`` significant digits, but never finer than whole units."""
    if d.adjusted() < sig - 1:
        return d.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return _round_sig(d, sig)


def _plain(d: Decimal) -> str:
    """``d`` in positional notation with thousands separators, no trailing zeros."""
    text = format(d, ",f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def money(value: float, currency: str = "EUR") -> str:
    """An amount as a board reads it: the currency code, then a rounded figure.

    Below a million: three significant digits, whole units, thousands separators.
    From a million: two significant digits in millions ("4.2 million", "24 million"),
    three from 100 million ("243 million"); billions likewise. Rounding comes first,
    so an amount that rounds up to a million is written in millions.

    Parameters
    ----------
    value
        The amount in currency units; any finite number (a negative one gets a
        leading minus: "-EUR 200,000").
    currency
        A three-letter currency code such as ``"EUR"``.

    Examples
    --------
    >>> [money(x) for x in (0, 640, 12_480, 852_613, 999_999)]
    ['EUR 0', 'EUR 640', 'EUR 12,500', 'EUR 853,000', 'EUR 1 million']
    >>> [money(x, "USD") for x in (4_000_000, 24_400_000, 243e6, 1.26e9, -2e5)]
    ['USD 4 million', 'USD 24 million', 'USD 243 million', 'USD 1.3 billion', '-USD 200,000']
    """
    x = _finite("value", value)
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise ValidationError(
            [Issue("currency", f"must be a three-letter code such as 'EUR', got {currency!r}")]
        )
    d = abs(_dec(x))
    if d < 100:
        r = d.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    elif d < 10**6:
        r = _round_sig(d, 3)
    elif d < 10**8:
        r = _round_sig(d, 2)
    elif d < 10**9:
        r = _round_sig(d, 3)
    elif d < 10**11:
        r = _round_sig(d, 2)
    else:
        r = _round_sig(d, 3)
    if r >= 10**9:
        text = f"{_plain(r.scaleb(-9))} billion"
    elif r >= 10**6:
        text = f"{_plain(r.scaleb(-6))} million"
    else:
        text = _plain(r)
    sign = "-" if x < 0 and r != 0 else ""
    return f"{sign}{currency} {text}"


def money_range(low: float, high: float, currency: str = "EUR") -> str:
    """A range of amounts with both ends written out in full.

    Writing "EUR 2 million and EUR 6 million" rather than "EUR 2-6 million" leaves
    nothing for a reader (or the grounding check) to carry over from one end to the
    other. When both ends round to the same text the range collapses to "about ...".

    Examples
    --------
    >>> money_range(500_000, 15e6)
    'between EUR 500,000 and EUR 15 million'
    >>> money_range(2e6, 6e6)
    'between EUR 2 million and EUR 6 million'
    >>> money_range(4.21e6, 4.24e6)
    'about EUR 4.2 million'
    """
    lo = _finite("low", low)
    hi = _finite("high", high)
    if lo > hi:
        raise ValidationError([Issue("low", f"must not exceed high ({high!r}), got {low!r}")])
    lo_text, hi_text = money(lo, currency), money(hi, currency)
    if lo_text == hi_text:
        return f"about {lo_text}"
    return f"between {lo_text} and {hi_text}"


def percent(p: float) -> str:
    """A fraction as a percentage: two significant digits below 10%, whole numbers above.

    Examples
    --------
    >>> [percent(p) for p in (0.08, 0.083, 0.005, 0.0004, 0.35, 0.999, 1.0, 0.0)]
    ['8%', '8.3%', '0.5%', '0.04%', '35%', '100%', '100%', '0%']
    """
    x = _dec(_finite("p", p)) * 100
    r = _round_sig(x, 2) if abs(x) < 10 else x.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return f"{_plain(r)}%"


def _one_in(d: Decimal) -> str:
    """The N of "1 in N", rounded to two significant digits but never below whole units."""
    return _plain(_round_sig_int(d, 2))


def odds(p: float) -> str:
    """An annual probability as odds: "about 1 in 20 years".

    From 50% up, odds read worse than a percentage, so ``p >= 0.5`` gives
    ``percent(p) + " of years"``; ``p == 0`` gives ``"never"``.

    Examples
    --------
    >>> [odds(p) for p in (0.05, 0.013, 0.001, 0.3, 0.6, 0.0)]
    ['about 1 in 20 years', 'about 1 in 77 years', 'about 1 in 1,000 years', \
'about 1 in 3 years', '60% of years', 'never']
    """
    x = _finite("p", p)
    if not 0 <= x <= 1:
        raise ValidationError([Issue("p", f"must be a probability between 0 and 1, got {p!r}")])
    if x == 0:
        return "never"
    if x >= 0.5:
        return f"{percent(x)} of years"
    return f"about 1 in {_one_in(1 / _dec(x))} years"


def rate(r: float) -> str:
    """Expected events a year in words.

    ``r <= 0.5``: "about once every N years"; ``0.95 <= r <= 1.05``: "about once a
    year"; otherwise "about X times a year" with X to two significant digits (so
    0.7 gives "about 0.7 times a year"); ``r == 0`` gives ``"never"``.

    Examples
    --------
    >>> [rate(r) for r in (0.2, 0.05, 0.7, 1.0, 3.0, 12.4, 0.0)]
    ['about once every 5 years', 'about once every 20 years', 'about 0.7 times a year', \
'about once a year', 'about 3 times a year', 'about 12 times a year', 'never']
    """
    x = _non_negative("r", r)
    if x == 0:
        return "never"
    if x <= 0.5:
        return f"about once every {_one_in(1 / _dec(x))} years"
    if 0.95 <= x <= 1.05:
        return "about once a year"
    return f"about {_plain(_round_sig(_dec(x), 2))} times a year"


def ordinal(n: int) -> str:
    """An integer as an ordinal in digits: 1st, 2nd, 3rd, 11th, 22nd, 99th.

    Examples
    --------
    >>> [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 95, 99, 101, 111)]
    ['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '95th', '99th', '101st', '111th']
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValidationError([Issue("n", f"must be an integer, got {n!r}")])
    teen = n % 100 in (11, 12, 13)
    suffix = "th" if teen else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n:,}{suffix}"


def plural(n: float, noun: str) -> str:
    """The noun in the form that goes with ``n``: singular only for exactly 1.

    The last word is pluralised by the usual English rules: consonant + y -> ies;
    s, x, z, ch, sh -> es; otherwise + s. All-capital words take a plain "s"
    ("KPIs"); a few irregular ("people") and uncountable ("staff", "data") nouns are
    known.

    Examples
    --------
    >>> [plural(2, w) for w in ("event", "day", "supplier", "loss", "recovery", "person", "KPI")]
    ['events', 'days', 'suppliers', 'losses', 'recoveries', 'people', 'KPIs']
    >>> plural(1, "event"), plural(2, "recorded incident"), plural(3, "staff")
    ('event', 'recorded incidents', 'staff')
    """
    if not isinstance(noun, str) or not noun.strip():
        raise ValidationError([Issue("noun", f"must be a non-empty string, got {noun!r}")])
    if _finite("n", n) == 1:
        return noun
    head, _, word = noun.rpartition(" ")
    return f"{head} {_plural_word(word)}" if head else _plural_word(word)


_plural = plural  # count() has a parameter of that name


def _plural_word(word: str) -> str:
    lower = word.lower()
    if lower in _UNCOUNTABLE:
        return word
    if lower in _IRREGULAR:
        out = _IRREGULAR[lower]
        return out.capitalize() if word[:1].isupper() else out
    if word.isupper() and len(word) > 1:
        return f"{word}s"
    if lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        return f"{word[:-1]}ies"
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return f"{word}es"
    return f"{word}s"


def _count_text(n: float) -> str:
    d = _dec(n)
    if d == d.to_integral_value() or d >= 10:
        return _plain(d.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    return _plain(_round_sig(d, 2))


def count(n: float, noun: str, plural: str | None = None) -> str:
    """A count with its noun: "no events", "one event", "2 events", "1.5 events".

    Whole numbers are written exactly ("2,500 staff"); others to two significant
    digits below 10 and to whole units above. The singular goes with a written "1"
    only, so 1.02 gives "one event".

    Parameters
    ----------
    n
        The count, 0 or more (an expected count may be fractional).
    noun
        The singular noun (may be several words: "recorded incident").
    plural
        The plural, when the rules in :func:`plural` get it wrong.

    Examples
    --------
    >>> [count(n, "event") for n in (0, 1, 2, 1.5, 0.3, 12.7, 2500)]
    ['no events', 'one event', '2 events', '1.5 events', '0.3 events', '13 events', \
'2,500 events']
    >>> count(3, "process", "processes"), count(2, "person")
    ('3 processes', '2 people')
    """
    x = _non_negative("n", n)
    many = plural if plural is not None else _plural(2, noun)
    if x == 0:
        return f"no {many}"
    text = _count_text(x)
    if text == "1":
        _plural(1, noun)  # validates the noun
        return f"one {noun}"
    return f"{text} {many}"


def days(d: float) -> str:
    """A duration in days: "one day", "12 days", "2.5 days", "0 days".

    Examples
    --------
    >>> [days(d) for d in (0, 1, 2.5, 12, 30.4)]
    ['0 days', 'one day', '2.5 days', '12 days', '30 days']
    """
    x = _non_negative("d", d)
    return "0 days" if x == 0 else count(x, "day")


def join(items: Sequence[str], conj: str = "and") -> str:
    """Words joined as a list: "a", "a and b", "a, b and c" (no serial comma).

    Examples
    --------
    >>> join([]), join(["ERP"]), join(["ERP", "CRM"]), join(["ERP", "CRM", "MES"], "or")
    ('', 'ERP', 'ERP and CRM', 'ERP, CRM or MES')
    """
    words = list(items)
    bad = [w for w in words if not isinstance(w, str)]
    if bad:
        raise ValidationError([Issue("items", f"must all be strings, got {bad[0]!r}")])
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conj} {words[-1]}"


def article(word: str) -> str:
    """The indefinite article for ``word``: ``"a"`` or ``"an"`` (the article only).

    Common cases by sound, not spelling: vowels take "an" except "u" and "eu" read
    as "you" ("a user", "a unique", "a euro") and "one" ("a one-off"); a silent h
    takes "an" ("an hour", "an honest"); acronyms read letter by letter go by the
    sound of the first letter ("an ERP", "an SLA", "a KPI", "a UPS"), except "a EUR";
    a currency symbol reads as its name ("a €2 million"); numbers go by
    how they are spoken ("an 8%", "an 11-day", "an 18,000", "a 110").

    Examples
    --------
    >>> [article(w) for w in ("event", "outage", "hour", "user", "ERP", "SLA", "KPI", "8%")]
    ['an', 'an', 'an', 'a', 'an', 'an', 'a', 'an']
    """
    if not isinstance(word, str) or not word.strip():
        raise ValidationError([Issue("word", f"must be a non-empty string, got {word!r}")])
    stripped = word.strip().lstrip("\"'“‘(")
    if not stripped:
        return "a"
    token = stripped.split()[0]
    if token[0].isdigit():
        whole = re.sub(r"[^\d,].*", "", token).replace(",", "")  # the integer part
        if whole.startswith("8"):
            return "an"
        # 11 and 18 are read "eleven", "eighteen" (also 11,000 and 18 million).
        if whole.startswith(("11", "18")) and len(whole) % 3 == 2:
            return "an"
        return "a"
    letters = re.match(r"[A-Za-z]+", token)
    if letters is None:
        return "a"
    head = letters.group()
    if head in _A_WORDS or head.lower() in ("one", "once"):
        return "a"
    if len(head) > 1 and head.isupper():
        return "an" if head[0] in _VOWEL_LETTERS else "a"
    lower = head.lower()
    if lower.startswith(_AN_PREFIXES):
        return "an"
    if lower.startswith(_A_PREFIXES) and not lower.startswith(_AN_EXCEPTIONS):
        return "a"
    if len(head) == 1 and head.isupper():
        return "an" if head in _VOWEL_LETTERS else "a"
    return "an" if lower[0] in "aeiou" else "a"


def sentence(text: str) -> str:
    """Tidy ``text`` into a sentence: first letter capitalised, ending in a full stop.

    Text that already ends in ".", "!" or "?" (possibly inside closing quotes or
    brackets) keeps its ending; a trailing comma, colon or semicolon becomes a full
    stop. Leading and trailing whitespace goes; empty text stays empty.

    Examples
    --------
    >>> sentence("  an ERP outage stops production "), sentence("is it?"), sentence("8% of years")
    ('An ERP outage stops production.', 'Is it?', '8% of years.')
    """
    if not isinstance(text, str):
        raise ValidationError([Issue("text", f"must be a string, got {text!r}")])
    out = text.strip()
    if not out:
        return ""
    lead = re.match(r"[\"'“‘(\[]*", out)
    i = lead.end() if lead else 0
    if i < len(out) and out[i].isalpha():
        out = out[:i] + out[i].upper() + out[i + 1 :]
    if out[-1] in ",;:":
        out = out[:-1].rstrip()
    if not out.rstrip("\"'”’)]").endswith((".", "!", "?")):
        out += "."
    return out
