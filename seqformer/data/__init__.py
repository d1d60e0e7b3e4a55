"""Pretraining data: corpora cut into windows, and the masked-LM collator.

Axes: B batch, L tokens, W bases or residues per window. Data flows FASTA → corpus windows
(:mod:`~seqformer.data.dna`, :mod:`~seqformer.data.protein`) → tokenizer → masking
(:mod:`~seqformer.data.masking`) → :class:`MaskedBatch`. Every training batch is a function of
(seed, step, rank), which makes resuming exact and sharding among ranks trivial.
"""

from seqformer.data.config import ALPHABETS, DataConfig
from seqformer.data.corpus import Corpus, build_tokenizer, check_alphabet, check_letters, open_corpus, window_length
from seqformer.data.dna import GenomeWindows
from seqformer.data.loader import StepBatches, derived_seed, step_loader
from seqformer.data.masking import MaskedBatch, MaskingCollator, MaskingConfig, mask_tokens
from seqformer.data.protein import ProteinRecords

__all__ = [
    "ALPHABETS",
    "Corpus",
    "DataConfig",
    "GenomeWindows",
    "MaskedBatch",
    "MaskingCollator",
    "MaskingConfig",
    "ProteinRecords",
    "StepBatches",
    "build_tokenizer",
    "check_alphabet",
    "check_letters",
    "derived_seed",
    "mask_tokens",
    "open_corpus",
    "step_loader",
    "window_length",
]
