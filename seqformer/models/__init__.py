"""Encoders, task models (encoder + head) and their model folders.

Axes: B batch, L tokens, D width. ``SeqEncoder`` maps token ids (B, L) to representations
(B, L, D); :class:`MaskedLM` and :class:`SequenceClassifier` put a head on it. A model is stored as
a folder of ``config.json``, ``model.safetensors`` and ``tokenizer.json``
(:mod:`seqformer.models.pretrained`); :func:`load_model` reads any of them back as the class its
config names (:mod:`seqformer.models.loader`).
"""

from seqformer.models.classifier import ClassifierConfig, ClassifierOutput, SequenceClassifier
from seqformer.models.config import EncoderConfig
from seqformer.models.encoder import EncoderOutput, SeqEncoder
from seqformer.models.loader import load_model
from seqformer.models.mlm import MaskedLM, MaskedLMConfig, MaskedLMOutput, MaskedPredictions
from seqformer.models.pretrained import PretrainedModel, save_pretrained

__all__ = ["ClassifierConfig", "ClassifierOutput", "EncoderConfig", "EncoderOutput", "MaskedLM", "MaskedLMConfig",
           "MaskedLMOutput", "MaskedPredictions", "PretrainedModel", "SeqEncoder", "SequenceClassifier",
           "load_model", "save_pretrained"]
