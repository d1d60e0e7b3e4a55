"""Analyses of trained models: attention maps and attention against substitution matrices.

Axes: B batch, N layers, H heads, L tokens, n letters (bases or residues), A = 20 amino acids.

- :mod:`~seqformer.analysis.attention`: attention per layer and head of any model (encoder, masked
  LM, classifier) as arrays over tokens or letters, long DataFrames and per-head statistics;
- :mod:`~seqformer.analysis.long_attention`: the same for inputs above the dense limit (up to the
  model's ``max_length``), read a chunk of query rows at a time and kept sparse (top-k keys per
  query), with exact per-head statistics; its figure is in :mod:`~seqformer.figures.attention_distance`;
- :mod:`~seqformer.analysis.substitution`: Vig et al. 2020's comparison of attention with BLOSUM62
  (or another matrix) beside a random control (docs/attention.md);
- :mod:`~seqformer.analysis.substitution_provis`: the same comparison as Vig et al.'s published code
  (salesforce/provis) computes it: edges above θ = 0.3 counted over a seeded sample of sequences;
- :mod:`~seqformer.analysis.motif_attention`: the share of attention landing on motif instances (FIMO
  scan of discovered or JASPAR PPMs) against the same intervals in other sequences, per layer and
  head (its heatmap: :mod:`seqformer.figures.motif_attention`);
- :mod:`~seqformer.analysis.maps`, :mod:`~seqformer.analysis.reports` and
  :mod:`~seqformer.analysis.reports_provis`: the files of ``seqformer attention maps`` and
  ``seqformer attention blosum`` (``--mode weighted``, ``--mode provis``); their figures are drawn by
  :mod:`seqformer.figures` (``attention``, ``substitution``).
"""

from seqformer.analysis.attention import (AttentionMaps, attention_frame, attention_probs, check_extractable,
                                          extraction_limit, head_statistics, letter_attention, sequence_attention)
from seqformer.analysis.long_attention import SparseAttentionMaps, sparse_sequence_attention, stream_attention
from seqformer.analysis.motif_attention import (attention_on_motifs, control_intervals, key_letter_mass,
                                                motif_instances, shares_on_motifs)
from seqformer.analysis.substitution import (AminoAcidAttention, MatrixComparison, SubstitutionAnalysis,
                                             amino_acid_attention, attention_correlations, matrix_correlation,
                                             random_control, substitution_analysis, substitution_matrix)
from seqformer.analysis.substitution_provis import EdgeCounts, ProvisBlosum, count_edges, provis_blosum, sample_indices

__all__ = ["AminoAcidAttention", "AttentionMaps", "EdgeCounts", "MatrixComparison", "ProvisBlosum",
           "SparseAttentionMaps", "SubstitutionAnalysis", "amino_acid_attention", "attention_correlations",
           "attention_frame", "attention_on_motifs", "attention_probs", "check_extractable", "control_intervals",
           "count_edges", "extraction_limit", "head_statistics", "key_letter_mass", "letter_attention",
           "matrix_correlation", "motif_instances", "provis_blosum", "random_control", "sample_indices",
           "sequence_attention", "shares_on_motifs", "sparse_sequence_attention", "stream_attention",
           "substitution_analysis", "substitution_matrix"]
