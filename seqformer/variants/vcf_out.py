"""An annotated copy of the input VCF: the scores as INFO fields, one value per ALT.

Axes: one record at a time. Every score column of the TSV (:func:`~seqformer.variants.score.score_columns`)
becomes an INFO field ``SF_<column>`` (characters VCF keys do not allow become ``_``), declared in
the header as ``Number=A,Type=Float`` with a description naming the target and metric. An ALT
that was not scored gets ``.``; a record none of whose ALTs was scored gets no such field.
Values are written as the same text as in the TSV. The header keeps every line of the input's and
declares each contig the records use with a ``##contig=<ID=...,length=...>`` line (the length from
the genome index; for a contig the input already declares, its own line is kept), so htslib readers
(bcftools, cyvcf2, pysam) find every record's contig defined. Records are read again from the input with
cyvcf2 in step with the scoring, written through cyvcf2's ``Writer`` to a temporary file, and
renamed onto the output only when every record is written (``.gz`` / ``.bgz`` outputs are bgzipped).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cyvcf2

from seqformer.errors import InputError
from seqformer.io.atomic import atomic_path
from seqformer.io.vcf import read_vcf

_NOT_IN_KEY = re.compile(r"[^0-9A-Za-z_.]")
PREFIX = "SF_"


@dataclass(frozen=True)
class InfoField:
    """One INFO field of the annotated VCF."""

    id: str  # the INFO key, e.g. SF_promoter_delta_logit
    column: str  # the TSV column whose values it carries, e.g. promoter_delta_logit
    description: str  # the header's Description


def info_fields(columns: Sequence[str], descriptions: Mapping[str, str]) -> list[InfoField]:
    """An :class:`InfoField` per score column; keys made VCF-safe and unique (``_2``, ``_3`` on clashes)."""
    fields, used = [], set()
    for column in columns:
        key = PREFIX + _NOT_IN_KEY.sub("_", column)
        base, n = key, 1
        while key in used:
            n += 1
            key = f"{base}_{n}"
        used.add(key)
        fields.append(InfoField(key, column, descriptions[column]))
    return fields


class AnnotatedVcfWriter:
    """Writes the input's records one by one with the scores of their ALTs (see :func:`annotated_vcf`)."""

    def __init__(self, reader: cyvcf2.VCF, writer: cyvcf2.Writer, fields: list[InfoField], source: Path) -> None:
        self._records = iter(reader)
        self._writer = writer
        self._fields = fields
        self._source = source
        self._count = 0

    def write(self, values: Sequence[Mapping[str, str] | None]) -> None:
        """Write the next record; ``values`` holds, per ALT, its column → text, or None if not scored."""
        record = next(self._records)
        self._count += 1
        if any(v is not None for v in values):
            for field in self._fields:
                record.INFO[field.id] = ",".join("." if v is None else v[field.column] for v in values)
        try:
            self._writer.write_record(record)
        except Exception as err:  # cyvcf2 raises a bare Exception with htslib's error code
            raise InputError(f"record {self._count}: htslib cannot write it back ({err}); is every INFO and "
                             "FORMAT key it uses declared in the header?", path=self._source) from None


def used_contigs(source: str | Path) -> list[str]:
    """The CHROM values of ``source``'s records, in first-seen order (one pass; a bad record is an InputError)."""
    return list(dict.fromkeys(variant.chrom for variant in read_vcf(source)))


def declared_contigs(reader: cyvcf2.VCF) -> set[str]:
    """The contigs the header declares with ``##contig`` lines."""
    return {rec.info()["ID"] for rec in reader.header_iter() if rec.type == "CONTIG"}


@contextlib.contextmanager
def annotated_vcf(source: str | Path, out: str | Path, fields: list[InfoField],
                  contig_lengths: Mapping[str, int | None] | None = None) -> Iterator[AnnotatedVcfWriter]:
    """A writer of ``source``'s records annotated with ``fields``, to ``out``, renamed into place on success.

    ``contig_lengths`` maps each contig name the records use (as the VCF spells it) to its length
    (None for a contig the genome lacks); those the input header does not declare get a ``##contig``
    line, with ``length`` where it is known.
    """
    source, out = Path(source), Path(out)
    reader = cyvcf2.VCF(str(source))
    try:
        declared = declared_contigs(reader)
        for name, length in (contig_lengths or {}).items():
            if name not in declared:
                reader.add_to_header(f"##contig=<ID={name}" + ("" if length is None else f",length={int(length)}") + ">")
        for field in fields:
            reader.add_info_to_header({"ID": field.id, "Number": "A", "Type": "Float",
                                       "Description": field.description})
        with atomic_path(out) as tmp:
            mode = "wz" if out.name.endswith((".gz", ".bgz")) else "w"
            writer = cyvcf2.Writer(str(tmp), reader, mode=mode)
            try:
                yield AnnotatedVcfWriter(reader, writer, fields, source)
            finally:
                writer.close()
    finally:
        reader.close()
