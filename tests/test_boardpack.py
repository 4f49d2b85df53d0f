"""The board pack (riskbench.boardpack): real renders, read back with poppler.

One small scenario run per module; the PDF is rendered with WeasyPrint (and once with
Chromium) and read with ``pdftotext``, ``pdfimages`` and ``pdftoppm``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT, external_resources, full_run_parameters
from riskbench.boardpack import (
    REPORT_TITLE,
    SECTIONS,
    board_pack,
    board_pack_html,
    board_pack_notebook,
    format_amount,
    format_count,
    format_probability,
    format_ratio,
    format_years,
)
from riskbench.boardpack.render import CHROMIUM
from riskbench.errors import ValidationError
from riskbench.files import sha256_file
from riskbench.runs import RunOutputs, RunParameters, scenario_run

RUN_ID = "2026-11-01T06-00-00-northwind"
INPUTS = ("register.yaml", "stress.yaml", "mitigations.yaml", "dependencies.yaml")
POPPLER = ("pdftotext", "pdfimages", "pdftoppm", "pdfinfo")


def _run(*args: str | Path) -> str:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def params() -> RunParameters:
    return full_run_parameters()


@pytest.fixture(scope="module")
def outputs(params: RunParameters) -> RunOutputs:
    out = scenario_run(params, organisation="Northwind Components")
    out.meta["run_id"] = RUN_ID  # set by the run that stores the outputs
    return out


@pytest.fixture(scope="module")
def manifest(params: RunParameters) -> dict[str, Any]:
    git = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return {
        "run_id": RUN_ID,
        "status": "succeeded",
        "started": datetime(2026, 11, 1, 6, 0, tzinfo=UTC).isoformat(),
        "finished": datetime(2026, 11, 1, 6, 1, 30, tzinfo=UTC).isoformat(),
        "parameters": params.to_dict(),
        "seed": params.seed,
        "inputs": {name: sha256_file(ROOT / "examples" / name) for name in INPUTS},
        "versions": {pkg: version(pkg) for pkg in ("riskbench", "numpy", "pandas")},
        "git_revision": git.stdout.strip() or "unknown",
    }


@pytest.fixture(scope="module")
def pdf(
    outputs: RunOutputs, manifest: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    missing = [tool for tool in POPPLER if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"poppler-utils is not installed (missing {missing}): make deb-packages")
    path = tmp_path_factory.mktemp("pack") / "board-pack.pdf"
    assert board_pack(outputs, path, engine="weasyprint", manifest=manifest) == path
    return path


@pytest.fixture(scope="module")
def pages(pdf: Path) -> list[str]:
    """The PDF's text, one string per page."""
    return _run("pdftotext", "-layout", pdf, "-").split("\f")[:-1]


@pytest.fixture(scope="module")
def html(outputs: RunOutputs, manifest: dict[str, Any]) -> str:
    return board_pack_html(outputs, manifest=manifest)


def _page_count(pdf: Path) -> int:
    found = re.search(r"^Pages:\s+(\d+)", _run("pdfinfo", pdf), re.M)
    assert found is not None
    return int(found.group(1))


def _first_line(page: str) -> str:
    return next((line.strip() for line in page.splitlines() if line.strip()), "")


# -- the PDF (WeasyPrint) ------------------------------------------------------------
@pytest.mark.slow
def test_every_section_starts_a_page(pages: list[str]) -> None:
    starts = [_first_line(p) for p in pages[1:]]
    missing = [s for s in SECTIONS if s not in starts]
    assert not missing, f"sections not at the top of a page: {missing}; page tops: {starts}"
    # In order, after the cover.
    assert [s for s in starts if s in SECTIONS] == list(SECTIONS)


@pytest.mark.slow
def test_headline_p99_is_the_stored_p99(pages: list[str], outputs: RunOutputs) -> None:
    summary = next(p for p in pages if _first_line(p) == "Executive summary")
    headline = f"{outputs.currency} {outputs.p99:,.0f}"
    assert headline in summary
    row = next(line for line in summary.splitlines() if "1 in 100 years" in line)
    assert headline in row


@pytest.mark.slow
def test_cover_names_organisation_date_and_run(pages: list[str], outputs: RunOutputs) -> None:
    cover = pages[0]
    for text in ("Northwind Components", REPORT_TITLE, "2026-11-01", RUN_ID, "20,000"):
        assert text in cover, text
    assert re.search(r"Seed\s+7\b", cover)


@pytest.mark.slow
def test_pages_are_numbered_in_the_footer(pdf: Path, pages: list[str]) -> None:
    n = _page_count(pdf)
    assert len(pages) == n > len(SECTIONS)
    for i, page in enumerate(pages, start=1):
        assert re.findall(r"Page \d+ of \d+", page) == [f"Page {i} of {n}"], f"page {i}"


@pytest.mark.slow
def test_no_code_or_prompts(pages: list[str]) -> None:
    text = "\n".join(pages)
    for prompt in ("In [", "Out["):
        assert prompt not in text
    code = re.findall(r"^\s*(?:import \w+|from [\w.]+ import|def \w+\(|>>> ).*$", text, re.M)
    assert not code


@pytest.mark.slow
def test_charts_are_embedded_and_not_blank(pdf: Path, tmp_path: Path) -> None:
    listing = _run("pdfimages", "-list", pdf).splitlines()[2:]
    images = [line.split() for line in listing if line.split()[2] == "image"]
    assert len(images) >= 4, listing
    chart_pages = sorted({int(row[0]) for row in images})
    for page in chart_pages:
        _run("pdftoppm", "-r", "50", "-png", "-f", page, "-l", page, pdf, tmp_path / "page")
    rendered = sorted(tmp_path.glob("page-*.png"))
    assert len(rendered) == len(chart_pages)
    for png in rendered:
        pixels = np.asarray(Image.open(png).convert("L"), dtype=float)
        assert pixels.std() > 10, f"{png.name} looks blank (std {pixels.std():.1f})"
    # Each chart itself has content: many grey levels, not one flat colour.
    _run("pdfimages", "-png", pdf, tmp_path / "img")
    extracted = sorted(tmp_path.glob("img-*.png"))
    assert len(extracted) == len(listing)  # one file per listed image, in order
    for png, row in zip(extracted, listing, strict=True):
        if row.split()[2] != "image":
            continue  # a soft mask (transparency), not a picture
        pixels = np.asarray(Image.open(png).convert("L"))
        assert len(np.unique(pixels)) > 20, png.name
        assert pixels.std() > 10, png.name


@pytest.mark.slow
def test_tables_and_words_come_from_the_outputs(pages: list[str], outputs: RunOutputs) -> None:
    text = "\n".join(pages)
    plan = next(p for p in pages if _first_line(p) == "Mitigation plan")
    cur = outputs.currency
    assert f"{format_amount(outputs.plan['annual_cost'], cur)} a year" in plan
    stress = next(p for p in pages if _first_line(p) == "Stress tests")
    for row in outputs.tables["stress"].itertuples():
        assert format_amount(row.p99_stressed, cur) in stress
    assert "plant-riverside" in text  # a single point of failure
    for sid, _story in outputs.narratives["scenarios"].items():
        title = outputs.tables["scenarios"].set_index("scenario").loc[sid, "title"]
        assert title in text


# -- the HTML ------------------------------------------------------------------------
def test_html_is_self_contained(outputs: RunOutputs, tmp_path: Path) -> None:
    path = board_pack(outputs, tmp_path / "pack.html", format="html")
    text = path.read_text(encoding="utf-8")
    assert external_resources(text) == []
    remote = re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", text, re.I)
    assert not remote
    assert "<script" not in text.lower()
    assert "<link" not in text.lower()  # the CSS is inlined
    srcs = re.findall(r'<img[^>]*\ssrc="([^"]*)"', text)
    assert len(srcs) >= 4
    assert all(s.startswith("data:image/png;base64,") for s in srcs)


def test_html_has_no_code_cells_and_every_heading(html: str) -> None:
    for marker in ("jp-CodeCell", "jp-InputArea", "In&nbsp;[", "In [", "highlight-ipynb"):
        assert marker not in html
    for section in SECTIONS:
        assert re.search(rf"<h1 id=\"[a-z-]+\">{re.escape(section)}</h1>", html), section
    assert 'content: "Page " counter(page) " of " counter(pages)' in html
    assert "break-inside: avoid" in html


def test_provenance_shows_the_manifest(html: str, manifest: dict[str, Any]) -> None:
    provenance = html[html.index(">Appendix: provenance<") :]
    for name, digest in manifest["inputs"].items():
        assert f"inputs.{name}" in provenance
        assert digest in provenance
    assert manifest["git_revision"] in provenance
    assert "succeeded" in provenance
    assert "parameters.trials" in provenance
    assert "versions.numpy" in provenance


def test_provenance_without_manifest_shows_meta(outputs: RunOutputs) -> None:
    page = board_pack_html(outputs)
    provenance = page[page.index(">Appendix: provenance<") :]
    assert "No run manifest was given" in provenance
    assert "parameters.card" in provenance
    assert "examples/register.yaml" in provenance


def test_notebook_has_outputs_only(outputs: RunOutputs) -> None:
    import matplotlib.pyplot as plt

    figures = plt.get_fignums()
    nb = board_pack_notebook(outputs)
    assert plt.get_fignums() == figures  # no pyplot state left behind
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert all(c.source == "" and c.outputs for c in code)
    kinds = {k for c in code for o in c.outputs for k in o["data"]}
    assert {"image/png", "text/html"} <= kinds
    assert {c.cell_type for c in nb.cells} == {"code", "markdown"}


def test_a_run_without_options_still_has_every_section(outputs: RunOutputs) -> None:
    keep = ("summary", "curve", "scenarios", "matrix", "assumptions", "calibration")
    bare = replace(
        outputs,
        tables={k: v for k, v in outputs.tables.items() if k in keep},
        plan={},
        findings=[],
        narratives={},
        meta={**outputs.meta, "run_id": None, "parameters": {}},
    )
    text = board_pack_html(bare)
    for section in SECTIONS:
        assert f">{section}</h1>" in text
    assert "This run applied no stress sets." in text
    assert "This run has no mitigation plan." in text
    assert "This run had no dependency graph." in text
    assert "not recorded" in text  # the run id


# -- errors --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "field", "value", "allowed"),
    [
        ({"format": "docx"}, "format", "'docx'", "'pdf', 'html'"),
        ({"engine": "latex"}, "engine", "'latex'", "'weasyprint', 'chromium', 'auto'"),
    ],
)
def test_bad_format_or_engine_names_field_value_and_choices(
    outputs: RunOutputs, tmp_path: Path, kw: dict[str, str], field: str, value: str, allowed: str
) -> None:
    target = tmp_path / "pack.out"
    with pytest.raises(ValidationError) as err:
        board_pack(outputs, target, **kw)  # type: ignore[arg-type]
    assert str(err.value) == f"{field}: must be one of {allowed}, got {value}"
    assert not target.exists()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_failed_render_leaves_no_partial_file(outputs: RunOutputs, tmp_path: Path) -> None:
    broken = replace(outputs, tables={k: v for k, v in outputs.tables.items() if k != "summary"})
    target = tmp_path / "pack.pdf"
    with pytest.raises(ValidationError, match=r"tables\.summary: is missing"):
        board_pack(broken, target)
    assert not target.exists()
    assert _leftovers(tmp_path) == []
    # A pack already there is left as it was.
    target.write_bytes(b"%PDF- last month's pack")
    with pytest.raises(ValidationError):
        board_pack(broken, target, format="pdf")
    assert target.read_bytes() == b"%PDF- last month's pack"


@pytest.mark.slow
def test_failed_write_cleans_up_its_temporary_file(outputs: RunOutputs, tmp_path: Path) -> None:
    # The PDF renders, but cannot replace a folder at the target path.
    target = tmp_path / "pack.pdf"
    target.mkdir()
    (target / "keep.txt").write_text("kept")
    with pytest.raises(IsADirectoryError):
        board_pack(outputs, target, engine="weasyprint")
    assert _leftovers(tmp_path) == []
    assert (target / "keep.txt").read_text() == "kept"


# -- Chromium ------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"engine='chromium' needs Debian's Chromium at {CHROMIUM}, which is not installed",
)
def test_chromium_renders_the_pack(outputs: RunOutputs, tmp_path: Path) -> None:
    path = board_pack(outputs, tmp_path / "pack.pdf", engine="chromium")
    text = _run("pdftotext", "-layout", path, "-")
    n = _page_count(path)
    # Chromium's footer on every page, and not the CSS one as well.
    footers = re.findall(r"Page (\d+) of (\d+)", text)
    assert footers == [(str(i), str(n)) for i in range(1, n + 1)]
    assert f"{outputs.currency} {outputs.p99:,.0f}" in text
    for section in SECTIONS:
        assert section in text
    listing = _run("pdfimages", "-list", path).splitlines()[2:]
    assert sum(line.split()[2] == "image" for line in listing) >= 4


# -- formatting ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "kw", "expected"),
    [
        (44_618_719.318, {"currency": "EUR"}, "EUR 44,600,000"),
        (44_618_719.318, {"currency": "EUR", "exact": True}, "EUR 44,618,719"),
        (7_301_020.7, {"currency": "EUR"}, "EUR 7,300,000"),
        (791_500, {"currency": "EUR"}, "EUR 792,000"),
        (999_999, {"currency": "USD"}, "USD 1,000,000"),
        (1234, {"currency": "GBP"}, "GBP 1,230"),
        (-288_322.7, {"currency": "EUR"}, "-EUR 288,000"),
        (0, {"currency": "EUR"}, "EUR 0"),
        (-0.0001, {"currency": "EUR", "exact": True}, "EUR 0"),
        (1.3333333, {}, "1.33"),
        (0.15, {}, "0.15"),
        (float("nan"), {"currency": "EUR"}, "–"),
        (None, {}, "–"),
    ],
)
def test_format_amount(value: Any, kw: dict[str, Any], expected: str) -> None:
    assert format_amount(value, **kw) == expected


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.17625, "17.6%"),
        (0.2, "20%"),
        (0.01, "1%"),
        (0.0995, "10%"),
        (0.0032, "0.32%"),
        (0.0005, "0.05%"),
        (5e-05, "0.005%"),
        (0.0, "0%"),
        (1.0, "100%"),
        (None, "–"),
    ],
)
def test_format_probability(p: Any, expected: str) -> None:
    assert format_probability(p) == expected


@pytest.mark.parametrize(
    ("fn", "value", "expected"),
    [
        (format_ratio, 1.441620, "1.44"),
        (format_ratio, -0.255149, "-0.26"),
        (format_ratio, -0.001, "0.00"),
        (format_ratio, float("inf"), "∞"),
        (format_ratio, float("nan"), "–"),
        (format_count, 20_000, "20,000"),
        (format_count, 16, "16"),
        (format_years, 1.883568, "1.9"),
        (format_years, 276.938773, "277"),
        (format_years, float("inf"), "never"),
        (format_years, float("nan"), "never"),
    ],
)
def test_format_ratio_count_years(fn: Any, value: Any, expected: str) -> None:
    assert fn(value) == expected
