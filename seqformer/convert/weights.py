"""Reading source weights safely, and the tensor surgery every converter shares.

Axes: D width, H heads, Dh = D / H head width, F MLP width, V vocabulary.

Files are read without running code: ``*.safetensors`` with safetensors, ``*.bin`` / ``*.pt`` with
``torch.load(weights_only=True)`` (fair-esm's ``argparse.Namespace`` config is the one class
allowed besides tensors and containers). A sharded folder (``*.index.json``) reads each shard once.
Every tensor becomes fp32 (fp16/bf16 sources are upcast exactly), and every problem is an
:class:`InputError` naming the file: unreadable or truncated, a missing key, a key we do not know,
a shape that disagrees with the config.

Rotary layout: HF and fair-esm rotate the pairs (x_i, x_{i+Dh/2}) (``rotate_half``); seqformer
rotates (x_2i, x_2i+1) at the same frequency i. :func:`fuse_qkv` permutes each head's query and
key rows (new 2i ← old i, new 2i+1 ← old i + Dh/2), which maps one rotation exactly onto the other
and leaves every q·k product unchanged.
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, Iterable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from seqformer.errors import InputError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def load_torch_file(path: Path) -> Any:
    """``torch.load(weights_only=True)`` of a .bin/.pt file (argparse.Namespace allowed), InputError if unreadable."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, OSError, ValueError,
            AttributeError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"unreadable or truncated torch file ({first})", path=path) from None


def _load_weight_file(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of one safetensors or torch weights file."""
    if path.suffix == ".safetensors":
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as err:
            raise InputError(f"unreadable or truncated safetensors file ({err})", path=path) from None
    else:
        state = load_torch_file(path)
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise InputError("not a state dict (a mapping of names to tensors)", path=path)
    return dict(state)


def read_folder_weights(folder: Path) -> tuple[dict[str, torch.Tensor], Path]:
    """(state dict, the file or index it came from) of a Hugging Face model folder."""
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return _load_weight_file(folder / name), folder / name
    for name in INDEX_FILES:
        index = folder / name
        if index.is_file():
            try:
                shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
                raise InputError(f"bad shard index ({err})", path=index) from None
            state: dict[str, torch.Tensor] = {}
            for shard in shards:
                if not (folder / shard).is_file():
                    raise InputError(f"shard {shard} named in the index is missing", path=index)
                state.update(_load_weight_file(folder / shard))
            return state, index
    raise InputError("no weights: expected model.safetensors, pytorch_model.bin or a sharded *.index.json "
                     "(TensorFlow and Flax weights are not read)", path=folder)


class StateReader:
    """Takes tensors out of a source state dict by name, checking shapes; :meth:`finish` refuses leftovers.

    Args:
        state: the source state dict.
        path: the weights file, named in every error.
        ignored: regexes (``re.fullmatch``) of keys dropped on purpose (buffers, unused heads).
    """

    def __init__(self, state: dict[str, torch.Tensor], path: Path, ignored: Iterable[str] = ()) -> None:
        self.state, self.path = state, path
        self.ignored = [re.compile(pattern) for pattern in ignored]
        self.used: set[str] = set()

    def ignore(self, *patterns: str) -> None:
        """Also drop keys matching these regexes (e.g. a tied head's stored decoder)."""
        self.ignored += [re.compile(pattern) for pattern in patterns]

    def has(self, key: str) -> bool:
        """Whether the source holds ``key``."""
        return key in self.state

    def take(self, key: str, shape: tuple[int, ...]) -> torch.Tensor:
        """The tensor ``key`` as fp32, which must have ``shape`` (the config's)."""
        if key not in self.state:
            raise InputError(f"missing weight {key}", path=self.path)
        tensor = self.state[key]
        if tuple(tensor.shape) != tuple(shape):
            raise InputError(f"weight {key} has shape {tuple(tensor.shape)}, but config.json needs {tuple(shape)}",
                             path=self.path)
        self.used.add(key)
        return tensor.detach().to(torch.float32).contiguous()

    def linear(self, prefix: str, out_features: int, in_features: int, bias: bool = True
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight (out, in), bias (out,)) of a Linear ``prefix``; a missing bias with ``bias=False`` is zeros."""
        weight = self.take(f"{prefix}.weight", (out_features, in_features))
        if bias or self.has(f"{prefix}.bias"):
            return weight, self.take(f"{prefix}.bias", (out_features,))
        return weight, torch.zeros(out_features)

    def layer_norm(self, prefix: str, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) (D,) of a LayerNorm ``prefix``."""
        return self.take(f"{prefix}.weight", (width,)), self.take(f"{prefix}.bias", (width,))

    def finish(self) -> None:
        """Raise InputError for source keys neither used nor ignored on purpose."""
        left = sorted(key for key in self.state
                      if key not in self.used and not any(p.fullmatch(key) for p in self.ignored))
        if left:
            shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
            raise InputError(f"unexpected weight keys this converter does not know: {shown}", path=self.path)


def rename_legacy_layer_norms(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """TF-era BERT names (``LayerNorm.gamma`` / ``.beta``) as HF loads them (``.weight`` / ``.bias``)."""
    renamed = {}
    for key, value in state.items():
        key = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", key)
        renamed[re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", key)] = value
    return renamed


def interleave_rows(num_heads: int, head_dim: int) -> torch.Tensor:
    """Row order (D,) taking rotate_half's pairs (i, i + Dh/2) to interleaved pairs (2i, 2i+1) in every head."""
    half = torch.arange(head_dim // 2)
    within = torch.stack([half, half + head_dim // 2], dim=1).flatten()  # (Dh,): 0, Dh/2, 1, Dh/2+1, ...
    return (torch.arange(num_heads)[:, None] * head_dim + within).flatten()


def fuse_qkv(q: tuple[torch.Tensor, torch.Tensor], k: tuple[torch.Tensor, torch.Tensor],
             v: tuple[torch.Tensor, torch.Tensor], num_heads: int, rotary: bool
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """One (3D, D) weight and (3D,) bias from (weight, bias) of q, k, v; q and k rows interleaved for rotary."""
    if rotary:
        order = interleave_rows(num_heads, q[0].shape[0] // num_heads)
        q, k = (q[0][order], q[1][order]), (k[0][order], k[1][order])
    return torch.cat([q[0], k[0], v[0]]), torch.cat([q[1], k[1], v[1]])


def tied_or_own_decoder(decoder: torch.Tensor | None, embedding: torch.Tensor) -> torch.Tensor | None:
    """None when the decoder weight is absent or equals the embedding (tie them), else the decoder (V, D)."""
    if decoder is None or torch.equal(decoder, embedding):
        return None
    return decoder
