"""riskbench.ai.grounding: figure extraction, tolerances, matching and the round trip
from riskbench.ai.humanize back to the value it wrote."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import riskbench as rb
from riskbench.ai import humanize as hz
from riskbench.ai.grounding import Fact, Figure, check_grounding, extract_figures

M = 1_000_000


def _figs(text: str) -> list[tuple[str, float, str, float]]:
    return [(f.text, f.value, f.kind, f.tolerance) for f in extract_figures(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # money: code or symbol before or after, scale words and suffixes
        ("EUR 4.2 million", [("EUR 4.2 million", 4.2 * M, "money", 0.05 * M)]),
        ("USD 3m", [("USD 3m", 3 * M, "money", 0.5 * M)]),
        ("CHF 2.5 mn", [("CHF 2.5 mn", 2.5 * M, "money", 0.05 * M)]),
        ("EUR4.2M", [("EUR4.2M", 4.2 * M, "money", 0.05 * M)]),
        ("€500k", [("€500k", 500_000, "money", 50_000)]),
        ("£1.2bn", [("£1.2bn", 1.2e9, "money", 0.05e9)]),
        ("$4B", [("$4B", 4e9, "money", 0.5e9)]),
        ("US$ 5 million", [("US$ 5 million", 5 * M, "money", 0.5 * M)]),
        ("GBP 12 thousand", [("GBP 12 thousand", 12_000, "money", 500)]),
        ("4.2 million euros", [("4.2 million euros", 4.2 * M, "money", 0.05 * M)]),
        ("750 EUR", [("750 EUR", 750, "money", 5)]),
        ("EUR 853,000", [("EUR 853,000", 853_000, "money", 500)]),
        ("EUR 850,000", [("EUR 850,000", 850_000, "money", 5_000)]),
        ("EUR 0", [("EUR 0", 0, "money", 0.5)]),
        ("-EUR 200,000", [("-EUR 200,000", -200_000, "money", 50_000)]),
        ("4.2 million", [("4.2 million", 4.2 * M, "number", 0.05 * M)]),
        # percentages
        ("8%", [("8%", 0.08, "percent", 0.005)]),
        ("8 percent", [("8 percent", 0.08, "percent", 0.005)]),
        ("0.5 %", [("0.5 %", 0.005, "percent", 0.0005)]),
        ("0.04%", [("0.04%", 0.0004, "percent", 0.00005)]),
        ("100 per cent", [("100 per cent", 1.0, "percent", 0.5)]),
        # one in N
        ("1 in 20 years", [("1 in 20 years", 0.05, "one_in", 5)]),
        ("one in 20", [("one in 20", 0.05, "one_in", 5)]),
        ("One in 25 years", [("One in 25 years", 0.04, "one_in", 0.5)]),
        ("once every 20 years", [("once every 20 years", 0.05, "one_in", 5)]),
        ("once in 1,000 years", [("once in 1,000 years", 0.001, "one_in", 500)]),
        ("a 1-in-100-year flood", [("1-in-100-year", 0.01, "one_in", 50)]),
        # plain numbers, with a unit word when one follows
        ("12 days", [("12 days", 12, "number", 0.5)]),
        ("0.3 events", [("0.3 events", 0.3, "number", 0.05)]),
        ("about 0.7 times a year", [("0.7 times", 0.7, "number", 0.05)]),
        ("2,500 staff", [("2,500", 2500, "number", 50)]),
        ("the 99th percentile", [("99th", 99, "number", 0.5)]),
        ("ISO 27001", [("27001", 27001, "number", 0.5)]),
        ("a 72-hour outage", [("72-hour", 72, "number", 0.5)]),
        ("in 2024", [("2024", 2024, "number", 0.5)]),
        # not figures: digits glued to letters, or after a word and a hyphen; versions
        ("NIS2 and DORA", []),
        ("the erp-2 cluster", []),
        ("COVID-19", []),
        ("2FA on 4G links", []),
        ("release v1.2.3", []),
        ("Q1 results", []),
        ("one supplier, two sites", []),
        ("once a year", []),
    ],
)
def test_extraction(text: str, expected: list[tuple[str, float, str, float]]) -> None:
    got = _figs(text)
    assert [(t, k) for t, _, k, _ in got] == [(t, k) for t, _, k, _ in expected]
    for (_, value, _, tol), (_, v, _, t) in zip(got, expected, strict=True):
        assert value == pytest.approx(v, rel=1e-12)
        assert tol == pytest.approx(t, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("EUR 2-6 million", [("EUR 2 million", 2 * M), ("EUR 6 million", 6 * M)]),
        ("EUR 2–6 million", [("EUR 2 million", 2 * M), ("EUR 6 million", 6 * M)]),
        ("between EUR 2 and 6 million", [("EUR 2 million", 2 * M), ("EUR 6 million", 6 * M)]),
        ("EUR 2 to 6 million", [("EUR 2 million", 2 * M), ("EUR 6 million", 6 * M)]),
        ("2-6 million euros", [("2 million euros", 2 * M), ("6 million euros", 6 * M)]),
        ("€2-6m", [("€2m", 2 * M), ("€6m", 6 * M)]),
        (
            "between EUR 500,000 and EUR 15 million",
            [("EUR 500,000", 500_000), ("EUR 15 million", 15 * M)],
        ),
        # the scale does not carry where the first end is already larger
        ("500,000-6 million", [("500,000", 500_000), ("6 million", 6 * M)]),
        ("between EUR 1 and EUR 1.5 million", [("EUR 1", 1), ("EUR 1.5 million", 1.5 * M)]),
        ("EUR 500,000 - 6 million", [("EUR 500,000", 500_000), ("EUR 6 million", 6 * M)]),
        # the currency does not carry to a bare number after an amount with a scale
        ("EUR 4 million - 10 times more", [("EUR 4 million", 4 * M), ("10 times", 10)]),
        ("2-6%", [("2%", 0.02), ("6%", 0.06)]),
        ("between 2 and 6 per cent", [("2 per cent", 0.02), ("6 per cent", 0.06)]),
        ("5 to 10 days", [("5", 5), ("10 days", 10)]),
        ("2 - 6", [("2", 2), ("6", 6)]),
        # "and" joins a range only after "between"
        ("2 sites and 6 million customers", [("2", 2), ("6 million", 6 * M)]),
        ("EUR 500 - 600", [("EUR 500", 500), ("EUR 600", 600)]),
        ("1 in 20 to 1 in 50 years", [("1 in 20", 0.05), ("1 in 50 years", 0.02)]),
    ],
)
def test_ranges_share_currency_scale_and_percent(
    text: str, expected: list[tuple[str, float]]
) -> None:
    got = [(f.text, f.value) for f in extract_figures(text)]
    assert [t for t, _ in got] == [t for t, _ in expected]
    assert [v for _, v in got] == pytest.approx([v for _, v in expected], rel=1e-12)


def test_spans_point_at_the_written_figure() -> None:
    text = "Losses of EUR 2-6 million over 12 days, about 1 in 20 years (8%)."
    spans = [text[f.start : f.end] for f in extract_figures(text)]
    assert spans == ["EUR 2", "6 million", "12 days", "1 in 20 years", "8%"]


def test_interval() -> None:
    money, pct, one_in = extract_figures("EUR 4.2 million, 8%, 1 in 20")
    assert money.interval == pytest.approx((4.15 * M, 4.25 * M))
    assert pct.interval == pytest.approx((0.075, 0.085))
    assert one_in.interval == pytest.approx((1 / 25, 1 / 15))
    assert extract_figures("1 in 1")[0].interval == pytest.approx((1 / 1.5, 2.0))


def _ok(text: str, *facts: Fact) -> bool:
    return check_grounding(text, facts).ok


@pytest.mark.parametrize(
    ("text", "fact", "ok"),
    [
        # an altered figure is flagged
        ("EUR 4.2 million", Fact("severity.p95", 4.213e6, "money"), True),
        ("EUR 5.2 million", Fact("severity.p95", 4.213e6, "money"), False),
        # tolerance: half the place value of the last non-zero digit
        ("EUR 850,000", Fact("loss", 854_000, "money"), True),
        ("EUR 853,000", Fact("loss", 854_000, "money"), False),
        ("EUR 853,000", Fact("loss", 852_613, "money"), True),
        ("EUR 4.2 million", Fact("loss", 4.25e6, "money"), True),
        ("EUR 4.2 million", Fact("loss", 4.2501e6, "money"), False),
        # one in N against a probability or a rate; N within its tolerance
        ("1 in 20 years", Fact("p", 0.05, "probability"), True),
        ("1 in 20 years", Fact("p", 0.2, "probability"), False),
        ("1 in 20 years", Fact("p", 1 / 25, "probability"), True),
        ("1 in 20 years", Fact("p", 1 / 15, "probability"), True),
        ("1 in 20 years", Fact("p", 0.07, "probability"), False),
        ("once every 20 years", Fact("rate", 0.05, "rate"), True),
        ("1 in 20 years", Fact("n", 20, "number"), False),
        # percent against a probability only
        ("8%", Fact("p", 0.083, "probability"), True),
        ("8.3%", Fact("p", 0.08, "probability"), False),
        ("8%", Fact("n", 8, "number"), False),
        ("8%", Fact("r", 0.08, "rate"), False),
        # a plain number against a number, a rate or an amount
        ("12 days", Fact("days", 12, "number"), True),
        ("0.3 events", Fact("rate", 0.31, "rate"), True),
        ("4.2 million", Fact("loss", 4.213e6, "money"), True),
        ("0.05", Fact("p", 0.05, "probability"), False),
        # an amount against an amount only
        ("EUR 12", Fact("days", 12, "number"), False),
        # a year is a figure like any other
        ("in 2024", Fact("year", 2024, "number"), True),
        ("in 2024", Fact("year", 2023, "number"), False),
        # negative amounts keep their sign
        ("-EUR 200,000", Fact("net", -2e5, "money"), True),
        ("-EUR 200,000", Fact("net", 2e5, "money"), False),
    ],
)
def test_matching(text: str, fact: Fact, ok: bool) -> None:
    assert _ok(text, fact) is ok


def test_a_year_is_flagged_unless_a_fact_holds_it() -> None:
    text = "In 2024 a ransomware attack cost EUR 4.2 million."
    loss = Fact("severity.p95", 4.213e6, "money")
    report = check_grounding(text, [loss])
    assert [f.text for f in report.ungrounded] == ["2024"]
    assert check_grounding(text, [loss, Fact("year", 2024, "number")]).ok


def test_digits_glued_to_letters_are_ignored() -> None:
    report = check_grounding("NIS2 applies to erp-2 and the SAP S4 system.", [])
    assert report.figures == ()
    assert report.ok


def test_a_range_with_both_ends_grounded_or_one_not() -> None:
    text = "A bad year costs between EUR 2 and 6 million."
    low, high = Fact("severity.p05", 2.04e6, "money"), Fact("severity.p95", 5.8e6, "money")
    both = check_grounding(text, [low, high])
    assert both.ok
    assert [(f.text, name) for f, name in both.matched] == [
        ("EUR 2 million", "severity.p05"),
        ("EUR 6 million", "severity.p95"),
    ]
    one = check_grounding(text, [low, Fact("severity.p95", 9.1e6, "money")])
    assert not one.ok
    assert one.describe() == "1 figure is not in the data: EUR 6 million"


def test_an_altered_figure_is_flagged_and_described() -> None:
    facts = [Fact("severity.p95", 4.213e6, "money"), Fact("frequency.p", 0.05, "probability")]
    good = "About 1 in 20 years an outage costs EUR 4.2 million."
    assert check_grounding(good, facts).ok
    report = check_grounding(good.replace("4.2", "5.2"), facts)
    assert [f.text for f in report.ungrounded] == ["EUR 5.2 million"]
    assert [(f.text, name) for f, name in report.matched] == [("1 in 20 years", "frequency.p")]
    assert report.describe() == "1 figure is not in the data: EUR 5.2 million"


def test_matched_goes_to_the_closest_fact() -> None:
    facts = [Fact("a", 4.24e6, "money"), Fact("b", 4.201e6, "money"), Fact("c", 4.2e6, "number")]
    report = check_grounding("EUR 4.2 million", facts)
    assert [name for _, name in report.matched] == ["b"]


@pytest.mark.parametrize(
    ("text", "facts", "expected"),
    [
        (
            "EUR 9.1 million, 35% and 4%",
            [Fact("p", 0.04, "probability")],
            "2 figures are not in the data: EUR 9.1 million, 35%",
        ),
        ("35%", [], "1 figure is not in the data: 35%"),
        ("no numbers here", [], "there are no figures in the text"),
        ("4%", [Fact("p", 0.04, "probability")], "the one figure is in the data"),
        ("4% and 12 days", [Fact("p", 0.04, "probability"), Fact("d", 12, "number")],
         "all 2 figures are in the data"),
    ],
)  # fmt: skip
def test_describe(text: str, facts: list[Fact], expected: str) -> None:
    assert check_grounding(text, facts).describe() == expected


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: Fact("x", math.nan, "money"),
            r"value: fact 'x': must be a finite number, got nan",
        ),
        (
            lambda: Fact("x", math.inf, "number"),
            r"value: fact 'x': must be a finite number, got inf",
        ),
        (
            lambda: Fact("x", 1.0, "prob"),  # type: ignore[arg-type]
            r"kind: fact 'x': got 'prob'; allowed: money, probability, rate, number",
        ),
        (
            lambda: Fact("x", 1.5, "probability"),
            r"value: fact 'x': a probability must be between 0 and 1, got 1.5",
        ),
        (lambda: Fact("x", -1.0, "rate"), r"value: fact 'x': a rate must be 0 or more, got -1.0"),
        (lambda: Fact("", 1.0, "money"), r"name: must be a non-empty string, got ''"),
        (lambda: check_grounding("8%", [0.08]), r"facts\[0\]: must be a Fact, got float"),  # type: ignore[list-item]
        (lambda: extract_figures(None), r"text: must be a string, got NoneType"),  # type: ignore[arg-type]
    ],
)
def test_bad_input_names_the_field_value_and_what_is_allowed(make: object, match: str) -> None:
    assert callable(make)
    with pytest.raises(rb.ValidationError, match=match):
        make()


def test_fact_value_is_stored_as_float() -> None:
    assert Fact("n", 12, "number").value == 12.0
    assert isinstance(Fact("n", 12, "number").value, float)


# -- round trip: what humanize writes, grounding reads back within tolerance -----------


def _single(text: str) -> Figure:
    figs = extract_figures(text)
    assert len(figs) == 1, (text, figs)
    return figs[0]


def finite(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)


# Below about 1e-300, 1/p leaves the float range; no real chance or rate is that small.
chances = st.just(0.0) | finite(1e-12, 1)


@settings(max_examples=300)
@given(
    value=finite(-1e13, 1e13),
    currency=st.sampled_from(["EUR", "USD", "GBP", "CHF"]),
)
def test_money_round_trip(value: float, currency: str) -> None:
    text = hz.money(value, currency)
    fig = _single(text)
    assert fig.kind == "money"
    assert fig.text == text
    assert check_grounding(text, [Fact("x", value, "money")]).ok, text


@settings(max_examples=300)
@given(
    low=finite(0, 1e12),
    high=finite(0, 1e12),
)
def test_money_range_round_trip(low: float, high: float) -> None:
    low, high = min(low, high), max(low, high)
    text = hz.money_range(low, high)
    facts = [Fact("low", low, "money"), Fact("high", high, "money")]
    assert check_grounding(text, facts).ok, text


@settings(max_examples=300)
@given(p=finite(0, 1))
def test_percent_round_trip(p: float) -> None:
    text = hz.percent(p)
    assert _single(text).kind == "percent"
    assert check_grounding(text, [Fact("p", p, "probability")]).ok, text


@settings(max_examples=300)
@given(p=chances)
def test_odds_round_trip(p: float) -> None:
    text = hz.odds(p)
    if p == 0:
        assert extract_figures(text) == []
        return
    assert _single(text).kind == ("percent" if p >= 0.5 else "one_in")
    assert check_grounding(text, [Fact("p", p, "probability")]).ok, text


@settings(max_examples=300)
@given(r=chances | finite(1, 1e6))
def test_rate_round_trip(r: float) -> None:
    text = hz.rate(r)
    if r == 0 or 0.95 <= r <= 1.05:  # "never", "about once a year": no figure to check
        assert extract_figures(text) == []
        return
    assert _single(text).kind == ("one_in" if r <= 0.5 else "number")
    assert check_grounding(text, [Fact("r", r, "rate")]).ok, text


counts = st.one_of(
    st.integers(min_value=0, max_value=10**9),
    finite(0, 1e9),
)


@settings(max_examples=300)
@given(n=counts, noun=st.sampled_from(["event", "recorded incident", "supplier", "person"]))
def test_count_round_trip(n: float, noun: str) -> None:
    text = hz.count(n, noun)
    if text.startswith(("no ", "one ")):  # spelled out: nothing for the checker to read
        assert extract_figures(text) == []
        return
    assert _single(text).kind == "number"
    assert check_grounding(text, [Fact("n", n, "number")]).ok, text


@settings(max_examples=300)
@given(d=counts)
def test_days_round_trip(d: float) -> None:
    text = hz.days(d)
    if text == "one day":
        assert extract_figures(text) == []
        return
    fig = _single(text)
    assert fig.text == text
    assert check_grounding(text, [Fact("d", d, "number")]).ok, text
