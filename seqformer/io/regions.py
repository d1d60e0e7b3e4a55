"""Genomic regions and the one coordinate convention at the boundary with users.

Inside seqformer a :class:`Region` is **0-based, half-open**: ``Region("chr20", 50_000_000,
63_025_520)`` holds the bases ``seq[50_000_000:63_025_520]``, and ``len(region)`` is
``end - start``. Region strings on the command line and in messages are **samtools style,
1-based, inclusive**: ``chr20:50000001-63025520`` is that same region. Thousands separators are
allowed (``chr20:1,000-2,000``), and a bare contig name (``chr20``) means the whole contig.
``str(region)`` writes the samtools form, so ``parse_region(str(r)) == r``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

from seqformer.errors import InputError

_REGION = re.compile(r"(?P<chrom>\S+):(?P<start>[0-9][0-9,]*)-(?P<end>[0-9][0-9,]*)")


@dataclass(frozen=True)
class Region:
    """A 0-based, half-open interval ``[start, end)`` on contig ``chrom``."""

    chrom: str
    start: int  # 0-based, first base included
    end: int  # 0-based, first base after the region

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"Region needs 0 <= start <= end, got start={self.start}, end={self.end}")

    def __len__(self) -> int:
        return self.end - self.start

    def __str__(self) -> str:
        return f"{self.chrom}:{self.start + 1}-{self.end}"


def suggest_contig(name: str, contigs: Mapping[str, int] | list[str]) -> str | None:
    """A contig of ``contigs`` the user probably meant by ``name``: ``chr20`` for ``20`` and back."""
    candidates = [name[3:] if name.lower().startswith("chr") else "chr" + name]
    candidates += {"MT": ["chrM"], "chrM": ["MT"], "M": ["chrM", "MT"]}.get(name, [])
    for candidate in candidates:
        if candidate in contigs:
            return candidate
    by_case = {contig.lower(): contig for contig in contigs}
    if name.lower() in by_case:
        return by_case[name.lower()]
    close = difflib.get_close_matches(name, list(contigs), n=1, cutoff=0.75)
    return close[0] if close else None


def missing_contig_message(name: str, contigs: Mapping[str, int] | list[str], source: str | None) -> str:
    """``contig '20' not in genome.fa; did you mean 'chr20'?`` (or a few of the contigs there are)."""
    message = f"contig {name!r} not in {source or 'the genome'}"
    suggestion = suggest_contig(name, contigs)
    if suggestion is not None:
        return f"{message}; did you mean {suggestion!r}?"
    names = list(contigs)
    shown = ", ".join(names[:5]) + (f", ... ({len(names)} in all)" if len(names) > 5 else "")
    return f"{message}; it has {shown or 'no contigs'}"


def check_region(
    chrom: str, start: int, end: int, contigs: Mapping[str, int], *, source: str | None = None
) -> None:
    """Raise :class:`InputError` unless 0-based half-open ``[start, end)`` lies on ``chrom``."""
    if chrom not in contigs:
        raise InputError(missing_contig_message(chrom, contigs, source))
    length = contigs[chrom]
    where = f"region {chrom}:{start + 1}-{end}"
    if start < 0:
        raise InputError(f"{where} starts before position 1")
    if end < start:
        raise InputError(f"{where} ends before it starts")
    if end > length:
        raise InputError(f"{where} ends past the end of {chrom} (length {length})")


def parse_region(text: str, contigs: Mapping[str, int] | None = None, *, source: str | None = None) -> Region:
    """Parse ``chrom:start-end`` (1-based, inclusive, commas allowed) or a bare contig name.

    Args:
        text: the region as a user wrote it.
        contigs: contig name -> length; when given, the contig must exist and the region must lie
            on it. A bare contig name needs ``contigs`` (it means the whole contig).
        source: the genome's name, for messages.

    Returns:
        The 0-based, half-open :class:`Region`.
    """
    text = text.strip()
    if contigs is not None and text in contigs:  # whole contig; also covers names holding ':'
        return Region(text, 0, contigs[text])
    match = _REGION.fullmatch(text)
    if match is None:
        if text and ":" not in text and not any(c.isspace() for c in text):
            if contigs is None:
                raise InputError(f"region {text!r} has no coordinates; a whole contig needs the genome")
            raise InputError(missing_contig_message(text, contigs, source))
        raise InputError(
            f"malformed region {text!r}: expected chrom:start-end (1-based, inclusive, "
            "e.g. chr20:50000001-63025520) or a contig name"
        )
    chrom = match["chrom"]
    start1, end = (int(match[key].replace(",", "")) for key in ("start", "end"))
    if start1 < 1:
        raise InputError(f"region {text!r}: start must be 1 or more (coordinates are 1-based)")
    if start1 > end:
        raise InputError(f"region {text!r}: start {start1} is after end {end}")
    if contigs is not None:
        check_region(chrom, start1 - 1, end, contigs, source=source)
    return Region(chrom, start1 - 1, end)


def check_strand(strand: str) -> str:
    """``strand`` if it is ``+`` or ``-``; :class:`InputError` otherwise."""
    if strand not in ("+", "-"):
        raise InputError(f"strand must be '+' or '-', got {strand!r}")
    return strand


def subtract_ranges(region: Region, holes: Sequence[Region]) -> list[Region]:
    """``region`` minus ``holes`` (those on its contig), as sorted non-empty regions."""
    pieces, cursor = [], region.start
    for hole in sorted((h for h in holes if h.chrom == region.chrom), key=lambda h: h.start):
        if hole.end <= cursor or hole.start >= region.end:
            continue
        if hole.start > cursor:
            pieces.append(Region(region.chrom, cursor, hole.start))
        cursor = max(cursor, hole.end)
    if cursor < region.end:
        pieces.append(Region(region.chrom, cursor, region.end))
    return pieces
