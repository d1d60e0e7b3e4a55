"""One loader for every model folder: config.json's ``model_type`` picks the class.

=======================  =====================================  ===============================
``model_type``           class                                  written by
=======================  =====================================  ===============================
``masked-lm``            :class:`~seqformer.models.mlm.MaskedLM`  ``seqformer pretrain``
``sequence-classifier``  :class:`~seqformer.models.classifier.SequenceClassifier`  ``seqformer finetune``
``token-classifier``     :class:`~seqformer.models.token_classifier.TokenClassifier`  ``seqformer finetune promoter-track``
(none)                   :class:`~seqformer.models.encoder.SeqEncoder`  ``SeqEncoder.save_pretrained``
=======================  =====================================  ===============================

Every model comes back with its tokenizer (``.tokenizer``), in eval mode, after the checks of
:func:`~seqformer.models.pretrained.read_model_folder` (missing or unexpected weight keys, shapes,
a tokenizer that does not fit the config). A pretraining run folder (holding ``model/``) loads
its final model.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from seqformer.errors import InputError
from seqformer.models.classifier import MODEL_TYPE as CLASSIFIER_TYPE
from seqformer.models.classifier import SequenceClassifier
from seqformer.models.encoder import SeqEncoder
from seqformer.models.mlm import MODEL_TYPE as MLM_TYPE
from seqformer.models.mlm import MaskedLM
from seqformer.models.pretrained import CONFIG_FILE, read_model_folder
from seqformer.models.token_classifier import MODEL_TYPE as TOKEN_CLASSIFIER_TYPE
from seqformer.models.token_classifier import TokenClassifier

#: model_type → class; a config.json without model_type is a bare encoder.
MODEL_CLASSES: dict[str | None, type[nn.Module]] = {MLM_TYPE: MaskedLM, CLASSIFIER_TYPE: SequenceClassifier,
                                                    TOKEN_CLASSIFIER_TYPE: TokenClassifier, None: SeqEncoder}
#: what a user calls each class, and the verb that makes one (for errors).
_DESCRIBED = {MaskedLM: ("a masked language model", "seqformer pretrain"),
              SequenceClassifier: ("a sequence classifier", "seqformer finetune"),
              TokenClassifier: ("a token classifier", "seqformer finetune promoter-track"),
              SeqEncoder: ("a bare encoder", "SeqEncoder.save_pretrained")}


def model_folder(path: str | Path) -> Path:
    """``path`` itself, or its ``model/`` when ``path`` is a pretraining run folder."""
    path = Path(path)
    if not (path / CONFIG_FILE).is_file() and (path / "model" / CONFIG_FILE).is_file():
        return path / "model"
    return path


def model_class(path: str | Path) -> type[nn.Module]:
    """The class a model folder's config.json names (InputError for an unknown model_type)."""
    config_path = model_folder(path) / CONFIG_FILE
    try:
        kind = json.loads(config_path.read_text()).get("model_type")
    except (json.JSONDecodeError, AttributeError) as err:
        raise InputError(f"bad model config: {err}", path=config_path) from None
    if kind not in MODEL_CLASSES:
        known = ", ".join(k for k in MODEL_CLASSES if k)
        raise InputError(f"unknown model_type {kind!r}; seqformer reads {known} and bare encoders", path=config_path)
    return MODEL_CLASSES[kind]


def load_model(path: str | Path, map_location: str | torch.device = "cpu", *,
               expect: type[nn.Module] | None = None) -> nn.Module:
    """The model in folder ``path`` (or a run folder's ``model/``) as the class its config.json names.

    Args:
        path: a model folder (config.json, model.safetensors, tokenizer.json) or a run folder holding ``model/``.
        map_location: the device the weights are loaded onto.
        expect: the class the caller needs (e.g. :class:`SequenceClassifier` to predict); any other
            kind is an InputError saying what the folder holds and which verb makes the right one.
    """
    folder = model_folder(path)
    if not (folder / CONFIG_FILE).is_file():  # read_model_folder names what is missing
        return read_model_folder(folder, expect or SeqEncoder, map_location=map_location)
    cls = model_class(folder)
    if expect is not None and cls is not expect:
        found, _ = _DESCRIBED.get(cls, (cls.__name__, ""))
        wanted, verb = _DESCRIBED.get(expect, (expect.__name__, ""))
        raise InputError(f"not {wanted}: the folder holds {found} (make {wanted.split(' ', 1)[1]} with `{verb}`)",
                         path=folder)
    return read_model_folder(folder, cls, map_location=map_location)
