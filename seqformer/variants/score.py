"""Scoring a VCF: stream its records, score every short allele, write a TSV (and an annotated VCF).

Axes: N alleles per chunk, T targets. Records are read one chunk at a time (``batch_size // 4``
records: each allele makes four classifier windows), so memory does not grow with the VCF. Each
record's ALTs are checked (:mod:`.alleles`); the scorable ones get REF/ALT windows of the
classifier's ``config.window`` bases (:mod:`.windows`), classifier scores (:mod:`.effect`) and,
with a masked LM, ``mlm_llr`` on windows of that model's own length (:mod:`.mlm`).

The TSV has one row per scored allele, in VCF order: ``chrom pos id ref alt`` as in the VCF
(``pos`` 1-based, ``id`` ``.`` when missing; ``chrom`` is the VCF's name even when it was matched
to a renamed genome contig), then ``<target>_<metric>`` for each target and
:data:`~seqformer.variants.effect.METRICS`, then ``mlm_llr``. Numbers have 6 significant digits;
NaN is written ``.``. Both outputs are written to temporary files and renamed at the end, so an
error midway (a record htslib cannot parse) leaves neither.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seqformer.errors import InputError
from seqformer.io.atomic import atomic_open
from seqformer.io.vcf import read_vcf
from seqformer.predict.windows import batched
from seqformer.variants.alleles import (MAX_ALLELE, Allele, AlleleCounts, ContigMatcher, checked_alleles,
                                       missing_contigs, skip_report)
from seqformer.variants.effect import METRICS, variant_effect
from seqformer.variants.mlm import mlm_llr, mlm_window
from seqformer.variants.vcf_out import annotated_vcf, info_fields, used_contigs
from seqformer.variants.windows import allele_windows

ID_COLUMNS = ("chrom", "pos", "id", "ref", "alt")
MLM_COLUMN = "mlm_llr"
_DESCRIBE = {"p_ref": "probability of {t} with the REF allele", "p_alt": "probability of {t} with the ALT allele",
             "delta_p": "p_alt - p_ref of {t}", "delta_logit": "logit(p_alt) - logit(p_ref) of {t}",
             "abs_logit_x_abs_p": "|delta_logit| x |delta_p| of {t}"}


def score_columns(labels, mlm: bool = False) -> list[str]:
    """The score columns (after :data:`ID_COLUMNS`): ``<target>_<metric>`` per target, then ``mlm_llr``."""
    return [f"{label}_{metric}" for label in labels for metric in METRICS] + ([MLM_COLUMN] if mlm else [])


def _descriptions(labels) -> dict[str, str]:
    """Column → description for the annotated VCF's header."""
    out = {f"{label}_{metric}": f"seqformer score-variants: {_DESCRIBE[metric].format(t=repr(label))}, "
           "both strands averaged" for label in labels for metric in METRICS}
    out[MLM_COLUMN] = "seqformer score-variants: masked-LM log-likelihood ratio LL(ALT) - LL(REF)"
    return out


def _text(value: float) -> str:
    return "." if np.isnan(value) else f"{value:.6g}"


@dataclass
class ScoreSummary:
    """What :func:`score_vcf` did."""

    records: int  # VCF records read
    alleles: int  # ALT alleles read
    scored: int  # alleles scored (TSV rows)
    skipped: dict[str, int]  # reason -> alleles (see seqformer.variants.alleles)
    renamed: dict[str, str]  # VCF contig -> genome contig, for every rename made
    seconds: float  # wall time of the whole run
    report: list[str] = field(default_factory=list)  # lines for stderr: renames, REF mismatches, skips

    @property
    def variants_per_s(self) -> float:
        """Alleles scored per second."""
        return self.scored / self.seconds if self.seconds else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"records": self.records, "alleles": self.alleles, "scored": self.scored, "skipped": self.skipped,
                "ref_mismatches": self.skipped.get("ref_mismatch", 0), "renamed": self.renamed,
                "seconds": self.seconds, "variants_per_s": self.variants_per_s}


def score_vcf(model, genome, vcf: str | Path, out: str | Path, *, mlm=None, vcf_out: str | Path | None = None,
              batch_size: int = 64, device=None, max_allele: int = MAX_ALLELE,
              on_chunk: Callable[[int, int], None] | None = None) -> ScoreSummary:
    """Score every short allele of ``vcf`` with ``model`` (and ``mlm``); write the TSV ``out`` (module docstring).

    Args:
        model: a sequence classifier on ``device``, in eval mode.
        genome: the reference :class:`~seqformer.io.genome.Genome`.
        vcf: the variants (``.vcf``, ``.vcf.gz``).
        out: the TSV to write.
        mlm: a masked LM with a k-mer tokenizer, for ``mlm_llr``; None for no zero-shot score.
        vcf_out: also write ``vcf`` annotated with the scores (:mod:`.vcf_out`).
        batch_size: windows per forward pass.
        device: where inputs go (default: where the model is).
        max_allele: the longest trimmed REF or ALT scored.
        on_chunk: called after each chunk with (records read, alleles scored).

    Raises:
        InputError: a VCF htslib cannot parse, or one none of whose contigs is in the genome.
    """
    began = time.perf_counter()
    labels = model.config.labels
    columns = score_columns(labels, mlm is not None)
    window, mlm_bases = model.config.window, None if mlm is None else mlm_window(mlm)
    counts, matcher = AlleleCounts(), ContigMatcher(genome.contigs)
    records = checked_alleles(read_vcf(vcf), genome, counts, matcher, window=min(window, mlm_bases or window),
                              max_allele=max_allele)
    with atomic_open(out) as table, contextlib.ExitStack() as stack:
        annotated = None if vcf_out is None else stack.enter_context(
            annotated_vcf(vcf, vcf_out, info_fields(columns, _descriptions(labels)), _contig_lengths(vcf, genome)))
        table.write("\t".join((*ID_COLUMNS, *columns)) + "\n")
        for chunk in batched(records, max(1, batch_size // 4)):
            alleles = [allele for _, scorable in chunk for allele in scorable]
            values = _score(model, mlm, genome, alleles, window, mlm_bases, batch_size, device, columns)
            scored = iter(values)
            for allele, row in zip(alleles, values):
                table.write("\t".join((*_id_fields(allele), *(row[c] for c in columns))) + "\n")
            if annotated is not None:
                for variant, scorable in chunk:
                    annotated.write(_per_alt(len(variant.alts), scorable, scored))
            if on_chunk is not None:
                on_chunk(counts.records, counts.scored)
        source = Path(genome.path).name
        if matcher.missing and not matcher.matched:
            raise InputError(f"no variant scored: no contig of the VCF is in {source}: {missing_contigs(matcher)}",
                             path=vcf)
    return ScoreSummary(counts.records, counts.alleles, counts.scored, dict(counts.skipped), dict(matcher.renamed),
                        time.perf_counter() - began, skip_report(counts, matcher, source, max_allele))


def _id_fields(allele: Allele) -> tuple[str, ...]:
    """``chrom pos id ref alt`` of the allele's VCF record (POS 1-based)."""
    return allele.vcf_chrom, str(allele.pos + 1), allele.id or ".", allele.ref, allele.alt


def _per_alt(n_alts: int, scorable: list[Allele], scored) -> list[dict[str, str] | None]:
    """The values of each of a record's ALTs (None for the unscored), drawing the scored ones from ``scored``."""
    by_index = {allele.alt_index: next(scored) for allele in scorable}
    return [by_index.get(i) for i in range(n_alts)]


def _contig_lengths(vcf: str | Path, genome) -> dict[str, int | None]:
    """VCF contig name → length of the genome contig it matches (None if none), for each contig the records use."""
    matcher = ContigMatcher(genome.contigs)
    return {name: None if matcher(name) is None else genome.contigs[matcher(name)] for name in used_contigs(vcf)}


def _score(model, mlm, genome, alleles: list[Allele], window: int, mlm_bases: int | None, batch_size: int,
           device, columns: list[str]) -> list[dict[str, str]]:
    """Column → text for each allele."""
    if not alleles:
        return []
    trimmed = [(a.chrom, *a.trimmed()) for a in alleles]
    effects = variant_effect(model, [allele_windows(genome, *t, window) for t in trimmed],
                             batch_size=batch_size, device=device)
    scores = np.stack([effects.metric(metric) for metric in METRICS], axis=-1)  # (N, T, metrics)
    flat = scores.reshape(len(alleles), -1)  # (N, T * metrics), in score_columns order
    if mlm is not None:
        llr = mlm_llr(mlm, [allele_windows(genome, *t, mlm_bases) for t in trimmed], batch_size=batch_size,
                      device=device)
        flat = np.concatenate([flat, llr[:, None]], axis=1)
    return [dict(zip(columns, map(_text, row))) for row in flat]
