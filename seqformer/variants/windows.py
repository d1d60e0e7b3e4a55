"""REF and ALT windows around a variant, each exactly ``window`` bases long.

Axes: W bases per window. An allele is first trimmed to its minimal representation
(:func:`~seqformer.variants.alleles.trim_alleles`: REF ``r`` bases at 0-based ``p``, ALT ``a``
bases; an indel keeps its anchor base). Each allele is then **centred in its own window**:

- REF window: ``left = (W - r) // 2`` genome bases before ``p``, the ``r`` REF bases, and
  ``W - r - left`` bases after them; i.e. the genome's ``[p - left, p - left + W)``.
- ALT window: ``left = (W - a) // 2`` genome bases before ``p``, the ``a`` ALT bases, then the
  genome from ``p + r`` (the first base after REF) for the remaining ``W - a - left`` bases.

So an SNV sits at index ``(W - 1) // 2`` of both windows with the same flanks; an insertion's ALT
window has fewer flanking bases than its REF window (``a > r``), a deletion's more, and both
windows keep the model's length. An odd leftover base goes to the right-hand (3') flank. Bases
beyond either end of the contig are ``N``. The reverse strand of a window is its reverse
complement, where the allele occupies ``[W - end, W - start)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqformer.io.sequence import reverse_complement


@dataclass(frozen=True)
class AlleleWindows:
    """The REF and ALT windows of one allele and where the (trimmed) alleles lie in them."""

    ref: str  # (W,) forward-strand bases with the REF allele centred
    alt: str  # (W,) forward-strand bases with the ALT allele centred
    ref_span: tuple[int, int]  # [start, end) of the trimmed REF allele in ``ref``
    alt_span: tuple[int, int]  # [start, end) of the trimmed ALT allele in ``alt``

    def reverse(self) -> AlleleWindows:
        """The same windows on the reverse strand (reverse complements, spans mirrored)."""
        w = len(self.ref)
        return AlleleWindows(reverse_complement(self.ref), reverse_complement(self.alt),
                             (w - self.ref_span[1], w - self.ref_span[0]), (w - self.alt_span[1], w - self.alt_span[0]))


def padded_fetch(genome, chrom: str, start: int, end: int) -> str:
    """Bases of 0-based half-open ``[start, end)`` on ``chrom``, ``N`` where it runs off either end."""
    length = genome.contigs[chrom]
    lo, hi = max(start, 0), min(end, length)
    inside = genome.fetch(chrom, lo, hi) if lo < hi else ""
    return "N" * (min(lo, end) - start) + inside + "N" * (end - max(hi, start))


def allele_windows(genome, chrom: str, pos: int, ref: str, alt: str, window: int) -> AlleleWindows:
    """REF and ALT windows of ``window`` bases for a trimmed allele at 0-based ``pos`` (module docstring).

    Args:
        genome: a :class:`~seqformer.io.genome.Genome` (or anything with ``contigs`` and ``fetch``).
        chrom, pos, ref, alt: the allele after :func:`~seqformer.variants.alleles.trim_alleles`;
            ``ref`` must be the genome's bases there (checked by the caller).
        window: W, the model's window length; both alleles must fit in it.
    """
    r, a = len(ref), len(alt)
    if max(r, a) > window:
        raise ValueError(f"an allele of {max(r, a)} bases does not fit in a window of {window}")
    left_ref = (window - r) // 2
    ref_seq = padded_fetch(genome, chrom, pos - left_ref, pos - left_ref + window)
    left_alt = (window - a) // 2
    alt_seq = (padded_fetch(genome, chrom, pos - left_alt, pos) + alt
               + padded_fetch(genome, chrom, pos + r, pos + r + window - a - left_alt))
    return AlleleWindows(ref_seq, alt_seq, (left_ref, left_ref + r), (left_alt, left_alt + a))
