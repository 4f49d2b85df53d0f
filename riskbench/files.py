"""Files written whole or not at all, and their content hashes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from riskbench.errors import Issue, ValidationError

__all__ = [
    "atomic_write_text",
    "environ_set",
    "parse_yaml",
    "read_text",
    "read_yaml",
    "replace_dir",
    "riskbench_home",
    "sha256_file",
]


def riskbench_home(home: str | os.PathLike[str] | None = None) -> Path:
    """Where riskbench keeps its embedded stores and artefacts: ``home``, else
    ``$RISKBENCH_HOME``, else ``~/.riskbench``."""
    if home is not None:
        return Path(home).expanduser()
    return Path(os.environ.get("RISKBENCH_HOME") or "~/.riskbench").expanduser()


@contextlib.contextmanager
def environ_set(values: Mapping[str, str]) -> Iterator[None]:
    """Environment variables set to ``values`` for the block, then restored (or
    removed again if they were not set)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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


def parse_yaml(
    text: str, *, source: str | None = None, error: type[ValidationError] = ValidationError
) -> Any:
    """YAML (or JSON) text as Python data; a syntax error names the line and column."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        problem = getattr(err, "problem", None) or str(err)
        raise error([Issue("", f"not valid YAML at {where}: {problem}")], source=source) from None


def read_text(
    path: str | os.PathLike[str], *, error: type[ValidationError] = ValidationError
) -> str:
    """A UTF-8 text file's contents; a missing or unreadable file is a clear ``error``
    naming it, not a traceback."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error([Issue("", "no such file")], source=str(p)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise error([Issue("", f"cannot read the file: {err}")], source=str(p)) from None


def read_yaml(
    path: str | os.PathLike[str], *, error: type[ValidationError] = ValidationError
) -> tuple[Any, str]:
    """The data of a YAML file and its name (for error locations); a missing file or
    a syntax error is a clear ``error``, not a traceback."""
    name = Path(path).name
    return parse_yaml(read_text(path, error=error), source=name, error=error), name
