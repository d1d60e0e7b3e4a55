"""A model is a folder: ``config.json``, ``model.safetensors`` and ``tokenizer.json``.

Writing and reading one folder into a *given* class: generic over any model class that has a
``config_class`` (a dataclass with ``to_dict`` / ``from_dict``), is built as
``cls(config, tokenizer=...)``, and keeps ``.config`` and ``.tokenizer``. Which class a folder
holds is :func:`seqformer.models.loader.load_model`'s business (config.json's ``model_type``);
this module knows no model class. Weights are the full ``state_dict()``,
so persistent buffers (e.g. Performer random projections) travel with the parameters.
Loading refuses missing or unexpected weight keys, shape mismatches, and a tokenizer that does not
match the config; the loaded model carries its tokenizer and is in eval mode.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from seqformer.errors import InputError
from seqformer.io.atomic import give_usual_mode, temp_dir_beside
from seqformer.tokenizers import load_tokenizer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
MODEL_FILES = (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE)


class PretrainedModel(nn.Module):
    """Base for models stored as folders: adds ``save_pretrained`` and ``from_pretrained``."""

    config_class: ClassVar[type]
    config: Any
    tokenizer: Any

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write this model and its tokenizer to ``directory`` (see :func:`save_pretrained`)."""
        return save_pretrained(self, self.tokenizer, directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, map_location: str | torch.device = "cpu"):
        """Load a model of this class, with its tokenizer, from ``directory`` (HF-style alias of
        :func:`seqformer.models.load_model` with the class fixed)."""
        return read_model_folder(directory, cls, map_location=map_location)


def tokenizer_mismatches(config: Any, tokenizer: Any) -> list[str]:
    """How ``tokenizer`` disagrees with ``config`` (vocab_size, pad_id, the config's tokenizer dict)."""
    problems = []
    if tokenizer.vocab_size != config.vocab_size:
        problems.append(f"vocab_size {tokenizer.vocab_size} != config vocab_size {config.vocab_size}")
    if tokenizer.pad_id != config.pad_id:
        problems.append(f"pad_id {tokenizer.pad_id} != config pad_id {config.pad_id}")
    described = tokenizer.to_dict()
    for key, expected in (config.tokenizer or {}).items():
        if described.get(key) != expected:
            problems.append(f"{key} {described.get(key)!r} != config {key} {expected!r}")
    return problems


def save_pretrained(model: nn.Module, tokenizer: Any, directory: str | Path) -> Path:
    """Write ``config.json``, ``model.safetensors`` and ``tokenizer.json`` into ``directory``.

    The folder is written beside the target and renamed into place, so a failure leaves either the
    old folder or nothing. An existing folder is replaced only if it holds nothing but model files.
    Raises ValueError if the tokenizer is missing or does not match the model's config.
    """
    directory = Path(directory)
    if tokenizer is None:
        raise ValueError("a model folder needs the model's tokenizer; none was given")
    problems = tokenizer_mismatches(model.config, tokenizer)
    if problems:
        raise ValueError("tokenizer does not match the model config: " + "; ".join(problems))
    if directory.exists():
        if not directory.is_dir():
            raise InputError("exists and is not a folder", path=directory)
        others = sorted(p.name for p in directory.iterdir() if p.name not in MODEL_FILES)
        if others:
            raise InputError(f"refusing to replace a folder holding other files: {others}", path=directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(directory)
    try:
        with open(tmp / CONFIG_FILE, "w") as handle:
            json.dump(model.config.to_dict(), handle, indent=2)
            handle.write("\n")
        state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        give_usual_mode(tmp / WEIGHTS_FILE)  # safetensors writes it 0600
        tokenizer.save(tmp)
        _swap_into_place(tmp, directory)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return directory


def _swap_into_place(new: Path, target: Path) -> None:
    """Rename folder ``new`` onto ``target``, moving an existing ``target`` aside first."""
    if not target.exists():
        os.replace(new, target)
        return
    old = temp_dir_beside(target, ".old")
    os.replace(target, old)  # an empty folder is replaced by the old one
    try:
        os.replace(new, target)
    except OSError:
        os.replace(old, target)
        raise
    shutil.rmtree(old)


def read_model_folder(directory: str | Path, model_cls: type, map_location: str | torch.device = "cpu") -> nn.Module:
    """Load a model folder into ``model_cls``, with its tokenizer, in eval mode.

    Raises InputError naming the file for a missing file, a bad config, a tokenizer that does not
    match the config, missing or unexpected weight keys, or a weight of the wrong shape.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError("not a model folder (expected a folder with " + ", ".join(MODEL_FILES) + ")",
                         path=directory)
    missing_files = [name for name in MODEL_FILES if not (directory / name).is_file()]
    if missing_files:
        raise InputError(f"model folder lacks {missing_files}", path=directory)

    config_path = directory / CONFIG_FILE
    try:
        config = model_cls.config_class.from_dict(json.loads(config_path.read_text()))
    except (json.JSONDecodeError, ValueError) as err:
        raise InputError(f"bad model config: {err}", path=config_path) from err

    tokenizer = load_tokenizer(directory / TOKENIZER_FILE)
    problems = tokenizer_mismatches(config, tokenizer)
    if problems:
        raise InputError("tokenizer does not match config.json: " + "; ".join(problems),
                         path=directory / TOKENIZER_FILE)

    weights_path = directory / WEIGHTS_FILE
    try:
        state = load_file(str(weights_path), device=str(map_location))
    except (SafetensorError, OSError) as err:
        raise InputError(f"unreadable weights: {err}", path=weights_path) from err
    model = model_cls(config, tokenizer=tokenizer).to(map_location)
    _check_state(model.state_dict(), state, weights_path)
    model.load_state_dict(state, strict=True)
    return model.eval()


def _check_state(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], path: Path) -> None:
    """Raise InputError listing missing keys, unexpected keys and shape mismatches."""
    problems = []
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    for name in sorted(set(expected) & set(found)):
        if expected[name].shape != found[name].shape:
            problems.append(f"{name} has shape {tuple(found[name].shape)}, "
                            f"the config needs {tuple(expected[name].shape)}")
    if problems:
        raise InputError("weights do not fit the config: " + "; ".join(problems), path=path)
