"""Variants from VCF files (plain, gzip or BGZF), read with cyvcf2 (htslib).

A :class:`Variant` holds a **0-based** ``pos`` (VCF ``POS - 1``): the REF allele is
``genome.fetch(v.chrom, v.pos, v.pos + len(v.ref))``. htslib's log lines are switched off, and
its failures become :class:`InputError` naming the file, the record number and the line.
Two htslib hazards are guarded: a record it could not parse up to REF would crash the process
when read, and a blank or ``#`` line among the records can make it stop early without an error;
both are reported instead (the second by a look at the lines after the last record read).
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import cyvcf2

from seqformer.errors import InputError
from seqformer.io._files import open_binary, require_file
from seqformer.io.regions import missing_contig_message, suggest_contig


@dataclass(frozen=True)
class Variant:
    """One VCF record: contig, 0-based position of REF's first base, alleles and ID."""

    chrom: str
    pos: int  # 0-based (VCF POS - 1)
    ref: str
    alts: tuple[str, ...]  # () when ALT is '.'
    id: str | None  # None when ID is '.'

    @property
    def is_snv(self) -> bool:
        """One base replaced by one base in every ALT allele."""
        return len(self.ref) == 1 and bool(self.alts) and all(len(a) == 1 and a.isalpha() for a in self.alts)

    @property
    def is_indel(self) -> bool:
        """Some sequence ALT allele differs from REF in length (symbolic alleles do not count)."""
        return any(a.isalpha() and len(a) != len(self.ref) for a in self.alts)


_htslib_quiet = False


def _silence_htslib() -> None:
    """Switch off htslib's stderr log: every failure it reports becomes an InputError here."""
    global _htslib_quiet
    if not _htslib_quiet:
        try:
            ctypes.CDLL(cyvcf2.cyvcf2.__file__).hts_set_log_level(0)  # HTS_LOG_OFF
        except (OSError, AttributeError):  # a build without the symbol: messages stay on
            pass
        _htslib_quiet = True


def read_vcf(path: str | os.PathLike, *, rename_contigs: Mapping[str, str] | None = None) -> Iterator[Variant]:
    """Stream the variants of a VCF file.

    Args:
        path: ``.vcf``, or ``.vcf.gz`` compressed with bgzip or plain gzip.
        rename_contigs: e.g. ``{"20": "chr20"}`` to match a genome's contig names.

    Returns:
        An iterator of :class:`Variant`. The header is checked before this returns; bad records
        raise :class:`InputError` when reached.
    """
    path = require_file(path)
    _silence_htslib()
    try:
        reader = cyvcf2.VCF(str(path))
    except Exception:  # cyvcf2 raises OSError or a bare Exception for a bad header
        raise InputError(
            "not a VCF file: htslib cannot read its header (a VCF starts with '##fileformat=VCFv4.x' "
            "and has a '#CHROM' line)",
            path=path,
        ) from None
    return _variants(path, reader, dict(rename_contigs or {}))


def _variants(path: Path, reader: cyvcf2.VCF, rename: dict[str, str]) -> Iterator[Variant]:
    """The records of an opened VCF; at the end, a check that htslib did not stop early."""
    count = 0
    records = iter(reader)
    try:
        while True:
            try:
                record = next(records)
            except StopIteration:
                record = None
            except Exception:  # cyvcf2 raises a bare Exception for a record htslib cannot parse
                raise _diagnose(path, count + 1) or _unparsable(path, count + 1) from None
            # The end, or a record htslib could not parse up to REF (bad POS, too few columns, a
            # blank line), whose REF would crash if read: fine only where no records follow.
            if record is None or (not record.ALT and record.end <= record.start):
                error = _diagnose(path, count + 1)
                if error is not None:
                    raise error
                return
            count += 1
            ref, chrom = record.REF, record.CHROM
            if ref in ("", ".") or not chrom:
                raise _diagnose(path, count) or _unparsable(path, count)
            yield Variant(rename.get(chrom, chrom), record.start, ref, tuple(record.ALT), record.ID)
    finally:
        reader.close()


def _body_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(line number, line)`` for every line after the ``#CHROM`` header line."""
    with open_binary(path) as handle:
        in_body = False
        for number, line in enumerate(handle, 1):
            if in_body:
                yield number, line
            elif line.startswith(b"#CHROM"):
                in_body = True


def _is_record(line: bytes) -> bool:
    return bool(line.strip()) and not line.startswith(b"#")


def _unparsable(path: Path, number: int) -> InputError:
    return InputError(f"record {number}: htslib cannot parse it", path=path)


def _diagnose(path: Path, number: int) -> InputError | None:
    """What is wrong with htslib's record ``number``, the ``number``-th line after ``#CHROM``.

    htslib reads every line there as a record, and either stops or fails at a blank or ``#``
    line. Returns None when there is nothing wrong: that line does not exist, or only blank and
    ``#`` lines remain from it.
    """
    lines = _body_lines(path)
    for index, (line_number, line) in enumerate(lines, 1):
        if index == number:
            break
    else:
        return None
    if not _is_record(line):
        if not any(_is_record(rest) for _, rest in lines):
            return None
        kind = "a '#'" if line.startswith(b"#") else "a blank"
        return InputError(f"line {line_number}: {kind} line among the records; htslib cannot read past it, "
                          "so remove it", path=path)
    fields = line.decode("utf-8", errors="replace").rstrip("\r\n").split("\t")
    if len(fields) < 8:
        why = f"{len(fields)} tab-separated columns, expected 8 or more (CHROM POS ID REF ALT QUAL FILTER INFO)"
    elif not fields[0]:
        why = "CHROM is empty"
    elif not fields[1].isdigit() or int(fields[1]) < 1:
        why = f"POS {fields[1]!r} is not a whole number >= 1"
    elif fields[3] in ("", "."):
        why = "REF is missing"
    else:
        why = "htslib cannot parse it"
    return InputError(f"record {number} (line {line_number}): {why}", path=path)


def vcf_contigs(path: str | os.PathLike) -> list[str]:
    """The contigs the records of ``path`` use, in order of first appearance."""
    return list(dict.fromkeys(variant.chrom for variant in read_vcf(path)))


def check_vcf_contigs(variants_or_path: Iterable[Variant] | str | os.PathLike, genome) -> None:
    """Raise :class:`InputError` if a variant's contig is absent from ``genome`` or it runs off the end.

    Args:
        variants_or_path: a VCF path, or variants (an iterator is consumed).
        genome: a :class:`~seqformer.io.genome.Genome`, or a mapping contig name -> length.
    """
    path = None
    if isinstance(variants_or_path, (str, os.PathLike)):
        path = Path(variants_or_path)
        variants_or_path = read_vcf(path)
    contigs: Mapping[str, int] = getattr(genome, "contigs", genome)
    source = Path(genome.path).name if hasattr(genome, "path") else "the genome"
    for variant in variants_or_path:
        length = contigs.get(variant.chrom)
        if length is None:
            message = missing_contig_message(variant.chrom, contigs, source)
            suggestion = suggest_contig(variant.chrom, contigs)
            if suggestion is not None:
                message += (
                    f" Rename the VCF's contigs: read_vcf(..., rename_contigs={{{variant.chrom!r}: "
                    f"{suggestion!r}}}), or `bcftools annotate --rename-chrs`"
                )
            raise InputError(message, path=path)
        if variant.pos + len(variant.ref) > length:
            raise InputError(
                f"variant at {variant.chrom}:{variant.pos + 1} runs past the end of {variant.chrom} "
                f"(length {length}) in {source}",
                path=path,
            )
