"""Atomic file output: write to a temporary file beside the target, rename on success."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator


def _umask() -> int:
    """The process umask (read by setting it and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def give_usual_mode(path: str | Path) -> None:
    """Give a file (0666) or folder (0777) the mode the umask allows, as open() and mkdir() do.

    For files made by tools that create them private (``tempfile``, safetensors' writer).
    """
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~_umask())


def temp_dir_beside(path: str | Path, suffix: str = ".tmp") -> Path:
    """A new empty folder beside ``path`` (same file system, so it can be renamed onto it).

    Unlike ``tempfile.mkdtemp`` (mode 0700) it gets the usual mode, so renamed into place it is
    readable as any folder the user makes.
    """
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent))
    give_usual_mode(tmp)
    return tmp


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    give_usual_mode(tmp_path)  # mkstemp makes 0600
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file for writing; it replaces ``path`` only when the block succeeds."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as handle:
            yield handle


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a new empty folder beside ``path``; on success it replaces ``path`` (an old folder there is removed).

    If the block fails, the temporary folder is removed and ``path`` is left as it was.
    """
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(path)
    try:
        yield tmp
        old = None
        if path.exists():
            old = temp_dir_beside(path, ".old")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
