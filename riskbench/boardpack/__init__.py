"""The board pack: a scenario run's outputs as a PDF or HTML report for the board.

:func:`board_pack` writes it; :func:`board_pack_html` and :func:`board_pack_notebook`
give the page and the notebook it is made from. The formatting helpers are the one
place that decides how numbers read (see :mod:`riskbench.boardpack.formatting`).

Needs the ``reports`` extra (nbconvert, nbformat, matplotlib and WeasyPrint); the
``chromium`` engine needs Playwright and Debian's Chromium instead of WeasyPrint.

Modules, imports pointing one way::

    formatting   numbers as words: amounts, probabilities, ratios, counts, years
    charts       matplotlib charts from the stored tables, as PNG bytes
    notebook     the sections as an nbformat notebook
    render       nbconvert template -> HTML -> PDF (WeasyPrint or Chromium)
"""

from riskbench.boardpack.formatting import (
    format_amount,
    format_count,
    format_probability,
    format_ratio,
    format_years,
)
from riskbench.boardpack.notebook import REPORT_TITLE, SECTIONS, board_pack_notebook
from riskbench.boardpack.render import board_pack, board_pack_html

__all__ = [
    "REPORT_TITLE",
    "SECTIONS",
    "board_pack",
    "board_pack_html",
    "board_pack_notebook",
    "format_amount",
    "format_count",
    "format_probability",
    "format_ratio",
    "format_years",
]
