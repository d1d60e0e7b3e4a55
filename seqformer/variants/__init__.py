"""Variant effects: VCF alleles scored by sequence classifiers and masked LMs, and saturation mutagenesis.

Axes: N alleles (one per VCF ALT), W bases per window, T targets (the classifier's labels),
L tokens. Data flows one way: :mod:`.alleles` (VCF records → checked ALT alleles) →
:mod:`.windows` (each allele → REF and ALT windows) → :mod:`.effect` (classifier Δp, Δlogit) and
:mod:`.mlm` (zero-shot log-likelihood ratio) → :mod:`.score` (the streaming VCF → TSV pipeline,
with :mod:`.vcf_out` for an annotated VCF). :mod:`.mutagenesis` mutates one window at every
position to every base. Coordinates are 0-based inside, VCF ``POS`` (1-based) in outputs.
"""

from seqformer.variants.alleles import Allele, ContigMatcher, trim_alleles
from seqformer.variants.effect import Effects, variant_effect
from seqformer.variants.mlm import allele_log_likelihood, mlm_llr, mlm_window
from seqformer.variants.mutagenesis import Mutagenesis, plot_mutagenesis, saturation_mutagenesis
from seqformer.variants.score import ScoreSummary, score_columns, score_vcf
from seqformer.variants.windows import AlleleWindows, allele_windows

__all__ = ["Allele", "AlleleWindows", "ContigMatcher", "Effects", "Mutagenesis", "ScoreSummary",
           "allele_log_likelihood", "allele_windows", "mlm_llr", "mlm_window", "plot_mutagenesis",
           "saturation_mutagenesis", "score_columns", "score_vcf", "trim_alleles",
           "variant_effect"]
