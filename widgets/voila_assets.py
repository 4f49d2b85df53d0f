"""Build-time assets for riskbench's Voila pages: ``make voila-static`` runs this.

Voila (and the servers JupyterHub starts) look for JupyterLab extensions in
``templates/jupyter/labextensions`` before the environment's own, because riskbench
sets ``JUPYTER_PATH`` to ``templates/jupyter``. This module puts there a copy of the
ipywidgets manager extension (``@jupyter-widgets/jupyterlab-manager``) with one fix:

ipywidgets 8.1.9's ``get_model`` waits for a model that is not registered yet by
polling every 100 ms for 2 s, and gives up without a last look once the 2 s are over
(jupyter-widgets/ipywidgets#4026, partly fixed by #4033; #4040 is open). When the
browser's main thread is busy for longer than that, drawing the Bokeh documents of
the other components, a model registered meanwhile is reported as "widget model not
found" and its output is never drawn. The copy waits up to 10 s and looks once more
before giving up; nothing else changes.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

__all__ = ["PATCHED_WAIT_MS", "patch_get_model", "write_widgets_manager"]

EXTENSION = Path("@jupyter-widgets") / "jupyterlab-manager"
PATCHED_WAIT_MS = 10_000
# for(;Date.now()-o<2e3;){if(void 0!==(t=this._models[e]))return t;await new
# Promise(e=>setTimeout(e,100))}throw Error("widget model not found")  (minified)
_POLL = re.compile(
    r"for\(;Date\.now\(\)-(?P<start>\w+)<2e3;\)"
    r"\{if\(void 0!==\((?P<model>\w+)=this\._models\[(?P<id>\w+)\]\)\)return (?P=model);"
    r"await new Promise\((?P<r>\w+)=>setTimeout\((?P=r),100\)\)\}"
    r'throw Error\("widget model not found"\)'
)


def patch_get_model(source: str) -> str:
    """``source`` with the poll of ``get_model`` lengthened to 10 s and followed by a
    last look; unchanged if it holds no such poll."""

    def fixed(m: re.Match[str]) -> str:
        start, model, mid, r = m["start"], m["model"], m["id"], m["r"]
        look = f"if(void 0!==({model}=this._models[{mid}]))return {model};"
        return (
            f"for(;Date.now()-{start}<{PATCHED_WAIT_MS};){{{look}"
            f"await new Promise({r}=>setTimeout({r},100))}}{look}"
            'throw Error("widget model not found")'
        )

    return _POLL.sub(fixed, source)


def write_widgets_manager(source: Path, target: Path) -> Path:
    """Copy the extension folder ``source`` to ``target`` with ``get_model`` patched;
    the patched file. Raises RuntimeError if no file holds the poll (another
    ipywidgets version: check whether it still needs the fix)."""
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    patched = []
    for path in sorted((tmp / "static").glob("*.js")):
        text = path.read_text(encoding="utf-8")
        new = patch_get_model(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            patched.append(path.name)
    if len(patched) != 1:
        shutil.rmtree(tmp)
        raise RuntimeError(
            f"expected one file with ipywidgets' get_model poll in {source / 'static'}, "
            f"found {patched or 'none'}: this ipywidgets version may not need the fix"
        )
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(target)
    return target / "static" / patched[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("labextensions", type=Path, help="where to write the patched copy")
    args = parser.parse_args(argv)
    source = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / EXTENSION
    path = write_widgets_manager(source, args.labextensions / EXTENSION)
    print(f"patched ipywidgets get_model: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
