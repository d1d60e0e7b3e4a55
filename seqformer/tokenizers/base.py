"""The tokenizer interface shared by the k-mer (DNA) and protein tokenizers.

Axes: B batch, L tokens. A sequence of ``n`` bases or residues encodes to ``L`` token ids,
``[CLS] body... [SEP]`` when special tokens are added. Every tokenizer has the same five special
tokens with fixed ids, so models and collators can rely on ``pad_id == 0`` and ``mask_id == 4``:

    0 [PAD]   1 [UNK]   2 [CLS]   3 [SEP]   4 [MASK]

and its own letters or k-mers from id 5 on. ``batch_encode`` returns a :class:`BatchEncoding`
whose ``attention_mask`` is True for real tokens and False for padding (the convention of
:mod:`seqformer.attention`). ``token_spans`` maps each token back to 0-based half-open base
offsets into the input. Tokenizers save to and load from ``tokenizer.json``.
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

if TYPE_CHECKING:  # torch is imported on use: tokenizing alone does not pay for importing it
    import torch

#: The special tokens, in id order: their ids are 0..4 in every tokenizer.
SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(len(SPECIAL_TOKENS))
FORMAT_VERSION = 1
FILE_NAME = "tokenizer.json"
IDS_DTYPE = np.int32  # token ids from encode(): 5 + 4**8 fits; batch_encode gives int64 tensors
_PADDING = ("longest", "max_length")


@dataclass
class BatchEncoding:
    """A padded batch of token ids."""

    input_ids: torch.Tensor  # (B, L) int64, padded with pad_id (0)
    attention_mask: torch.Tensor  # (B, L) bool, True = real token, False = padding

    def to(self, device: torch.device | str) -> BatchEncoding:
        """The same batch on ``device``."""
        return BatchEncoding(self.input_ids.to(device), self.attention_mask.to(device))


class TokenizerFileError(InputError, ValueError):
    """A ``tokenizer.json`` that is missing, unreadable or does not describe a valid tokenizer."""


class Tokenizer:
    """Base class: special tokens, padding, spans, decoding frame, save/load and equality.

    Subclasses set ``type_name`` and ``unknown_letter`` and implement the ``_``-prefixed hooks;
    they register themselves for :func:`load_tokenizer` by ``type_name``.
    """

    type_name: ClassVar[str]
    #: The letter [UNK] and [MASK] decode to (one per position they cover).
    unknown_letter: ClassVar[str]
    _registry: ClassVar[dict[str, type[Tokenizer]]] = {}

    special_tokens: ClassVar[tuple[str, ...]] = SPECIAL_TOKENS
    num_special_tokens: ClassVar[int] = len(SPECIAL_TOKENS)
    pad_id: ClassVar[int] = PAD_ID
    unk_id: ClassVar[int] = UNK_ID
    cls_id: ClassVar[int] = CLS_ID
    sep_id: ClassVar[int] = SEP_ID
    mask_id: ClassVar[int] = MASK_ID

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type_name" in cls.__dict__:
            Tokenizer._registry[cls.type_name] = cls

    # --- hooks for subclasses -------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-able) that define this tokenizer."""
        raise NotImplementedError

    def _tokens(self) -> list[str]:
        """The non-special tokens in id order (ids 5, 6, ...)."""
        raise NotImplementedError

    def _prepare(self, seq: str, *, record: str | None, path: str | Path | None) -> str:
        """The sequence to encode, normalised (InputError on a bad character, here or in _encode_into)."""
        raise NotImplementedError

    def _num_body_tokens(self, seq_len: int) -> int:
        """How many tokens (without specials) a prepared sequence of ``seq_len`` encodes to."""
        raise NotImplementedError

    def _encode_into(self, seq: str, out: np.ndarray, *, record: str | None,
                     path: str | Path | None) -> None:
        """Write the body token ids of prepared ``seq`` into ``out`` (IDS_DTYPE, right length).

        May check letters itself (InputError) when that is cheaper done while encoding.
        """
        raise NotImplementedError

    def _body_spans(self, seq_len: int) -> np.ndarray:
        """(n, 2) int64 [start, end) base offsets of the body tokens."""
        raise NotImplementedError

    def _decode_body(self, body: np.ndarray) -> str:
        """Sequence text of body ids (no [PAD]/[CLS]/[SEP]; [UNK]/[MASK] may occur)."""
        raise NotImplementedError

    #: Bases shared by consecutive chunks of :meth:`chunk_bounds` (k - stride for k-mers).
    _chunk_overlap: int = 0
    #: Chunk starts are multiples of this (the stride).
    _chunk_step: int = 1

    # --- vocabulary -----------------------------------------------------------------------
    @cached_property
    def vocab(self) -> tuple[str, ...]:
        """All tokens in id order, specials first."""
        return SPECIAL_TOKENS + tuple(self._tokens())

    @cached_property
    def _token_ids(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(self.vocab)}

    @property
    def vocab_size(self) -> int:
        """Number of token ids (specials included)."""
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
    def encode(self, seq: str, *, record: str | None = None, path: str | Path | None = None,
               add_special_tokens: bool = True) -> np.ndarray:
        """Token ids (int32: every vocabulary fits) of one sequence, ``[CLS] ... [SEP]`` when ``add_special_tokens``.

        Args:
            seq: the sequence text (lowercase allowed).
            record, path: named in the :class:`InputError` raised for a bad character.
            add_special_tokens: wrap the body in [CLS] and [SEP].
        """
        seq = self._prepare(seq, record=record, path=path)
        n = self._num_body_tokens(len(seq))
        extra = 2 if add_special_tokens else 0
        out = np.empty(n + extra, dtype=IDS_DTYPE)
        if add_special_tokens:
            out[0], out[-1] = CLS_ID, SEP_ID
        self._encode_into(seq, out[1:-1] if add_special_tokens else out, record=record, path=path)
        return out

    def num_tokens(self, seq_len: int, add_special_tokens: bool = True) -> int:
        """Length of ``encode`` output for a (prepared) sequence of ``seq_len`` characters."""
        return self._num_body_tokens(seq_len) + (2 if add_special_tokens else 0)

    def token_spans(self, seq_len: int, add_special_tokens: bool = True) -> np.ndarray:
        """(L, 2) int64 [start, end) 0-based base offsets of each token; (-1, -1) for specials.

        ``seq_len`` is the length of the sequence as encoded (for proteins, without the
        stripped trailing ``*``). Row ``i`` describes token ``i`` of ``encode``'s output.
        """
        if seq_len < 0:
            raise ValueError(f"seq_len must be >= 0, got {seq_len}")
        body = self._body_spans(int(seq_len))
        if not add_special_tokens:
            return body
        none = np.full((1, 2), -1, dtype=np.int64)
        return np.concatenate([none, body, none])

    def chunk_bounds(self, seq_len: int, chunk_size: int) -> list[tuple[int, int]]:
        """[start, end) base ranges for encoding a long sequence piece by piece.

        Encoding each range without special tokens and concatenating the ids gives exactly
        ``encode(seq, add_special_tokens=False)``: consecutive ranges overlap so that no k-mer
        across a chunk edge is lost or counted twice. ``chunk_size`` (bases of new token starts
        per chunk) is rounded down to a multiple of the stride.
        """
        step = max(chunk_size - chunk_size % self._chunk_step, self._chunk_step)
        last_start = max(seq_len - self._chunk_overlap, 1) if seq_len > 0 else 0
        return [(start, min(seq_len, start + step + self._chunk_overlap))
                for start in range(0, last_start, step)]

    def decode(self, ids: Sequence[int] | np.ndarray | torch.Tensor) -> str:
        """The sequence text of token ids (1-D); [PAD], [CLS] and [SEP] are skipped.

        [UNK] and [MASK] keep their place and decode to ``unknown_letter`` (``N`` for DNA,
        ``X`` for protein), so positions stay aligned with the encoded sequence.
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
        keep = (ids != PAD_ID) & (ids != CLS_ID) & (ids != SEP_ID)
        return self._decode_body(ids[keep])

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
            truncation: cut rows longer than ``max_length`` (keeping [SEP] last); without it a
                longer row is a ValueError.
            records: names of the sequences, for error messages.
            add_special_tokens: wrap each row in [CLS] and [SEP].

        Returns:
            input_ids (B, L) int64 padded with [PAD] and attention_mask (B, L) bool.
        """
        import torch
        if padding not in _PADDING:
            raise ValueError(f"padding must be one of {_PADDING}, got {padding!r}")
        if max_length is not None and max_length < (2 if add_special_tokens else 1):
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
        input_ids = np.full((len(rows), width), PAD_ID, dtype=np.int64)  # (B, L)
        attention_mask = np.zeros((len(rows), width), dtype=bool)  # (B, L)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = row
            attention_mask[i, : len(row)] = True
        return BatchEncoding(torch.from_numpy(input_ids), torch.from_numpy(attention_mask))

    @staticmethod
    def _fit(row: np.ndarray, i: int, name: str | None, max_length: int, truncation: bool,
             add_special_tokens: bool) -> np.ndarray:
        """``row`` cut to ``max_length`` tokens ([SEP] kept last), or a ValueError."""
        if len(row) <= max_length:
            return row
        if not truncation:
            which = f"sequence {i}" + (f" (record {name!r})" if name is not None else "")
            raise ValueError(f"{which} encodes to {len(row)} tokens, more than max_length="
                             f"{max_length}; pass truncation=True or a larger max_length")
        row = row[:max_length].copy()
        if add_special_tokens:
            row[-1] = SEP_ID
        return row

    # --- serialisation and equality -------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The ``tokenizer.json`` content."""
        return {"type": self.type_name, "version": FORMAT_VERSION, **self._config(),
                "special_tokens": {token: i for i, token in enumerate(SPECIAL_TOKENS)},
                "vocab": list(self.vocab)}

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
        try:
            tokenizer = sub(**config)
        except TypeError as err:
            raise ValueError(f"bad fields for a {kind!r} tokenizer: {err}") from None
        specials = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
        if data.get("special_tokens") != specials:
            raise ValueError(f"special_tokens must be {specials}, got {data.get('special_tokens')!r}")
        _check_vocab(data.get("vocab"), tokenizer)
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

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tokenizer):
            return NotImplemented
        return type(self) is type(other) and self._config() == other._config()

    def __hash__(self) -> int:
        return hash((self.type_name, tuple(sorted(self._config().items()))))

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self._config().items())
        return f"{type(self).__name__}({args})"


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
