"""Exact import of published masked language models as seqformer model folders (``seqformer convert``).

Axes: B batch, L tokens, D width, V vocabulary.

Sources: Hugging Face ``EsmForMaskedLM`` (ESM-2, rotary; Nucleotide Transformer v1, learned
absolute positions), ``BertForMaskedLM`` (DNABERT 3- to 6-mers), ``BigBirdForMaskedLM``, and
fair-esm's ESM-2 ``.pt`` files. The converted :class:`~seqformer.models.MaskedLM` gives the
source's logits and hidden states within 1e-4 (fp32) on the same ids and carries a tokenizer that
reproduces the source vocabulary's ids.

- :mod:`~seqformer.convert.checkpoint`: detect the source, convert, write (:func:`convert_checkpoint`,
  :func:`convert_to_folder`);
- :mod:`~seqformer.convert.hf` and :mod:`~seqformer.convert.fair_esm`: one layout each;
- :mod:`~seqformer.convert.weights`: safe reading and the shared tensor surgery (rotary q/k rows);
- :mod:`~seqformer.convert.vocab`: which vocabularies convert, and their tokenizers;
- :mod:`~seqformer.convert.conversion`: the config + state dict + vocabulary a converter produces.
"""

from seqformer.convert.checkpoint import ConversionSummary, convert_checkpoint, convert_to_folder, read_checkpoint
from seqformer.convert.conversion import Conversion
from seqformer.convert.vocab import ESM_ALPHABET, Vocabulary, classify_vocabulary

__all__ = ["ESM_ALPHABET", "Conversion", "ConversionSummary", "Vocabulary", "classify_vocabulary",
           "convert_checkpoint", "convert_to_folder", "read_checkpoint"]
