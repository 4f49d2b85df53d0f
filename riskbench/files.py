"""Files written whole or not at all, and their content hashes."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["atomic_write_text", "replace_dir", "riskbench_home", "sha256_file"]


def riskbench_home(home: str | os.PathLike[str] | None = None) -> Path:
    """Where riskbench keeps its embedded stores and artefacts: ``home``, else
    ``$RISKBENCH_HOME``, else ``~/.riskbench``."""
    if home is not None:
        return Path(home).expanduser()
    return Path(os.environ.get("RISKBENCH_HOME") or "~/.riskbench").expanduser()


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically: readers see the old file or the new one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def replace_dir(src: Path, dst: Path) -> None:
    """Put the finished folder ``src`` at ``dst``, replacing any folder there.

    Each rename is atomic; a reader sees the old folder, briefly none, then the new one,
    never a half-written one.
    """
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
