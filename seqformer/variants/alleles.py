"""VCF records → the ALT alleles that can be scored, each checked against the genome.

Axes: N alleles. A record with several ALTs is split into one :class:`Allele` per ALT. An allele is
scored when all of these hold; otherwise it is skipped and counted under the reason in brackets:

- the record has an ALT (``.`` is [no_alt]), the ALT is a sequence of IUPAC letters (``<DEL>``,
  ``*`` and breakends are [symbolic]) and differs from REF [no_change];
- its contig is in the genome, as named or through an unambiguous rename (``20`` ↔ ``chr20``,
  ``MT`` ↔ ``chrM``: :class:`ContigMatcher`) [contig];
- REF lies on the contig [off_contig: POS or REF's end past the contig's end] and equals the
  genome's bases there, case-insensitively [ref_mismatch];
- "short": after :func:`trim_alleles`, neither REF nor ALT is longer than ``max_allele`` bases
  (default 50) nor than the window [long].
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from seqformer.io.sequence import IUPAC_DNA
from seqformer.io.vcf import Variant

#: longest trimmed REF or ALT (bases) that counts as a short variant.
MAX_ALLELE = 50
#: skip reasons, in report order.
SKIP_REASONS = ("ref_mismatch", "contig", "off_contig", "long", "symbolic", "no_alt", "no_change")
_MITO = {"MT": ("chrM", "M"), "chrM": ("MT", "M"), "M": ("chrM", "MT"), "chrMT": ("MT", "chrM")}
_EXAMPLES = 5  # REF mismatches quoted in the report


def trim_alleles(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """The minimal representation of a REF/ALT pair: ``(pos, ref, alt)``, 0-based ``pos``.

    The common suffix, then the common prefix, is trimmed while both alleles keep at least one
    base, so an indel keeps its VCF anchor base: ``(9, "GAA", "GA")`` → ``(9, "GA", "G")``,
    ``(9, "CAT", "CGT")`` → ``(10, "A", "G")``, ``(9, "A", "ACCA")`` stays as it is.
    """
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        pos, ref, alt = pos + 1, ref[1:], alt[1:]
    return pos, ref, alt


@dataclass(frozen=True)
class Allele:
    """One ALT allele of a VCF record that passed every check (see the module docstring)."""

    chrom: str  # the genome's name of the contig (after any rename)
    vcf_chrom: str  # the contig as the VCF names it
    pos: int  # 0-based position of the record's REF (VCF POS - 1)
    id: str | None  # the record's ID; None for '.'
    ref: str  # REF as in the VCF (uppercased)
    alt: str  # this ALT (uppercased)
    record: int  # 1-based record number in the VCF
    alt_index: int  # 0-based index of this ALT among the record's ALTs

    def trimmed(self) -> tuple[int, str, str]:
        """:func:`trim_alleles` of this allele: ``(0-based pos, ref, alt)``."""
        return trim_alleles(self.pos, self.ref, self.alt)


class ContigMatcher:
    """VCF contig names → genome contig names: the same name, or an unambiguous rename.

    A name absent from the genome is matched to the one genome contig among its aliases: with or
    without ``chr`` (``20`` ↔ ``chr20``), and ``MT``/``M``/``chrM``. No alias or several present:
    no match. ``renamed`` records every rename made, ``missing`` the names left unmatched.
    """

    def __init__(self, contigs: Mapping[str, int]) -> None:
        self.contigs = dict(contigs)
        self.renamed: dict[str, str] = {}
        self.matched: set[str] = set()  # VCF names that matched, renamed or not
        self.missing: set[str] = set()
        self._cache: dict[str, str | None] = {}

    def __call__(self, name: str) -> str | None:
        """The genome's contig for VCF contig ``name``, or None."""
        if name not in self._cache:
            self._cache[name] = self._match(name)
        return self._cache[name]

    def _match(self, name: str) -> str | None:
        if name in self.contigs:
            self.matched.add(name)
            return name
        aliases = [name[3:] if name.lower().startswith("chr") else "chr" + name, *_MITO.get(name, ())]
        found = list(dict.fromkeys(alias for alias in aliases if alias in self.contigs))
        if len(found) == 1:
            self.renamed[name] = found[0]
            self.matched.add(name)
            return found[0]
        self.missing.add(name)
        return None


@dataclass
class AlleleCounts:
    """What happened to the alleles of a VCF: how many were scored, and why others were skipped."""

    records: int = 0  # VCF records read
    alleles: int = 0  # ALT alleles read (a record with ALT '.' counts one)
    scored: int = 0  # alleles that passed every check
    skipped: Counter = field(default_factory=Counter)  # reason -> alleles (SKIP_REASONS)
    mismatches: list[str] = field(default_factory=list)  # the first few REF mismatches, for the report
    mismatched_records: int = 0  # records whose REF does not match the genome

    def skip(self, reason: str, alleles: int = 1) -> None:
        self.skipped[reason] += alleles


def is_sequence_allele(allele: str) -> bool:
    """Whether ``allele`` is bases (IUPAC letters), not symbolic (``<DEL>``, ``*``, breakends)."""
    return bool(allele) and set(allele.upper()) <= IUPAC_DNA


def checked_alleles(variants: Iterable[Variant], genome, counts: AlleleCounts, matcher: ContigMatcher, *,
                    window: int, max_allele: int = MAX_ALLELE) -> Iterator[tuple[Variant, list[Allele]]]:
    """For each VCF record, ``(record, its alleles that can be scored)`` (maybe none), updating ``counts``.

    Args:
        variants: from :func:`~seqformer.io.vcf.read_vcf` (contigs as named in the VCF).
        genome: a :class:`~seqformer.io.genome.Genome` (``contigs`` and ``fetch``).
        counts: updated as records are read (see :class:`AlleleCounts`).
        matcher: maps the VCF's contig names to the genome's.
        window: the longest trimmed allele the windows can hold (with ``max_allele``).
        max_allele: the longest trimmed REF or ALT of a short variant.
    """
    longest = min(max_allele, window)
    for number, variant in enumerate(variants, 1):
        counts.records += 1
        counts.alleles += max(1, len(variant.alts))
        yield variant, _record_alleles(variant, number, genome, counts, matcher, longest)


def _record_alleles(variant: Variant, number: int, genome, counts: AlleleCounts, matcher: ContigMatcher,
                    longest: int) -> list[Allele]:
    """The scorable alleles of one record (see :func:`checked_alleles`)."""
    if not variant.alts:
        counts.skip("no_alt")
        return []
    chrom = matcher(variant.chrom)
    if chrom is None:
        counts.skip("contig", len(variant.alts))
        return []
    ref = variant.ref.upper()
    if variant.pos + len(ref) > matcher.contigs[chrom]:
        counts.skip("off_contig", len(variant.alts))
        return []
    found = genome.fetch(chrom, variant.pos, variant.pos + len(ref))
    if found != ref:
        counts.skip("ref_mismatch", len(variant.alts))
        counts.mismatched_records += 1
        if len(counts.mismatches) < _EXAMPLES:
            counts.mismatches.append(f"{variant.chrom}:{variant.pos + 1} REF {ref} but the genome has {found}")
        return []
    alleles = []
    for index, alt in enumerate(variant.alts):
        alt = alt.upper()
        if not is_sequence_allele(alt):
            counts.skip("symbolic")
        elif alt == ref:
            counts.skip("no_change")
        elif max(len(a) for a in trim_alleles(0, ref, alt)[1:]) > longest:
            counts.skip("long")
        else:
            alleles.append(Allele(chrom, variant.chrom, variant.pos, variant.id, ref, alt, number, index))
    counts.scored += len(alleles)
    return alleles


def skip_report(counts: AlleleCounts, matcher: ContigMatcher, source: str, max_allele: int = MAX_ALLELE) -> list[str]:
    """Lines for stderr: renames made, contigs not found, REF mismatches (with examples), other skips."""
    lines = [f"contig {name!r} in the VCF read as {genome_name!r} of {source}"
             for name, genome_name in matcher.renamed.items()]
    mismatched = counts.skipped.get("ref_mismatch", 0)
    if mismatched:
        lines.append(f"skipped {mismatched:,} allele(s) whose REF does not match {source}: "
                     + "; ".join(counts.mismatches)
                     + ("; ..." if counts.mismatched_records > len(counts.mismatches) else ""))
    what = {"long": f"REF or ALT (trimmed) longer than {max_allele} bases or the window",
            "symbolic": "symbolic ALT (<...>, *, breakend)", "no_alt": "no ALT ('.')", "no_change": "ALT equal to REF",
            "off_contig": f"REF runs past the end of its contig in {source}",
            "contig": f"on contigs not in {source}: {missing_contigs(matcher)}"}
    for reason in SKIP_REASONS[1:]:
        if counts.skipped.get(reason):
            lines.append(f"skipped {counts.skipped[reason]:,} allele(s): {what[reason]}")
    return lines


def missing_contigs(matcher: ContigMatcher, shown: int = 5) -> str:
    """``chr3, chrUn (the genome has chr1, chr2)``: the VCF contigs left unmatched and a few of the genome's."""
    def listed(names: list[str]) -> str:
        return ", ".join(names[:shown]) + (f", ... ({len(names)} in all)" if len(names) > shown else "")

    return f"{listed(sorted(matcher.missing))} (the genome has {listed(list(matcher.contigs))})"
