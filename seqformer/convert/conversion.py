"""What a converter produces: seqformer's config and state dict for a source checkpoint, and its vocabulary.

Axes: D width, F MLP width, V vocabulary.

A :class:`Conversion` is built by :mod:`seqformer.convert.hf` or :mod:`seqformer.convert.fair_esm`;
:meth:`Conversion.model` turns it into a :class:`~seqformer.models.MaskedLM` (strict state-dict
load), with the tokenizer that reproduces the source vocabulary or, for id-level work, without one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seqformer.convert.vocab import Vocabulary
from seqformer.errors import InputError
from seqformer.models import MaskedLM, MaskedLMConfig


@dataclass
class Conversion:
    """A source checkpoint translated to seqformer's names and layout."""

    source: str  # what was read, for the summary line, e.g. "HF EsmForMaskedLM (rotary)"
    path: Path  # the source file or folder
    config: MaskedLMConfig  # the model's config; its encoder's tokenizer description is filled in by model()
    state: dict[str, torch.Tensor]  # the MaskedLM state dict (seqformer names, fp32)
    vocab: Vocabulary  # the source vocabulary (ids in source order)

    def model(self, tokenizer: Any = None) -> MaskedLM:
        """The MaskedLM in eval mode; with a tokenizer, checked against it and carrying it.

        Raises InputError naming the source when the tokenizer's vocabulary size or pad id
        disagree with the weights.
        """
        config = self.config
        if tokenizer is not None:
            if tokenizer.vocab_size != config.vocab_size:
                raise InputError(f"the vocabulary has {tokenizer.vocab_size} tokens but the weights have "
                                 f"{config.vocab_size} rows", path=self.vocab.path or self.path)
            if tokenizer.pad_id != config.pad_id:
                raise InputError(f"the vocabulary's pad token has id {tokenizer.pad_id}, the model's pad_token_id is "
                                 f"{config.pad_id}", path=self.path)
            encoder = dataclasses.replace(config.encoder, tokenizer=tokenizer.to_dict())
            config = dataclasses.replace(config, encoder=encoder)
        model = MaskedLM(config, tokenizer=tokenizer)
        model.load_state_dict(self.state, strict=True)
        return model.eval()


def put(state: dict[str, torch.Tensor], name: str, pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    """Store a (weight, bias) pair as ``name.weight`` and ``name.bias``."""
    state[f"{name}.weight"], state[f"{name}.bias"] = pair


def put_block(state: dict[str, torch.Tensor], i: int, *, qkv, proj, norm_attention, fc_in, fc_out, norm_mlp) -> None:
    """Store block ``i``'s (weight, bias) pairs under seqformer's names."""
    prefix = f"encoder.blocks.{i}"
    for name, pair in (("attention.qkv", qkv), ("attention.proj", proj), ("norm_attention", norm_attention),
                       ("mlp.fc_in", fc_in), ("mlp.fc_out", fc_out), ("norm_mlp", norm_mlp)):
        put(state, f"{prefix}.{name}", pair)
