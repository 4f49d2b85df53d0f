"""riskbench.ai.humanize: numbers and words for a board audience, exact outputs."""

from __future__ import annotations

import math

import pytest

import riskbench as rb
from riskbench.ai import humanize as hz


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "EUR 0"),
        (0.4, "EUR 0"),
        (7.6, "EUR 8"),
        (640, "EUR 640"),
        (999.6, "EUR 1,000"),
        (12_480, "EUR 12,500"),
        (852_613, "EUR 853,000"),
        (999_999, "EUR 1 million"),
        (1_000_000, "EUR 1 million"),
        (4_000_000, "EUR 4 million"),
        (4_213_000, "EUR 4.2 million"),
        (24_400_000, "EUR 24 million"),
        (99_960_000, "EUR 100 million"),
        (243_000_000, "EUR 243 million"),
        (999_600_000, "EUR 1 billion"),
        (1.26e9, "EUR 1.3 billion"),
        (24.4e9, "EUR 24 billion"),
        (243e9, "EUR 243 billion"),
        (1.26e12, "EUR 1,260 billion"),
        (-200_000, "-EUR 200,000"),
        (-4_213_000, "-EUR 4.2 million"),
        (-0.3, "EUR 0"),
    ],
)
def test_money(value: float, expected: str) -> None:
    assert hz.money(value) == expected


def test_money_other_currency() -> None:
    assert hz.money(4_213_000, "USD") == "USD 4.2 million"
    assert hz.money(640, currency="GBP") == "GBP 640"


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (500_000, 15e6, "between EUR 500,000 and EUR 15 million"),
        (2e6, 6e6, "between EUR 2 million and EUR 6 million"),
        (0, 640, "between EUR 0 and EUR 640"),
        (4.21e6, 4.24e6, "about EUR 4.2 million"),
    ],
)
def test_money_range(low: float, high: float, expected: str) -> None:
    assert hz.money_range(low, high) == expected


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.0, "0%"),
        (0.0004, "0.04%"),
        (0.00043, "0.043%"),
        (0.005, "0.5%"),
        (0.07, "7%"),
        (0.08, "8%"),
        (0.083, "8.3%"),
        (0.0996, "10%"),
        (0.35, "35%"),
        (0.355, "36%"),
        (0.999, "100%"),
        (1.0, "100%"),
    ],
)
def test_percent(p: float, expected: str) -> None:
    assert hz.percent(p) == expected


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.0, "never"),
        (0.001, "about 1 in 1,000 years"),
        (0.0013, "about 1 in 770 years"),
        (0.013, "about 1 in 77 years"),
        (0.05, "about 1 in 20 years"),
        (0.1, "about 1 in 10 years"),
        (0.3, "about 1 in 3 years"),
        (0.49, "about 1 in 2 years"),
        (0.5, "50% of years"),
        (0.6, "60% of years"),
        (1.0, "100% of years"),
    ],
)
def test_odds(p: float, expected: str) -> None:
    assert hz.odds(p) == expected


@pytest.mark.parametrize(
    ("r", "expected"),
    [
        (0.0, "never"),
        (0.01, "about once every 100 years"),
        (0.05, "about once every 20 years"),
        (0.2, "about once every 5 years"),
        (0.5, "about once every 2 years"),
        (0.7, "about 0.7 times a year"),
        (0.94, "about 0.94 times a year"),
        (0.95, "about once a year"),
        (1.0, "about once a year"),
        (1.05, "about once a year"),
        (1.3, "about 1.3 times a year"),
        (3.0, "about 3 times a year"),
        (12.4, "about 12 times a year"),
        (1234.0, "about 1,200 times a year"),
    ],
)
def test_rate(r: float, expected: str) -> None:
    assert hz.rate(r) == expected


@pytest.mark.parametrize(
    ("n", "noun", "expected"),
    [
        (0, "event", "no events"),
        (1, "event", "one event"),
        (1.0, "event", "one event"),
        (1.02, "event", "one event"),
        (2, "event", "2 events"),
        (1.5, "event", "1.5 events"),
        (0.3, "event", "0.3 events"),
        (0.043, "event", "0.043 events"),
        (12.7, "event", "13 events"),
        (2500, "staff", "2,500 staff"),
        (3, "recorded incident", "3 recorded incidents"),
        (2, "supplier", "2 suppliers"),
        (2, "loss", "2 losses"),
        (2, "recovery", "2 recoveries"),
        (2, "day", "2 days"),
        (2, "box", "2 boxes"),
        (2, "switch", "2 switches"),
        (2, "person", "2 people"),
        (2, "KPI", "2 KPIs"),
        (1, "person", "one person"),
    ],
)
def test_count(n: float, noun: str, expected: str) -> None:
    assert hz.count(n, noun) == expected


def test_count_with_an_explicit_plural() -> None:
    assert hz.count(3, "criterion", "criteria") == "3 criteria"
    assert hz.count(1, "criterion", "criteria") == "one criterion"
    assert hz.count(0, "datum", "data") == "no data"


@pytest.mark.parametrize(
    ("d", "expected"),
    [(0, "0 days"), (1, "one day"), (2.5, "2.5 days"), (12, "12 days"), (30.4, "30 days")],
)
def test_days(d: float, expected: str) -> None:
    assert hz.days(d) == expected


@pytest.mark.parametrize(
    ("n", "noun", "expected"),
    [
        (1, "event", "event"),
        (0, "event", "events"),
        (2, "ERP system", "ERP systems"),
        (1.5, "day", "days"),
    ],
)
def test_plural(n: float, noun: str, expected: str) -> None:
    assert hz.plural(n, noun) == expected


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (13, "13th"),
     (21, "21st"), (22, "22nd"), (95, "95th"), (99, "99th"), (101, "101st"), (111, "111th")],
)  # fmt: skip
def test_ordinal(n: int, expected: str) -> None:
    assert hz.ordinal(n) == expected


@pytest.mark.parametrize(
    ("items", "conj", "expected"),
    [
        ([], "and", ""),
        (["ERP"], "and", "ERP"),
        (["ERP", "CRM"], "and", "ERP and CRM"),
        (["ERP", "CRM", "MES"], "and", "ERP, CRM and MES"),
        (("ERP", "CRM", "MES"), "or", "ERP, CRM or MES"),
    ],
)
def test_join(items: list[str], conj: str, expected: str) -> None:
    assert hz.join(items, conj) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("event", "an"),
        ("outage", "an"),
        ("supplier", "a"),
        ("hour", "an"),
        ("hourly", "an"),
        ("honest", "an"),
        ("house", "a"),
        ("user", "a"),
        ("unique", "a"),
        ("university", "a"),
        ("uninsured", "an"),
        ("umbrella", "an"),
        ("euro", "a"),
        ("one-off", "a"),
        ("onerous", "an"),
        ("unilateral", "a"),
        ("EUR 2 million loss", "a"),
        ("€2 million loss", "a"),
        ("ERP outage", "an"),
        ("SLA", "an"),
        ("MRI", "an"),
        ("KPI", "a"),
        ("UPS", "a"),
        ("8%", "an"),
        ("80-day", "an"),
        ("11-day", "an"),
        ("18,000", "an"),
        ("110", "a"),
        ("1.5", "a"),
        ("Outage", "an"),
    ],
)
def test_article(word: str, expected: str) -> None:
    assert hz.article(word) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("an ERP outage stops production", "An ERP outage stops production."),
        ("  already done.  ", "Already done."),
        ("is it?", "Is it?"),
        ("stop!", "Stop!"),
        ("8% of years", "8% of years."),
        ("a list:", "A list."),
        ('"quoted" start', '"Quoted" start.'),
        ('he said "no."', 'He said "no."'),
        ("", ""),
        ("   ", ""),
    ],
)
def test_sentence(text: str, expected: str) -> None:
    assert hz.sentence(text) == expected


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: hz.money(math.nan), r"value: must be a finite number, got nan"),
        (lambda: hz.money(math.inf), r"value: must be a finite number, got inf"),
        (
            lambda: hz.money(5, "euro"),
            r"currency: must be a three-letter code such as 'EUR', got 'euro'",
        ),
        (
            lambda: hz.money_range(6e6, 2e6),
            r"low: must not exceed high \(2000000.0\), got 6000000.0",
        ),
        (lambda: hz.odds(1.2), r"p: must be a probability between 0 and 1, got 1.2"),
        (lambda: hz.odds(-0.1), r"p: must be a probability between 0 and 1, got -0.1"),
        (lambda: hz.rate(-1), r"r: must be 0 or more, got -1"),
        (lambda: hz.count(-1, "event"), r"n: must be 0 or more, got -1"),
        (lambda: hz.count(2, ""), r"noun: must be a non-empty string, got ''"),
        (lambda: hz.days(math.nan), r"d: must be a finite number, got nan"),
        (lambda: hz.percent(True), r"p: must be a finite number, got True"),
        (lambda: hz.ordinal(2.5), r"n: must be an integer, got 2.5"),  # type: ignore[arg-type]
        (lambda: hz.article(""), r"word: must be a non-empty string, got ''"),
        (lambda: hz.join(["a", 1]), r"items: must all be strings, got 1"),  # type: ignore[list-item]
    ],
)
def test_bad_input_names_the_field_and_value(call: object, match: str) -> None:
    assert callable(call)
    with pytest.raises(rb.ValidationError, match=match):
        call()
