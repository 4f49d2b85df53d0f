"""Panel and HoloViews set up for riskbench's components: offline, once per process.

Every component calls :func:`extension` before it builds its views: Bokeh, Panel and
HoloViews then ship their JavaScript inline (no CDN: risk teams run air-gapped), in
JupyterLab, in a Voilà page and in ``panel serve``.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "APPETITE_COLOURS",
    "KIND_COLOURS",
    "extension",
    "in_voila",
    "voila_dist_url",
]

_loaded = False

#: Colours of the impact matrix's appetite zones.
APPETITE_COLOURS = {"accept": "#4caf50", "monitor": "#ffb300", "treat": "#e53935"}
#: Colours of dependency-graph node kinds.
KIND_COLOURS = {
    "supplier": "#8e24aa",
    "site": "#3949ab",
    "system": "#00897b",
    "process": "#f4511e",
    "product": "#6d4c41",
    "revenue": "#43a047",
}


def in_voila() -> bool:
    """Whether this kernel runs a Voila page (Voila sets these in the kernel's
    environment)."""
    return any(k in os.environ for k in ("VOILA_KERNEL_ID", "VOILA_BASE_URL", "VOILA_APP_PORT"))


def voila_dist_url() -> str:
    """Where a Voila page loads Panel's stylesheets: Voila serves its template's
    ``static/`` folder, in which ``make voila-static`` links Panel's ``dist/`` as
    ``panel/``."""
    return f"{os.environ.get('VOILA_BASE_URL', '/')}voila/static/panel/"


def _voila_ipywidget(original: Any) -> Any:
    """Panel's ``ipywidget`` (how it displays any object in a Voila page), with the
    Bokeh document's ``dist_url`` set to :func:`voila_dist_url`, for the first render
    and for every later update (which Panel makes in the widget's own document)."""

    def ipywidget(obj: Any, doc: Any = None, **kwargs: Any) -> Any:
        from bokeh.document import Document

        url = voila_dist_url()
        doc = doc if doc is not None else Document()
        doc._template_variables["dist_url"] = url
        widget = original(obj, doc=doc, **kwargs)
        if widget._document is not None:
            widget._document._template_variables["dist_url"] = url
        return widget

    return ipywidget


def extension(**kwargs: Any) -> None:
    """``pn.extension(inline=True)`` and ``hv.extension("bokeh", inline=True)``, once.

    In a Voila page the components talk to the kernel through ipywidgets (the
    ``jupyter_bokeh`` model): Voila's page carries the ipywidgets machinery, while
    Panel's own Jupyter comms extension is not loaded there, so a slider would move
    without the kernel hearing of it.
    """
    global _loaded
    if _loaded:
        return
    import holoviews as hv
    import panel as pn

    if in_voila():
        # Components reach the kernel through ipywidgets there, and load Panel's
        # stylesheets from the Voila server rather than cdn.holoviz.org.
        import panel.io.notebook
        import panel.viewable

        kwargs.setdefault("comms", "ipywidgets")
        panel.viewable.ipywidget = _voila_ipywidget(panel.viewable.ipywidget)
        panel.io.notebook.ipywidget = _voila_ipywidget(panel.io.notebook.ipywidget)
    pn.extension(inline=True, **kwargs)
    hv.extension("bokeh", inline=True)
    _loaded = True
