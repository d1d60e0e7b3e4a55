"""Encoders (and later task models) and their model folders.

Axes: B batch, L tokens, D width. ``SeqEncoder`` maps token ids (B, L) to representations
(B, L, D); a model is stored as a folder of ``config.json``, ``model.safetensors`` and
``tokenizer.json`` (:mod:`seqformer.models.pretrained`).
"""

from seqformer.models.config import EncoderConfig
from seqformer.models.encoder import EncoderOutput, SeqEncoder
from seqformer.models.pretrained import PretrainedModel, load_pretrained, save_pretrained
from seqformer.models.mlm import MaskedLM, MaskedLMConfig, MaskedLMOutput, MaskedPredictions  # noqa: F401
from seqformer.models.classifier import load_model  # noqa: F401  (a folder as the model its config.json names)

__all__ = ["EncoderConfig", "EncoderOutput", "PretrainedModel", "SeqEncoder", "load_pretrained",
           "save_pretrained"]
