"""The board pack as a file: HTML through riskbench's nbconvert template, PDF through
WeasyPrint or Chromium, written whole or not at all."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.resources
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from riskbench.boardpack.notebook import board_pack_notebook
from riskbench.errors import Issue, MissingDependencyError, RiskbenchError, ValidationError
from riskbench.files import atomic_write_text

if TYPE_CHECKING:
    from riskbench.runs import RunOutputs

__all__ = ["CHROMIUM", "ENGINES", "FORMATS", "board_pack", "board_pack_html"]

FORMATS = ("pdf", "html")
ENGINES = ("weasyprint", "chromium", "auto")
#: Debian's Chromium, which Playwright drives for ``engine="chromium"``.
CHROMIUM = Path("/usr/bin/chromium")
TEMPLATE = "boardpack"

# Chromium draws its own footer (the CSS page-margin boxes are WeasyPrint's); the
# classes are filled in by Chromium.
_CHROMIUM_FOOTER = (
    "<div style=\"width:100%; font-family:'DejaVu Sans',sans-serif; font-size:8pt; "
    'color:#555; text-align:right; padding:0 17mm;">Page <span class="pageNumber"></span> '
    'of <span class="totalPages"></span></div>'
)
# Chromium 131+ also draws the @page margin boxes: switch them off under its own footer.
_NO_MARGIN_BOXES = (
    "<style>@page { @bottom-right { content: none } @bottom-left { content: none } }</style>"
)


@contextlib.contextmanager
def _template_root() -> Iterator[Path]:
    """The folder that holds riskbench's nbconvert templates (``boardpack/``)."""
    folder = importlib.resources.files("riskbench.templates") / "nbconvert"
    with importlib.resources.as_file(folder) as path:
        yield Path(path)


def board_pack_html(outputs: RunOutputs, *, manifest: Mapping[str, Any] | None = None) -> str:
    """The board pack as one self-contained HTML page (CSS inlined, images as data URIs,
    no scripts, no code, nothing loaded from elsewhere).

    Parameters
    ----------
    outputs
        A scenario run's outputs.
    manifest
        The run's manifest for the provenance appendix; the run's ``meta`` when ``None``.

    Returns
    -------
    str
        The HTML text, as :func:`board_pack` writes it with ``format="html"``.
    """
    nb = board_pack_notebook(outputs, manifest=manifest)
    try:
        from nbconvert import HTMLExporter
    except ImportError:
        raise MissingDependencyError("nbconvert", "reports", purpose="The board pack") from None
    with _template_root() as root:
        exporter = HTMLExporter(  # type: ignore[no-untyped-call]
            template_name=TEMPLATE,
            extra_template_basedirs=[str(root)],
            exclude_input=True,
            exclude_input_prompt=True,
            exclude_output_prompt=True,
            sanitize_html=False,  # every fragment is built and escaped by riskbench
        )
        body, _ = exporter.from_notebook_node(nb)
    return str(body)


def _check_choice(field: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValidationError(
            [Issue(field, f"must be one of {', '.join(map(repr, allowed))}, got {value!r}")]
        )


def _weasyprint_available() -> bool:
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError):  # OSError: Pango or its libraries missing
        return False
    return True


def _choose_engine(engine: str) -> str:
    if engine != "auto":
        return engine
    if _weasyprint_available():
        return "weasyprint"
    if CHROMIUM.exists():
        return "chromium"
    raise MissingDependencyError(
        "weasyprint", "reports", purpose=f"A PDF board pack (without Chromium at {CHROMIUM})"
    )


def _weasyprint_pdf(html: str, target: Path, base_url: str) -> None:
    try:
        import weasyprint
    except (ImportError, OSError):
        raise MissingDependencyError(
            "weasyprint", "reports", purpose="A PDF board pack with engine='weasyprint'"
        ) from None
    # data: URIs only: the pack is self-contained and must render offline.
    fetcher = weasyprint.URLFetcher(allowed_protocols={"data"})
    weasyprint.HTML(string=html, base_url=base_url, url_fetcher=fetcher).write_pdf(target)


def _chromium_pdf(html: str, target: Path) -> None:
    if not CHROMIUM.exists():
        raise RiskbenchError(
            f"engine='chromium' needs Chromium at {CHROMIUM} (Debian package 'chromium'), "
            "which is missing; use engine='weasyprint' (pip install 'riskbench[reports]')"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise MissingDependencyError(
            "playwright", "reports", purpose="A PDF board pack with engine='chromium'"
        ) from None
    page_html = html.replace("</head>", f"{_NO_MARGIN_BOXES}</head>", 1)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            # Nothing leaves the machine: the page is self-contained.
            page.route("**/*", lambda route: route.abort())
            page.set_content(page_html, wait_until="load")
            page.pdf(
                path=str(target),
                format="A4",
                print_background=True,
                display_header_footer=True,
                header_template="<div></div>",
                footer_template=_CHROMIUM_FOOTER,
                margin={"top": "20mm", "right": "17mm", "bottom": "22mm", "left": "17mm"},
            )
        finally:
            browser.close()


def _outside_event_loop(work: Callable[[], None]) -> None:
    """Run ``work`` here, or in a worker thread when this thread runs an asyncio loop
    (a Jupyter kernel), where Playwright's sync API refuses to start."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        work()
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(work).result()


def _write_pdf(html: str, path: Path, engine: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        if engine == "weasyprint":
            _weasyprint_pdf(html, tmp, base_url=path.parent.resolve().as_uri())
        else:
            _outside_event_loop(lambda: _chromium_pdf(html, tmp))
        if tmp.stat().st_size == 0:
            raise RiskbenchError(f"the {engine} engine wrote an empty PDF for {path}")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def board_pack(
    outputs: RunOutputs,
    path: str | os.PathLike[str],
    *,
    format: Literal["pdf", "html"] = "pdf",
    engine: Literal["weasyprint", "chromium", "auto"] = "auto",
    manifest: Mapping[str, Any] | None = None,
) -> Path:
    """Write a scenario run's board pack: a PDF (or HTML) report for the board.

    The pack is drawn from the run's stored outputs alone, nothing is re-simulated:
    a cover page, then the sections of
    :data:`~riskbench.boardpack.notebook.SECTIONS`, each on a new page. It is built
    as a notebook (:func:`board_pack_notebook`) and converted with riskbench's
    nbconvert template; the HTML is self-contained and loads nothing from elsewhere.

    Parameters
    ----------
    outputs
        A scenario run's outputs (:func:`riskbench.runs.scenario_run` or
        :meth:`RunOutputs.load <riskbench.runs.RunOutputs.load>`).
    path
        The file to write; replaced atomically, so a failed render leaves what was
        there before (or nothing).
    format
        ``"pdf"`` or ``"html"`` (one page, images as data URIs).
    engine
        The PDF renderer: ``"weasyprint"``, ``"chromium"`` (Debian's Chromium through
        Playwright) or ``"auto"`` (WeasyPrint when installed, else Chromium).
        Ignored for HTML.
    manifest
        The run's manifest (parameters, seed, input hashes, package versions, git
        revision, start and end, status), shown in the provenance appendix; the run's
        ``meta`` when ``None``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValidationError
        A bad ``format`` or ``engine``, or outputs that lack what the pack needs.
    MissingDependencyError
        Neither WeasyPrint nor Chromium is there for a PDF (the ``reports`` extra).

    Examples
    --------
    >>> from riskbench.runs import RunOutputs
    >>> board_pack(RunOutputs(meta={}, tables={}), "pack.pdf", format="docx")
    Traceback (most recent call last):
    ...
    riskbench.errors.ValidationError: format: must be one of 'pdf', 'html', got 'docx'
    """
    _check_choice("format", format, FORMATS)
    _check_choice("engine", engine, ENGINES)
    target = Path(path)
    html = board_pack_html(outputs, manifest=manifest)
    if format == "html":
        return atomic_write_text(target, html)
    _write_pdf(html, target, _choose_engine(engine))
    return target
