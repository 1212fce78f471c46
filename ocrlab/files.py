"""Files in and out. Text files are read with errors that name the file and line. Files and
folders are written so that a crash or a bad input never leaves a half-written one: everything
is written beside its target under a temporary name and renamed over it (``os.replace``,
atomic on one file system). Checkpoints, datasets, logs, reports and figures are all written
through here."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import DataError

__all__ = [
    "atomic_dir",
    "atomic_file",
    "read_text_lines",
    "write_bytes",
    "write_json",
    "write_text",
]


def read_text_lines(path: str | os.PathLike[str]) -> Iterator[str]:
    """Lines of a UTF-8 text file without their line endings (a leading BOM dropped).

    Raises DataError naming the file when it is missing or a directory, and ``file:line`` for a
    line that is not valid UTF-8. A generator: the checks run when iteration starts.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a text file")
    try:
        with path.open("rb") as f:
            for lineno, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise DataError(
                        f"{path}:{lineno}: not valid UTF-8 ({err.reason} at byte {err.start})"
                    ) from None
                if lineno == 1:
                    line = line.removeprefix("\ufeff")
                yield line.rstrip("\r\n")
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None


# -- specs --------------------------------------------------------------------------------------


@contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (its folder is created); when the block ends
    without error the file written there replaces ``path``, otherwise it is deleted and
    ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically; returns the path."""
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike[str], data: Any, *, indent: int = 2) -> Path:
    """Write ``data`` as indented UTF-8 JSON (non-ASCII kept, a final newline) atomically."""
    return write_text(path, json.dumps(data, indent=indent, ensure_ascii=False) + "\n")


@contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``target``; when the block ends without error it
    replaces ``target`` (an existing one is moved aside first and deleted after, with renames
    only), otherwise it is deleted and ``target`` is untouched. Whether an existing
    ``target`` may be replaced is the caller's question."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    if not target.exists():
        os.replace(tmp, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.replace(target, old)  # an empty folder is replaced by a rename
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        _remove(tmp)
        raise
    _remove(old)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink()
