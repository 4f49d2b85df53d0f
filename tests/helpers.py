"""Small builders shared by the tests."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import riskbench as rb

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CARD = ROOT / "examples" / "register.yaml"


def scenario(
    sid: str = "s",
    frequency: rb.Distribution | None = None,
    severity: rb.Distribution | None = None,
    **kw: object,
) -> rb.Scenario:
    """A scenario with defaults, for tests."""
    return rb.Scenario(
        id=sid,
        title=kw.pop("title", sid.upper()),
        category=kw.pop("category", "other"),
        frequency=frequency if frequency is not None else rb.Poisson(rate=1.0),
        severity=severity if severity is not None else rb.Constant(1.0),
        **kw,
    )


def external_resources(text: str) -> list[str]:
    """The src/href of every <script> and stylesheet <link> that points off the page.

    Bokeh's inline bundle itself mentions cdn.jsdelivr (a MathJax loader used only
    for LaTeX labels), so the check is on what the page loads, not on any substring;
    Panel's page template links its favicon from cdn.holoviz.org (an icon, which an
    offline browser simply does not show), so icons are left out.
    """

    class Refs(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.refs: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found = dict(attrs)
            if tag == "link" and "icon" in (found.get("rel") or ""):
                return
            for key in ("src", "href"):
                value = found.get(key)
                if tag in ("script", "link") and value:
                    self.refs.append(value)

    parser = Refs()
    parser.feed(text)
    return [r for r in parser.refs if r.startswith(("http:", "https:", "//"))]
