"""Indexed random access to a reference genome: plain FASTA or BGZF ``.fa.gz``, via pyfaidx.

Coordinates are 0-based, half-open (:mod:`seqformer.io.regions`). :meth:`Genome.fetch`
returns uppercase IUPAC DNA (soft-masking dropped), reverse-complemented for ``strand="-"``.
Opening checks the file once (exists, not empty, FASTA, BGZF rather than plain gzip, index
present or buildable); each fetch then does only integer bounds checks and one bulk alphabet check.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

import pyfaidx

from seqformer.errors import InputError
from seqformer.io._files import compression, require_file
from seqformer.io.fasta import FastaRecord, require_fasta_start
from seqformer.io.regions import Region, check_region, check_strand, parse_region
from seqformer.io.sequence import clean_dna, reverse_complement

_GZ_SUFFIXES = (".gz", ".bgz")
_CHUNK = 1 << 20  # bases per read from pyfaidx


class _GziBlock(pyfaidx.BgzfBlock):
    """A .gzi entry that makes pyfaidx find the block holding a byte that starts a block.

    pyfaidx reads from ``gzi_index[bisect_left(gzi_index, byte) - 1]``, one block too early when
    ``byte`` is the first of a block; with 64 KiB blocks (as Biopython writes them) that fails.
    Comparing with ``<=`` makes its ``bisect_left`` act as ``bisect_right``, which is right.
    """

    __slots__ = ()

    def __lt__(self, other) -> bool:
        return self.ustart <= other


def _can_write(folder: Path) -> bool:
    """Whether index files can be created in ``folder``."""
    return os.access(folder, os.W_OK)


def _check_compression(path: Path) -> bool:
    """Whether ``path`` is BGZF; :class:`InputError` for plain gzip or a misleading name."""
    kind = compression(path)
    named_gz = path.name.lower().endswith(_GZ_SUFFIXES)
    if kind == "gzip":
        plain = path.name[: -len(".gz")] if path.name.endswith(".gz") else path.name
        raise InputError(
            "compressed with plain gzip, but random access needs BGZF; recompress with "
            f"`zcat {path.name} | bgzip > {Path(plain).stem}.bgz{Path(plain).suffix}.gz` "
            f"(or `gunzip {path.name} && bgzip {plain}`)",
            path=path,
        )
    if kind == "bgzf" and not named_gz:
        raise InputError(f"BGZF-compressed, but its name does not end in .gz; rename it {path.name}.gz", path=path)
    if kind == "none" and named_gz:
        raise InputError("not compressed, but its name ends in .gz; rename it without .gz", path=path)
    return kind == "bgzf"


class Genome:
    """A FASTA reference opened for random access; use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = require_file(path)
        bgzf = _check_compression(self.path)
        require_fasta_start(self.path)
        index_files = [Path(f"{self.path}.fai")] + ([Path(f"{self.path}.gzi")] if bgzf else [])
        missing = [index for index in index_files if not index.exists()]
        writable = _can_write(self.path.parent)
        if missing and not writable:
            raise InputError(
                f"index {missing[0].name} is missing and the folder is read-only; copy the FASTA to a "
                f"writable folder, or run `samtools faidx {self.path}` where you can write",
                path=self.path,
            )
        try:
            self._faidx = self._open_index(writable)
            self._contigs = {name: record.rlen for name, record in self._faidx.index.items()}
            for number, (name, length) in enumerate(self._contigs.items(), 1):
                if length == 0:
                    raise InputError(f"record {number} has no sequence", path=self.path, record=name)
        except InputError:
            for index in missing:  # leave nothing half-made behind
                index.unlink(missing_ok=True)
            raise
        self._pid = os.getpid()

    def _open_index(self, writable: bool) -> pyfaidx.Faidx:
        """pyfaidx's reader, building a missing or stale index when the folder is writable."""
        try:
            faidx = pyfaidx.Faidx(str(self.path), as_raw=True, rebuild=writable, build_index=writable)
        except pyfaidx.FastaIndexingError as err:
            hint = "; every sequence line of a record but its last must have the same length"
            raise InputError(f"cannot index: {err}{hint if 'line length' in str(err).lower() else ''}",
                             path=self.path) from None
        except (ValueError, UnicodeDecodeError, OSError) as err:  # duplicate names, binary junk
            raise InputError(f"cannot index: {err}", path=self.path) from None
        if faidx._bgzf:
            faidx.gzi_index = [_GziBlock(*block) for block in faidx.gzi_index]
        return faidx

    @property
    def contigs(self) -> dict[str, int]:
        """Contig name -> length, in file order (a new dict on each call)."""
        return dict(self._contigs)

    def fetch(self, chrom: str, start: int, end: int, strand: str = "+") -> str:
        """Uppercase bases of 0-based, half-open ``[start, end)`` on ``chrom``, on ``strand``."""
        length = self._contigs.get(chrom)
        if length is None or not 0 <= start <= end <= length:
            check_region(chrom, start, end, self._contigs, source=self.path.name)
        if strand != "+":
            check_strand(strand)
        if os.getpid() != self._pid:  # a forked worker must not share the parent's file offset
            self._reopen()
        if start == end:
            return ""
        seq = clean_dna(self._read(chrom, start, end), path=self.path, record=chrom, offset=start)
        return reverse_complement(seq) if strand == "-" else seq

    def _read(self, chrom: str, start: int, end: int) -> str:
        """Raw bases of checked, non-empty ``[start, end)``, read in pieces of at most _CHUNK."""
        try:
            if end - start <= _CHUNK:  # Bio's BGZF reader is quadratic in the length of one read
                return self._faidx.from_file(chrom, start + 1, end)
            return "".join(
                self._faidx.from_file(chrom, piece + 1, min(piece + _CHUNK, end))
                for piece in range(start, end, _CHUNK)
            )
        except UnicodeDecodeError:
            raise InputError(f"a byte that is not text in {chrom}:{start + 1}-{end}", path=self.path) from None

    def fetch_region(self, region: Region, strand: str = "+") -> str:
        """Uppercase bases of ``region`` on ``strand``."""
        return self.fetch(region.chrom, region.start, region.end, strand)

    def region(self, text: str) -> Region:
        """Parse a samtools-style region (1-based, inclusive) and check it against this genome."""
        return parse_region(text, self._contigs, source=self.path.name)

    def records(self, targets: Iterable[tuple[Region, str]]) -> Iterator[FastaRecord]:
        """FASTA records named like ``chr20:1-100`` (``chr20:1-100(-)`` on the minus strand)."""
        for region, strand in targets:
            name = f"{region}(-)" if strand == "-" else str(region)
            yield FastaRecord(name, "", self.fetch_region(region, strand))

    def _reopen(self) -> None:
        self._faidx = self._open_index(writable=False)
        self._pid = os.getpid()

    def close(self) -> None:
        """Close the FASTA file."""
        self._faidx.close()

    def __enter__(self) -> Genome:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:
        return {"path": self.path}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"])

    def __repr__(self) -> str:
        return f"Genome({str(self.path)!r}, {len(self._contigs)} contigs)"
