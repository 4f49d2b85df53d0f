"""Panel and HoloViews set up for riskbench's components: offline, once per process.

Every component calls :func:`extension` before it builds its views: Bokeh, Panel and
HoloViews then ship their JavaScript inline (no CDN: risk teams run air-gapped), in
JupyterLab, in a Voilà page and in ``panel serve``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["APPETITE_COLOURS", "KIND_COLOURS", "extension"]

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


def extension(**kwargs: Any) -> None:
    """``pn.extension(inline=True)`` and ``hv.extension("bokeh", inline=True)``, once."""
    global _loaded
    if _loaded:
        return
    import holoviews as hv
    import panel as pn

    pn.extension(inline=True, **kwargs)
    hv.extension("bokeh", inline=True)
    _loaded = True
