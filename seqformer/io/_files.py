"""Opening users' files: existence, emptiness, and compression told from magic bytes, not names."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
from typing import IO, Literal

from seqformer.errors import InputError

Compression = Literal["none", "gzip", "bgzf"]

_GZIP_MAGIC = b"\x1f\x8b"


def require_file(path: str | os.PathLike, *, allow_empty: bool = False) -> Path:
    """``path`` as a :class:`Path`; :class:`InputError` when it is missing, a folder, or (unless allowed) empty."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=path)
    if path.is_dir():
        raise InputError("is a folder, not a file", path=path)
    if not allow_empty and (path.stat().st_size == 0 or not _has_content(path)):
        raise InputError("file is empty", path=path)
    return path


def compression(path: Path) -> Compression:
    """``"bgzf"``, ``"gzip"`` or ``"none"``, from the gzip header's BC extra subfield (SAM spec 4.1)."""
    with open(path, "rb") as handle:
        header = handle.read(12)
        if header[:2] != _GZIP_MAGIC:
            return "none"
        if len(header) < 12 or not header[3] & 0x04:  # FLG.FEXTRA
            return "gzip"
        (xlen,) = struct.unpack("<H", header[10:12])
        extra = handle.read(xlen)
    while len(extra) >= 4:
        si1, si2, slen = extra[0], extra[1], struct.unpack("<H", extra[2:4])[0]
        if (si1, si2) == (66, 67):  # "BC": the BGZF block size subfield
            return "bgzf"
        extra = extra[4 + slen:]
    return "gzip"


def open_binary(path: Path) -> IO[bytes]:
    """Open for reading bytes, decompressing gzip and BGZF."""
    if compression(path) == "none":
        return open(path, "rb")
    return gzip.open(path, "rb")


def open_text(path: Path) -> IO[str]:
    """Open for reading UTF-8 text with universal newlines (CRLF reads as LF), decompressing gzip."""
    if compression(path) == "none":
        return open(path, encoding="utf-8", newline=None)
    return gzip.open(path, "rt", encoding="utf-8", newline=None)


def _has_content(path: Path) -> bool:
    """Whether the (decompressed) file holds at least one byte."""
    try:
        with open_binary(path) as handle:
            return bool(handle.read(1))
    except (OSError, EOFError) as err:
        raise InputError(f"cannot decompress: {err}", path=path) from None


def first_text(path: Path) -> str:
    """The first non-whitespace character of the (decompressed) file, or ``""`` if there is none."""
    try:
        with open_binary(path) as handle:
            while chunk := handle.read(65536):
                stripped = chunk.lstrip()
                if stripped:
                    return chr(stripped[0])
    except (OSError, EOFError) as err:
        raise InputError(f"cannot decompress: {err}", path=path) from None
    return ""
