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
    "show",
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


def show(obj: Any, *, title: str = "riskbench") -> Any:
    """``obj`` ready to display, the same in JupyterLab, Voila and ``panel serve``.

    In Voila the Panel object becomes a ``jupyter_bokeh`` ipywidget whose Bokeh
    document links Panel's stylesheets from the Voila server (:func:`voila_dist_url`)
    rather than from cdn.holoviz.org, for the first render and every update. Elsewhere
    it is the Panel object, marked servable for ``panel serve``.
    """
    import panel as pn

    extension()
    if not in_voila():
        return pn.panel(obj).servable(title=title)
    from bokeh.document import Document
    from jupyter_bokeh.widgets import BokehModel

    doc = Document()
    doc._template_variables["dist_url"] = voila_dist_url()
    model = pn.panel(obj).get_root(doc=doc)
    doc.add_root(model)
    return BokehModel(model, combine_events=True)


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
        kwargs.setdefault("comms", "ipywidgets")
    pn.extension(inline=True, **kwargs)
    hv.extension("bokeh", inline=True)
    _loaded = True
