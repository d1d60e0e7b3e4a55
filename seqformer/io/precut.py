"""Pre-cut sequences whose FASTA headers carry their genome coordinates.

Coordinates here are returned 0-based, half-open. A header names its interval as
``chrom:start-end`` anywhere in the line (the last such token counts), e.g.
``>NM_078863_up_2000_chr2L_16764737_f chr2L:16764737-16766736`` or ``>chr14:77423023-77423223``.
Two conventions exist and files do not say which they use, so it is told from the records:

- **1-based, inclusive** (samtools, UCSC/Biostrings ``upstream2000`` files): a record's length is
  ``end - start + 1``; ``chr2L:16764737-16766736`` is [16764736, 16766736), 2,000 bases;
- **0-based, half-open** (BED, ``bedtools getfasta``): the length is ``end - start``.

``coords="auto"`` reads every record, takes the convention its unclipped records agree on, and
fails naming a record that fits neither (or when records disagree). A start below the contig start
(a negative or zero 1-based start, e.g. ``chr3R:-1646-353``: the interval ran off the contig when
it was cut) is clipped to the contig start: such a record must hold ``end`` bases (1-based) and
lies at [0, end).

The strand is ``-`` when the header marks it — ``(-)`` right after the coordinates (bedtools
``-s``) or an id ending in ``_r`` (Biostrings' ``_f``/``_r``) — and ``+`` otherwise. A minus-strand
record's bases are the reverse complement of its genome interval.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from seqformer.errors import InputError

COORDS = ("auto", "one-based", "zero-based")
_COORD_RE = re.compile(r"([^\s:>]+):(-?\d+)-(\d+)(\([+-]\))?")


@dataclass(frozen=True)
class PrecutRecord:
    """One pre-cut sequence and where it lies."""

    id: str  # the FASTA record id
    chrom: str
    start: int  # 0-based, clipped at 0
    end: int  # exclusive
    strand: str  # "+" or "-" (the record's bases are then the reverse complement of [start, end))
    seq: str  # as written (uppercased, checked)

    @property
    def clipped(self) -> bool:
        """Whether the written interval began before the contig."""
        return self.start == 0


def _parse(record_id: str, header: str, path: Path) -> tuple[str, int, int, str]:
    """(chrom, written start, written end, strand) of one header."""
    found = _COORD_RE.findall(header)
    if not found:
        raise InputError("the header carries no coordinates (chrom:start-end)", path=path, record=record_id)
    chrom, start, end, mark = found[-1]
    strand = "-" if mark == "(-)" or (not mark and record_id.endswith("_r")) else "+"
    return chrom, int(start), int(end), strand


def read_precut(path: str | Path, coords: str = "auto") -> tuple[list[PrecutRecord], str]:
    """Every record of a FASTA of pre-cut sequences, and the coordinate convention used.

    Args:
        path: the FASTA (plain or gzip).
        coords: ``auto``, ``one-based`` (inclusive) or ``zero-based`` (half-open); see the module docstring.
    """
    from seqformer.io import read_fasta

    if coords not in COORDS:
        raise InputError(f"--coords must be one of {', '.join(COORDS)}, got {coords!r}")
    path = Path(path)
    raw = []
    for record in read_fasta(path, alphabet="dna"):
        header = f"{record.id} {record.description}"
        raw.append((record, *_parse(record.id, header, path)))
    if not raw:
        raise InputError("no records", path=path)
    if coords == "auto":
        coords = _infer(raw, path)
    out = []
    for record, chrom, start, end, strand in raw:
        first = start - 1 if coords == "one-based" else start
        lo = max(first, 0)
        if end - lo != len(record.seq) or end <= lo:
            raise InputError(f"the header's {chrom}:{start}-{end} ({coords}) spans {end - lo} bases, but the "
                             f"record holds {len(record.seq)}", path=path, record=record.id)
        out.append(PrecutRecord(record.id, chrom, lo, end, strand, record.seq))
    return out, coords


def _infer(raw: list, path: Path) -> str:
    """The convention the unclipped records agree on."""
    seen: dict[str, str] = {}
    for record, chrom, start, end, _ in raw:
        if start < 1:
            continue  # clipped: fits both
        fits = [name for name, length in (("one-based", end - start + 1), ("zero-based", end - start))
                if length == len(record.seq)]
        if not fits:
            raise InputError(f"{chrom}:{start}-{end} spans neither {end - start + 1} bases (1-based, inclusive) "
                             f"nor {end - start} (0-based, half-open), but the record holds {len(record.seq)}",
                             path=path, record=record.id)
        seen.setdefault(fits[0], record.id)
        if len(seen) > 1:
            ones, zeros = seen.get("one-based"), seen.get("zero-based")
            raise InputError(f"records disagree on the coordinate convention ({ones!r} is 1-based, {zeros!r} "
                             "0-based); give --coords", path=path)
    return next(iter(seen), "one-based")
