"""The tokenizer interface shared by the k-mer (DNA) and protein tokenizers, and their id layouts.

Axes: B batch, L tokens. A sequence of ``n`` bases or residues encodes to ``L`` token ids,
``[CLS] body... [SEP]`` when special tokens are added (framing ``"cls-sep"``) or ``[CLS] body...``
(framing ``"cls"``, as the Nucleotide Transformer). ``batch_encode`` returns a :class:`BatchEncoding`
whose ``attention_mask`` is True for real tokens and False for padding (the convention of
:mod:`seqformer.attention`). ``token_spans`` maps each token back to 0-based half-open base
offsets into the input. Tokenizers save to and load from ``tokenizer.json``.

Ids follow the tokenizer's layout (:mod:`seqformer.tokenizers.layout`): by default the canonical
one, ``0 [PAD]  1 [UNK]  2 [CLS]  3 [SEP]  4 [MASK]`` then the tokenizer's own tokens from id 5;
or another project's vocabulary, given as ``vocab`` and ``special_tokens`` (role -> token).
Code that needs special ids reads the tokenizer's attributes (``pad_id``, ``mask_id``,
``body_ids``, ``is_body``), not the canonical constants re-exported here.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

import numpy as np

from seqformer.errors import InputError
from seqformer.io.atomic import atomic_open
from seqformer.tokenizers.layout import (
    CLS_ID,
    FRAMINGS,
    IDS_DTYPE,
    MASK_ID,
    PAD_ID,
    ROLES,
    SEP_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    resolve_layout,
)

if TYPE_CHECKING:  # torch is imported on use: tokenizing alone does not pay for importing it
    import torch

__all__ = [  # the canonical constants of layout.py too: other modules import them from here
    "CLS_ID", "FILE_NAME", "FORMAT_VERSION", "FRAMINGS", "IDS_DTYPE", "MASK_ID", "PAD_ID", "ROLES", "SEP_ID",
    "SPECIAL_TOKENS", "UNK_ID", "BatchEncoding", "Tokenizer", "TokenizerFileError", "load_tokenizer",
]

FORMAT_VERSION = 1
FILE_NAME = "tokenizer.json"
_PADDING = ("longest", "max_length")


@dataclass
class BatchEncoding:
    """A padded batch of token ids."""

    input_ids: torch.Tensor  # (B, L) int64, padded with the tokenizer's pad_id
    attention_mask: torch.Tensor  # (B, L) bool, True = real token, False = padding

    def to(self, device: torch.device | str) -> BatchEncoding:
        """The same batch on ``device``."""
        return BatchEncoding(self.input_ids.to(device), self.attention_mask.to(device))


class TokenizerFileError(InputError, ValueError):
    """A ``tokenizer.json`` that is missing, unreadable or does not describe a valid tokenizer."""


class Tokenizer:
    """Base class: id layout, special tokens, padding, spans, decoding frame, save/load and equality.

    Subclasses set ``type_name`` and ``unknown_letter``, implement the ``_``-prefixed hooks and call
    :meth:`_set_layout` at the end of ``__init__``; they register themselves for
    :func:`load_tokenizer` by ``type_name``.

    Attributes set by :meth:`_set_layout`: ``pad_id``, ``unk_id``, ``cls_id``, ``mask_id`` (ints),
    ``sep_id`` (None for framing ``"cls"``), ``framing``, ``vocab`` (all tokens in id order),
    ``special_ids`` (the role ids, in :data:`ROLES` order) and ``body_ids`` (sorted int64 array of
    every id the tokenizer emits for sequence content: letters, k-mers, single bases).
    """

    type_name: ClassVar[str]
    #: The letter [UNK] and [MASK] decode to (one per position they cover).
    unknown_letter: ClassVar[str]
    #: Constructor fields that files written before layouts existed lack, with their defaults:
    #: a tokenizer at these defaults in the canonical layout writes today's ``tokenizer.json``.
    _added_fields: ClassVar[dict[str, Any]] = {"framing": "cls-sep"}
    _registry: ClassVar[dict[str, type[Tokenizer]]] = {}

    pad_id: int
    unk_id: int
    cls_id: int
    sep_id: int | None
    mask_id: int
    framing: str
    special_ids: tuple[int, ...]
    body_ids: np.ndarray

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type_name" in cls.__dict__:
            Tokenizer._registry[cls.type_name] = cls

    # --- hooks for subclasses -------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        """The scalar constructor arguments (JSON-able) that define this tokenizer, layout aside."""
        raise NotImplementedError

    def _tokens(self) -> list[str]:
        """The non-special tokens in canonical id order (ids 5, 6, ...): all the tokenizer emits."""
        raise NotImplementedError

    def _prepare(self, seq: str, *, record: str | None, path: str | Path | None) -> str:
        """The sequence to encode, normalised (InputError on a bad character, here or in _encode_into)."""
        raise NotImplementedError

    def _num_body_tokens(self, seq_len: int) -> int:
        """How many tokens (without specials) a prepared sequence of ``seq_len`` encodes to."""
        raise NotImplementedError

    def _encode_into(self, seq: str, out: np.ndarray, *, record: str | None,
                     path: str | Path | None) -> None:
        """Write the canonical body token ids of prepared ``seq`` into ``out`` (IDS_DTYPE, right length).

        May check letters itself (InputError) when that is cheaper done while encoding.
        """
        raise NotImplementedError

    def _body_spans(self, seq_len: int) -> np.ndarray:
        """(n, 2) int64 [start, end) base offsets of the body tokens."""
        raise NotImplementedError

    def _decode_body(self, body: np.ndarray) -> str:
        """Sequence text of canonical body ids (no [PAD]/[CLS]/[SEP]; [UNK]/[MASK] may occur)."""
        raise NotImplementedError

    def _encode_framed(self, seq: str, head: int, tail: int, *, record: str | None,
                       path: str | Path | None) -> np.ndarray:
        """(head + n + tail,) IDS_DTYPE: the canonical body ids of prepared ``seq`` between free slots."""
        n = self._num_body_tokens(len(seq))
        out = np.empty(head + n + tail, dtype=IDS_DTYPE)
        self._encode_into(seq, out[head : head + n], record=record, path=path)
        return out

    def _count_body(self, seq: str) -> int:
        """Body tokens of prepared ``seq`` (override where the count depends on the letters)."""
        return self._num_body_tokens(len(seq))

    def _spans_body(self, seq: str) -> np.ndarray:
        """(n, 2) body spans of prepared ``seq`` (override where they depend on the letters)."""
        return self._body_spans(len(seq))

    def _chunks(self, seq_len: int, chunk_size: int) -> list[tuple[int, int]]:
        """:meth:`chunk_bounds` of a sequence known by its length only."""
        step = max(chunk_size - chunk_size % self._chunk_step, self._chunk_step)
        last_start = max(seq_len - self._chunk_overlap, 1) if seq_len > 0 else 0
        return [(start, min(seq_len, start + step + self._chunk_overlap))
                for start in range(0, last_start, step)]

    def _chunks_of(self, seq: str, chunk_size: int) -> list[tuple[int, int]]:
        """:meth:`chunk_bounds` of prepared ``seq`` (override where they depend on the letters)."""
        return self._chunks(len(seq), chunk_size)

    #: Bases shared by consecutive chunks of :meth:`chunk_bounds` (k - stride for k-mers).
    _chunk_overlap: int = 0
    #: Chunk starts are multiples of this (the stride).
    _chunk_step: int = 1

    # --- layout ---------------------------------------------------------------------------
    def _set_layout(self, vocab: Sequence[str] | None, special_tokens: dict[str, str] | None,
                    framing: str) -> None:
        """Check and store the id layout (ValueError naming the problem): see :mod:`~seqformer.tokenizers.layout`.

        Args:
            vocab: every token in the source's id order; None = the canonical layout.
            special_tokens: role -> token in ``vocab``; None = [PAD] [UNK] [CLS] [SEP] [MASK].
            framing: ``"cls-sep"`` or ``"cls"``.
        """
        layout = resolve_layout(self._tokens(), vocab, special_tokens, framing, self.type_name)
        self._layout = layout
        if layout.vocab is not None:
            self.vocab, self._token_ids = layout.vocab, layout.token_ids
        self.framing = layout.framing
        roles = layout.role_ids
        self.pad_id, self.unk_id, self.cls_id, self.mask_id = (roles[r] for r in ("pad", "unk", "cls", "mask"))
        self.sep_id = roles.get("sep")
        self.special_ids = tuple(roles.values())
        self.body_ids = layout.body_ids
        self._to_source, self._from_source = layout.to_source, layout.from_source
        lo, hi = int(self.body_ids[0]), int(self.body_ids[-1])
        self._body_range = (lo, hi) if hi - lo + 1 == len(self.body_ids) else None

    @cached_property
    def vocab(self) -> tuple[str, ...]:
        """All tokens in id order (set at once by a non-canonical layout)."""
        names = tuple(self._layout.special_tokens.get(role, token) for role, token in zip(ROLES, SPECIAL_TOKENS))
        return names + tuple(self._tokens())

    @cached_property
    def _token_ids(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(self.vocab)}

    @property
    def special_tokens(self) -> dict[str, str]:
        """Role -> special token (``sep`` absent for framing ``"cls"``)."""
        return dict(self._layout.special_tokens)

    @property
    def num_special_tokens(self) -> int:
        """How many special roles the layout has (5, or 4 without [SEP])."""
        return len(self.special_ids)

    @property
    def is_canonical(self) -> bool:
        """Whether this is the canonical layout at today's defaults (it writes today's tokenizer.json)."""
        fields = self._fields()
        return (self._layout.vocab_arg is None and self._layout.specials_arg is None
                and all(fields[name] == value for name, value in self._added_fields.items()))

    def is_body(self, ids: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Bool mask of ``ids``'s shape (a tensor for a tensor): True where the id is in ``body_ids``."""
        torch = sys.modules.get("torch")
        is_tensor = torch is not None and isinstance(ids, torch.Tensor)
        if not is_tensor:
            ids = np.asarray(ids)
        if self._body_range is not None:
            lo, hi = self._body_range
            return (ids >= lo) & (ids <= hi)
        if is_tensor:
            return torch.isin(ids, torch.as_tensor(self.body_ids, device=ids.device))
        return np.isin(ids, self.body_ids)

    # --- vocabulary -----------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Number of token ids (specials and unused extras included)."""
        return len(self.vocab)

    def id_to_token(self, i: int) -> str:
        """The token with id ``i``."""
        if not 0 <= int(i) < self.vocab_size:
            raise ValueError(f"token id {i} out of range 0..{self.vocab_size - 1}")
        return self.vocab[int(i)]

    def token_to_id(self, token: str) -> int:
        """The id of ``token`` (a special token, a letter or a k-mer, upper case)."""
        try:
            return self._token_ids[token]
        except KeyError:
            raise ValueError(f"{token!r} is not in the vocabulary of {self!r}") from None

    # --- encoding -------------------------------------------------------------------------
    def _frame(self, add_special_tokens: bool) -> tuple[int, int]:
        """Special tokens before and after the body."""
        if not add_special_tokens:
            return 0, 0
        return 1, 0 if self.sep_id is None else 1

    def encode(self, seq: str, *, record: str | None = None, path: str | Path | None = None,
               add_special_tokens: bool = True) -> np.ndarray:
        """Token ids (int32: every vocabulary fits) of one sequence, framed when ``add_special_tokens``.

        Args:
            seq: the sequence text (lowercase allowed).
            record, path: named in the :class:`InputError` raised for a bad character.
            add_special_tokens: wrap the body in [CLS] and [SEP] (framing ``"cls-sep"``) or put
                [CLS] before it (framing ``"cls"``).
        """
        seq = self._prepare(seq, record=record, path=path)
        head, tail = self._frame(add_special_tokens)
        out = self._encode_framed(seq, head, tail, record=record, path=path)
        if self._to_source is not None:
            body = out[head : len(out) - tail]
            body[:] = self._to_source[body]
        if head:
            out[0] = self.cls_id
        if tail:
            out[-1] = self.sep_id
        return out

    def num_tokens(self, seq: int | str, add_special_tokens: bool = True) -> int:
        """Length of ``encode`` output for a sequence, or for a (prepared) sequence of ``seq`` characters.

        For a k-mer tokenizer with ``leftover="bases"`` the count depends on the letters: a length
        counts a sequence of only A/C/G/T (ambiguity codes add tokens); pass the sequence for its own.
        """
        n = self._count_body(self._prepare(seq, record=None, path=None)) if isinstance(seq, str) \
            else self._num_body_tokens(int(seq))
        return n + sum(self._frame(add_special_tokens))

    def token_spans(self, seq: int | str, add_special_tokens: bool = True) -> np.ndarray:
        """(L, 2) int64 [start, end) 0-based base offsets of each token; (-1, -1) for specials.

        ``seq`` is the sequence, or its length as encoded (for proteins, without the stripped
        trailing ``*``); for ``leftover="bases"`` a length stands for a sequence of only A/C/G/T.
        Row ``i`` describes token ``i`` of ``encode``'s output.
        """
        if isinstance(seq, str):
            body = self._spans_body(self._prepare(seq, record=None, path=None))
        else:
            if seq < 0:
                raise ValueError(f"seq_len must be >= 0, got {seq}")
            body = self._body_spans(int(seq))
        head, tail = self._frame(add_special_tokens)
        none = np.full((1, 2), -1, dtype=np.int64)
        return np.concatenate([none] * head + [body] + [none] * tail)

    def chunk_bounds(self, seq: int | str, chunk_size: int) -> list[tuple[int, int]]:
        """[start, end) base ranges for encoding a long sequence piece by piece.

        Encoding each range without special tokens and concatenating the ids gives exactly
        ``encode(seq, add_special_tokens=False)``: consecutive ranges overlap so that no k-mer
        across a chunk edge is lost or counted twice. ``chunk_size`` (bases of new token starts
        per chunk) is rounded down to a multiple of the stride. ``seq`` is the sequence or its
        length; a k-mer tokenizer with ``leftover="bases"`` needs the sequence (see its docstring).
        """
        if isinstance(seq, str):
            return self._chunks_of(self._prepare(seq, record=None, path=None), chunk_size)
        return self._chunks(int(seq), chunk_size)

    def decode(self, ids: Sequence[int] | np.ndarray | torch.Tensor) -> str:
        """The sequence text of token ids (1-D); [PAD], [CLS] and [SEP] are skipped.

        [UNK] and [MASK] keep their place and decode to ``unknown_letter`` (``N`` for DNA,
        ``X`` for protein), so positions stay aligned with the encoded sequence; so do tokens of
        the vocabulary the tokenizer never emits.
        """
        torch = sys.modules.get("torch")  # ids can only be a tensor if torch is imported
        if torch is not None and isinstance(ids, torch.Tensor):
            ids = ids.detach().cpu().numpy()
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ValueError(f"decode takes a 1-D sequence of ids, got shape {ids.shape}")
        if ids.size == 0:
            return ""
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"token ids must be integers, got dtype {ids.dtype}")
        ids = ids.astype(np.int64, copy=False)
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ValueError(f"token ids must lie in 0..{self.vocab_size - 1}")
        keep = (ids != self.pad_id) & (ids != self.cls_id)
        if self.sep_id is not None:
            keep &= ids != self.sep_id
        body = ids[keep]
        return self._decode_body(body if self._from_source is None else self._from_source[body])

    def batch_encode(
        self,
        seqs: Sequence[str],
        *,
        max_length: int | None = None,
        padding: str = "longest",
        truncation: bool = False,
        records: Sequence[str] | None = None,
        add_special_tokens: bool = True,
    ) -> BatchEncoding:
        """Encode and pad a batch of sequences.

        Args:
            seqs: the sequences.
            max_length: most tokens per row (specials included); required for
                ``padding="max_length"``.
            padding: ``"longest"`` pads to the longest row, ``"max_length"`` to ``max_length``.
            truncation: cut rows longer than ``max_length`` (keeping [SEP] last, where the framing
                has one); without it a longer row is a ValueError.
            records: names of the sequences, for error messages.
            add_special_tokens: frame each row with the special tokens.

        Returns:
            input_ids (B, L) int64 padded with ``pad_id`` and attention_mask (B, L) bool.
        """
        import torch
        if padding not in _PADDING:
            raise ValueError(f"padding must be one of {_PADDING}, got {padding!r}")
        if max_length is not None and max_length < sum(self._frame(add_special_tokens)) + 1:
            raise ValueError(f"max_length must leave room for a token and the specials, got {max_length}")
        if padding == "max_length" and max_length is None:
            raise ValueError('padding="max_length" needs max_length')
        if records is not None and len(records) != len(seqs):
            raise ValueError(f"got {len(records)} record names for {len(seqs)} sequences")
        names = list(records) if records is not None else [None] * len(seqs)
        rows = [self.encode(seq, record=name, add_special_tokens=add_special_tokens)
                for seq, name in zip(seqs, names)]
        if max_length is not None:
            rows = [self._fit(row, i, names[i], max_length, truncation, add_special_tokens)
                    for i, row in enumerate(rows)]
        width = max_length if padding == "max_length" else max((len(r) for r in rows), default=0)
        input_ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)  # (B, L)
        attention_mask = np.zeros((len(rows), width), dtype=bool)  # (B, L)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = row
            attention_mask[i, : len(row)] = True
        return BatchEncoding(torch.from_numpy(input_ids), torch.from_numpy(attention_mask))

    def _fit(self, row: np.ndarray, i: int, name: str | None, max_length: int, truncation: bool,
             add_special_tokens: bool) -> np.ndarray:
        """``row`` cut to ``max_length`` tokens ([SEP] kept last), or a ValueError."""
        if len(row) <= max_length:
            return row
        if not truncation:
            which = f"sequence {i}" + (f" (record {name!r})" if name is not None else "")
            raise ValueError(f"{which} encodes to {len(row)} tokens, more than max_length="
                             f"{max_length}; pass truncation=True or a larger max_length")
        row = row[:max_length].copy()
        if add_special_tokens and self.sep_id is not None:
            row[-1] = self.sep_id
        return row

    # --- serialisation and equality -------------------------------------------------------
    def _fields(self) -> dict[str, Any]:
        """Every scalar constructor argument: :meth:`_config` and the framing."""
        return {**self._config(), "framing": self.framing}

    def to_dict(self) -> dict[str, Any]:
        """The ``tokenizer.json`` content.

        The canonical layout at today's defaults writes the format of files written before
        layouts existed (``special_tokens`` as ``{token: id}``); any other layout writes every
        field and ``special_tokens`` as role -> token.
        """
        fields = self._fields()
        if self.is_canonical:
            scalars = {key: value for key, value in fields.items() if key not in self._added_fields}
            return {"type": self.type_name, "version": FORMAT_VERSION, **scalars,
                    "special_tokens": dict(_LEGACY_SPECIALS), "vocab": list(self.vocab)}
        return {"type": self.type_name, "version": FORMAT_VERSION, **fields,
                "special_tokens": self.special_tokens, "vocab": list(self.vocab)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tokenizer:
        """Rebuild a tokenizer from :meth:`to_dict` output, checking every field (ValueError)."""
        if not isinstance(data, dict):
            raise ValueError("a tokenizer description must be a JSON object")
        kind = data.get("type")
        if kind not in Tokenizer._registry:
            raise ValueError(f"unknown tokenizer type {kind!r}; known: {sorted(Tokenizer._registry)}")
        sub = Tokenizer._registry[kind]
        if cls is not Tokenizer and not issubclass(sub, cls):
            raise ValueError(f"expected a {cls.type_name!r} tokenizer, got type {kind!r}")
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported tokenizer format version {data.get('version')!r}; "
                             f"this seqformer reads version {FORMAT_VERSION}")
        fixed = {"type", "version", "special_tokens", "vocab"}
        config = {key: value for key, value in data.items() if key not in fixed}
        specials, vocab = data.get("special_tokens"), data.get("vocab")
        legacy = specials == _LEGACY_SPECIALS
        if not legacy and not (isinstance(specials, dict) and all(key in ROLES for key in specials)):
            raise ValueError(f"special_tokens must map roles {ROLES} to tokens of vocab, or be "
                             f"{_LEGACY_SPECIALS}; got {specials!r}")
        if not legacy and not isinstance(vocab, list):
            raise ValueError("vocab must be a list of token strings")
        layout = {} if legacy else {"vocab": vocab, "special_tokens": specials}
        try:
            tokenizer = sub(**config, **layout)
        except TypeError as err:
            raise ValueError(f"bad fields for a {kind!r} tokenizer: {err}") from None
        if legacy:
            _check_vocab(vocab, tokenizer)
        return tokenizer

    def save(self, path: str | Path) -> Path:
        """Write ``tokenizer.json`` atomically; a path not ending in ``.json`` is a directory.

        Returns:
            the file written.
        """
        path = Path(path)
        if path.suffix != ".json":
            path = path / FILE_NAME
        with atomic_open(path, "w", encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle)
            handle.write("\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        """Read a tokenizer from ``tokenizer.json`` (or a directory holding one)."""
        path = Path(path)
        if path.is_dir():
            path = path / FILE_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TokenizerFileError("no such tokenizer file", path=path) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise TokenizerFileError(f"cannot read tokenizer: {err}", path=path) from None
        try:
            return cls.from_dict(data)
        except ValueError as err:
            raise TokenizerFileError(str(err), path=path) from None

    def _key(self) -> tuple:
        """What equality and the hash compare: type, fields and layout."""
        vocab, specials = self._layout.vocab_arg, self._layout.specials_arg
        specials = None if specials is None else tuple(sorted(specials.items()))
        return self.type_name, tuple(sorted(self._fields().items())), vocab, specials

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tokenizer):
            return NotImplemented
        return type(self) is type(other) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        fields = {key: value for key, value in self._fields().items()
                  if self._added_fields.get(key, object()) != value}
        args = [f"{key}={value!r}" for key, value in fields.items()]
        if self._layout.vocab_arg is not None:
            args.append(f"vocab=<{len(self._layout.vocab_arg)} tokens>")
        if self._layout.specials_arg is not None:
            args.append(f"special_tokens={self._layout.specials_arg!r}")
        return f"{type(self).__name__}({', '.join(args)})"


_LEGACY_SPECIALS = {token: i for i, token in enumerate(SPECIAL_TOKENS)}  # special_tokens of today's files


def _check_vocab(vocab: object, tokenizer: Tokenizer) -> None:
    """ValueError unless ``vocab`` is exactly the vocabulary ``tokenizer`` implies."""
    expected = tokenizer.vocab
    if not isinstance(vocab, list):
        raise ValueError(f"vocab must be a list of {len(expected)} tokens")
    if len(vocab) != len(expected):
        raise ValueError(f"vocab has {len(vocab)} tokens but {tokenizer!r} implies {len(expected)}")
    for i, (got, want) in enumerate(zip(vocab, expected)):
        if got != want:
            raise ValueError(f"vocab entry {i} is {got!r} but {tokenizer!r} implies {want!r}")


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load any tokenizer from ``tokenizer.json`` (or a directory holding one), by its type."""
    return Tokenizer.load(path)
