"""The fixed ipywidgets manager that `make voila-static` gives Voila (see
widgets/voila_assets.py): the real extension's get_model poll waits 10 s and looks once
more before giving up, and nothing else in the extension changes."""

from __future__ import annotations

import filecmp
import sys
from pathlib import Path

import pytest

from riskbench.widgets.voila_assets import (
    EXTENSION,
    PATCHED_WAIT_MS,
    patch_get_model,
    write_widgets_manager,
)

SOURCE = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / EXTENSION

POLL = (
    "async get_model(e){let t=this._models[e];if(void 0===t){let o=Date.now();"
    "for(;Date.now()-o<2e3;){if(void 0!==(t=this._models[e]))return t;"
    'await new Promise(e=>setTimeout(e,100))}throw Error("widget model not found")}return t}'
)


def test_the_poll_waits_longer_and_looks_once_more() -> None:
    fixed = patch_get_model("x;" + POLL + ";y")
    assert fixed == (
        "x;async get_model(e){let t=this._models[e];if(void 0===t){let o=Date.now();"
        f"for(;Date.now()-o<{PATCHED_WAIT_MS};){{if(void 0!==(t=this._models[e]))return t;"
        "await new Promise(e=>setTimeout(e,100))}"
        "if(void 0!==(t=this._models[e]))return t;"
        'throw Error("widget model not found")}return t};y'
    )
    assert patch_get_model("no poll here") == "no poll here"


@pytest.mark.skipif(
    not SOURCE.is_dir(), reason="the ui extra (ipywidgets' lab extension) is not installed"
)
def test_the_real_extension_is_copied_with_one_file_fixed(tmp_path: Path) -> None:
    target = tmp_path / "labextensions" / EXTENSION
    patched = write_widgets_manager(SOURCE, target)
    original = SOURCE / "static" / patched.name
    assert POLL.split("for(")[0] in original.read_text()  # the poll we fix is there
    text = patched.read_text()
    assert f"Date.now()-o<{PATCHED_WAIT_MS}" in text
    assert "<2e3" not in text
    assert text.count('throw Error("widget model not found")') == 1
    differ = filecmp.dircmp(SOURCE / "static", target / "static")
    assert differ.diff_files == [patched.name]
    assert not differ.left_only
    assert not differ.right_only
    assert (target / "package.json").read_bytes() == (SOURCE / "package.json").read_bytes()


def test_an_extension_without_the_poll_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "ext"
    (source / "static").mkdir(parents=True)
    (source / "static" / "1.js").write_text("console.log(1)")
    with pytest.raises(RuntimeError, match="found none: this ipywidgets version may not need"):
        write_widgets_manager(source, tmp_path / "out" / "ext")
    assert not (tmp_path / "out" / "ext").exists()
