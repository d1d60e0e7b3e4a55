"""The encoder's configuration: one frozen dataclass, validated when it is built.

Axes: L tokens, D width (``hidden_size``), H heads; each head has width D / H.
The attention kind's own options are checked here by building that kind's config dataclass
(and its ``check_encoder`` against the heads and ``max_length``, where the kind has one), so a bad
option fails at once with :class:`ValueError`, not deep inside a forward pass. ``reversible``,
``ffn_chunk_size`` and the layout fields that imported checkpoints need (``norm``, ``final_norm``,
``embedding_norm``, ``position="learned"`` with ``position_offset``, ``embedding_scale``,
``token_dropout`` with ``mask_id``, ``activation``) default to the plain pre-LN rotary encoder, so
model folders written before they existed load unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from seqformer.attention import ATTENTION_KINDS

POSITION_ENCODINGS = ("rope", "none", "learned")
NORMS = ("pre", "post")
ACTIVATIONS = ("gelu", "gelu_tanh")


@dataclass(frozen=True)
class EncoderConfig:
    """Everything needed to rebuild a :class:`~seqformer.models.encoder.SeqEncoder`."""

    vocab_size: int  # number of token ids (the tokenizer's vocab_size)
    pad_id: int = 0  # id of the padding token (the tokenizer's pad_id)
    hidden_size: int = 256  # D: width of every token representation
    num_layers: int = 2  # number of Transformer blocks (pre-LN unless norm is "post")
    num_heads: int = 4  # H: attention heads per block; D must divide by H
    ffn_size: int = 1024  # inner width of each block's GELU MLP
    dropout: float = 0.0  # dropout on the attention and MLP outputs (training only)
    attention: str = "dense"  # attention kind, a key of seqformer.attention.ATTENTION_KINDS
    attention_options: dict[str, Any] = field(default_factory=dict)  # fields of that kind's config
    position: str = "rope"  # "rope" (rotary, no table), "none", or "learned" (max_length + position_offset rows)
    position_offset: int = 0  # learned positions: token i reads row position_offset + i (ESM: pad id + 1 = 2; BERT: 0)
    rope_base: float = 10000.0  # rotary frequency base: head pair i turns at base ** (-2i / head width)
    max_length: int = 16384  # longest input the model takes (checked; RoPE needs no table)
    layer_norm_eps: float = 1e-5  # epsilon of every LayerNorm
    reversible: bool = False  # RevNet blocks (y1 = x1 + attention(x2), y2 = x2 + MLP(y1)): activations recomputed in backward
    ffn_chunk_size: int | None = None  # tokens per chunk of each MLP (same outputs, smaller peak); None = all at once
    norm: str = "pre"  # "pre": x + F(LN(x)) (ESM); "post": LN(x + F(x)) (BERT, BigBird), never reversible
    final_norm: bool = True  # a LayerNorm after the last block (pre-LN models); BERT and BigBird have none
    embedding_norm: bool = False  # a LayerNorm on the embeddings (after positions are added), as BERT does
    embedding_scale: float = 1.0  # token embeddings are multiplied by this (BigBird's rescale_embeddings: sqrt(D))
    token_dropout: bool = False  # ESM-2: zero <mask> embeddings, scale rows by 0.88 / (1 - mask share), eval too
    mask_id: int | None = None  # id of the mask token, which token_dropout zeroes (needed when it is on)
    activation: str = "gelu"  # MLP and LM head: "gelu" (exact, erf) or "gelu_tanh" (HF gelu_new, gelu_pytorch_tanh)
    seed: int = 0  # seed of random attention patterns / random features (layer i uses layer_index=i)
    tokenizer: dict[str, Any] | None = None  # tokenizer description (its to_dict() scalars), e.g. {"type": "kmer", "k": 6, "stride": 1}

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_layers", "num_heads", "ffn_size", "max_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"pad_id {self.pad_id} is outside the vocabulary [0, {self.vocab_size})")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} does not divide by num_heads {self.num_heads}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.position not in POSITION_ENCODINGS:
            raise ValueError(f"position must be one of {POSITION_ENCODINGS}, got {self.position!r}")
        if self.position == "rope" and self.head_dim % 2:
            raise ValueError(f"rotary embeddings need an even head width, got {self.head_dim}")
        offset = self.position_offset
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"position_offset must be a non-negative integer, got {offset!r}")
        for name in ("reversible", "final_norm", "embedding_norm", "token_dropout"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.reversible and self.norm == "post":
            raise ValueError("reversible blocks are pre-LN: norm 'post' cannot be reversible")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        scale = self.embedding_scale
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise ValueError(f"embedding_scale must be a positive number, got {scale!r}")
        object.__setattr__(self, "embedding_scale", float(scale))
        mask = self.mask_id
        bad_mask = isinstance(mask, bool) or not isinstance(mask, int) or not 0 <= mask < self.vocab_size
        if mask is not None and bad_mask:
            raise ValueError(f"mask_id {mask!r} is outside the vocabulary [0, {self.vocab_size})")
        if self.token_dropout and mask is None:
            raise ValueError("token_dropout needs mask_id (the id of the mask token it zeroes)")
        chunk = self.ffn_chunk_size
        if chunk is not None and (not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1):
            raise ValueError(f"ffn_chunk_size must be None or a positive integer, got {chunk!r}")
        if self.attention not in ATTENTION_KINDS:
            raise ValueError(f"unknown attention kind {self.attention!r}; choose from {sorted(ATTENTION_KINDS)}")
        if self.tokenizer is not None:
            if not isinstance(self.tokenizer, dict):
                raise ValueError(f"tokenizer must be a dict describing the tokenizer, got {self.tokenizer!r}")
            # Keep the defining scalars (type, version, k, stride); the vocabulary lives in tokenizer.json.
            scalars = {key: value for key, value in self.tokenizer.items()
                       if value is None or isinstance(value, (str, int, float, bool))}
            object.__setattr__(self, "tokenizer", scalars)
        # Normalise the options to every field of the kind's config, so config.json states them all.
        object.__setattr__(self, "attention_options", dataclasses.asdict(self.attention_config()))

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, **fields: Any) -> EncoderConfig:
        """A config whose vocab_size, pad_id and tokenizer description come from ``tokenizer``."""
        described = {"vocab_size": tokenizer.vocab_size, "pad_id": tokenizer.pad_id, "tokenizer": tokenizer.to_dict()}
        return cls(**{**described, **fields})

    @property
    def head_dim(self) -> int:
        """Width of one attention head (D / H)."""
        return self.hidden_size // self.num_heads

    def attention_config(self) -> Any:
        """The attention kind's config dataclass built from ``attention_options``."""
        config_cls, _ = ATTENTION_KINDS[self.attention]
        options = dict(self.attention_options or {})
        known = {f.name for f in dataclasses.fields(config_cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} for attention {self.attention!r}; "
                             f"its options are {sorted(known)}")
        try:
            config = config_cls(**options)
            check = getattr(config, "check_encoder", None)
            if check is not None:
                check(num_heads=self.num_heads, max_length=self.max_length)
        except (TypeError, ValueError) as err:
            raise ValueError(f"bad options for attention {self.attention!r}: {err}") from err
        return config

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderConfig:
        """Rebuild from :meth:`to_dict`'s output; unknown or missing required keys raise ValueError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} key(s) {unknown}; known keys are {sorted(known)}")
        try:
            return cls(**data)
        except TypeError as err:
            raise ValueError(f"bad {cls.__name__}: {err}") from err


class HeadConfig:
    """What every task model's config (an ``encoder`` field plus its head's options) shares: the encoder
    section read from a dict and checked, the tokenizer-facing properties, label checks and ``from_dict``.

    Subclasses are frozen dataclasses with an ``encoder`` field and set ``MODEL_TYPE`` and ``DESCRIBED``
    (e.g. ``"a sequence-classifier config"``).
    """

    MODEL_TYPE: str = ""
    DESCRIBED: str = ""
    REQUIRED: tuple[str, ...] = ("encoder",)

    def _check_encoder(self) -> None:
        if isinstance(self.encoder, dict):
            object.__setattr__(self, "encoder", EncoderConfig.from_dict(self.encoder))
        if not isinstance(self.encoder, EncoderConfig):
            raise ValueError(f"encoder must be an EncoderConfig, got {type(self.encoder).__name__}")

    def _check_labels(self) -> None:
        """``labels``: one or more distinct non-empty names, stored as a tuple."""
        if isinstance(self.labels, str):
            raise ValueError(f"labels must be a list of names, got the string {self.labels!r}")
        object.__setattr__(self, "labels", tuple(self.labels))
        if not self.labels or not all(isinstance(name, str) and name for name in self.labels):
            raise ValueError(f"labels must be one or more non-empty names, got {list(self.labels)}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels must be distinct, got {list(self.labels)}")

    @property
    def vocab_size(self) -> int:
        """The encoder's vocabulary size (what the tokenizer must match)."""
        return self.encoder.vocab_size

    @property
    def pad_id(self) -> int:
        """The padding id."""
        return self.encoder.pad_id

    @property
    def tokenizer(self) -> dict[str, Any] | None:
        """The tokenizer description the weights were trained with."""
        return self.encoder.tokenizer

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """Rebuild from ``to_dict``; a wrong model_type, unknown or missing keys raise ValueError."""
        data = dict(data)
        kind = data.pop("model_type", None)
        if kind != cls.MODEL_TYPE:
            raise ValueError(f"not {cls.DESCRIBED}: model_type is {kind!r}, expected {cls.MODEL_TYPE!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} key(s) {unknown}; known keys are {sorted(known)}")
        missing = [name for name in cls.REQUIRED if name not in data]
        if missing:
            raise ValueError(f"{cls.DESCRIBED} needs {missing}")
        return cls(**data)
