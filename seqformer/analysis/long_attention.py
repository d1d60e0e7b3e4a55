"""Attention of long inputs, a chunk of query rows at a time: memory O(c·L) per layer, never L x L.

Axes: B batch, N layers, H heads, L tokens, c query rows per chunk, k keys kept per query,
nnz weights kept in all.

:func:`stream_attention` runs the model once. At every layer a forward hook on the attention kind
takes the q and k it was given and reads the kind's probabilities c query rows at a time with
:meth:`~seqformer.attention.base.Attention.attention_rows` (the rows of the matrix
``need_weights=True`` returns: dense, BigBird, Longformer, Reformer LSH softmax on their masks,
Performer's φ(Q)φ(K)ᵀ rows normalised), hands each block (B, H, c, L) to a consumer and drops it.
Nyströmformer has no matrix (:class:`InputError`, as for short inputs). Inputs up to the model's
``max_length`` are read this way (:func:`max_tokens`); the dense path of
:mod:`seqformer.analysis.attention` stops at :func:`~seqformer.analysis.attention.extraction_limit`.

On top of it, :func:`sparse_sequence_attention` keeps one sequence's maps sparse: per layer, head
and query the ``top_k`` heaviest keys with their weights, or, for kinds whose masks are sparse
(:data:`SPARSE_MASK_KINDS`), every non-zero weight, as COO arrays (layer, head, row, col, weight).
The per-head statistics are computed from the full rows, so they are exact whatever is kept: the
columns of :func:`~seqformer.analysis.attention.head_statistics` and the attention-by-distance
profile (mean over queries of the weight at |i − j| = d). The landing sums of ``attention blosum``
are accumulated per chunk in :mod:`seqformer.analysis.substitution` and ``substitution_provis``.

Memory beyond the forward pass: one chunk's probabilities and a few temporaries of its size
(c is chosen so that B·H·c·L ≤ :data:`CHUNK_ELEMENTS` unless given), plus what is kept
(N·H·L·k weights for top-k maps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from seqformer.analysis.attention import check_extractable, encode_sequence
from seqformer.errors import InputError
from seqformer.models.encoder import encoder_of
from seqformer.tokenizers.base import BatchEncoding

CHUNK_ELEMENTS = 1 << 22  # default chunk: B·H·c·L probabilities (16 MiB in fp32)
DEFAULT_TOP_K = 32  # keys kept per query in a sparse map
SPARSE_MASK_KINDS = ("bigbird", "longformer", "reformer-lsh")  # kinds whose non-zero weights are few per query

#: consume(layer, start, rows): rows (B, H, c, L) float32 are query rows start:start+c of that layer.
Consumer = Callable[[int, int, torch.Tensor], None]


def max_tokens(model: nn.Module) -> int:
    """Longest input (tokens, specials included) whose attention can be read: the model's ``max_length``."""
    return encoder_of(model).config.max_length


def check_long_extractable(model: nn.Module, length: int | None = None, *, record: str | None = None) -> None:
    """InputError unless ``model`` has attention maps and ``length`` tokens fit its ``max_length``."""
    check_extractable(model)
    limit = max_tokens(model)
    if length is not None and length > limit:
        raise InputError(f"{length:,} tokens is longer than the attention-extraction limit of {limit:,} tokens "
                         "(the model's max_length); use a shorter sequence or region", record=record)


def check_chunk_size(chunk_size: int | None) -> None:
    """InputError unless ``chunk_size`` is None (automatic) or an integer >= 1."""
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                   or chunk_size < 1):
        raise InputError(f"--chunk-size must be an integer of at least 1 query row, got {chunk_size!r}")


def check_top_k(top_k: int) -> None:
    """InputError unless ``top_k`` is an integer >= 1."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise InputError(f"--top-k must be an integer of at least 1 key per query, got {top_k!r}")


def check_all_nonzero(model: nn.Module, all_nonzero: bool) -> None:
    """InputError when every non-zero weight is asked of a kind that attends to every key (L² weights per head)."""
    kind = encoder_of(model).config.attention
    if all_nonzero and kind not in SPARSE_MASK_KINDS:
        raise InputError(f"--all-nonzero keeps every non-zero weight, which is all L² of them per head for "
                         f"attention {kind!r}; it is for {', '.join(SPARSE_MASK_KINDS)} (use --top-k)")


def rows_per_chunk(batch: int, heads: int, length: int, chunk_size: int | None = None) -> int:
    """c: ``chunk_size`` (at most L), or by default the most rows with B·H·c·L ≤ :data:`CHUNK_ELEMENTS`."""
    check_chunk_size(chunk_size)
    if chunk_size is None:
        chunk_size = CHUNK_ELEMENTS // max(1, batch * heads * length)
    return max(1, min(chunk_size, length))


@torch.no_grad()
def stream_attention(model: nn.Module, inputs: BatchEncoding, consume: Consumer, *,
                     chunk_size: int | None = None) -> int:
    """Run ``model`` once on ``inputs``; hand every layer's attention to ``consume`` c query rows at a time.

    ``consume(layer, start, rows)`` gets rows (B, H, c, L) float32 on the model's device, layers in
    order and chunks in order within a layer, padded query rows and key columns set to 0 (as in
    :func:`~seqformer.analysis.attention.attention_probs`). Runs in eval mode (restored afterwards).
    Returns c.
    """
    encoder = encoder_of(model)
    batch, length = inputs.input_ids.shape
    check_long_extractable(model, length)
    step = rows_per_chunk(batch, encoder.config.num_heads, length, chunk_size)
    device = next(encoder.parameters()).device
    ids, mask = inputs.input_ids.to(device), inputs.attention_mask.to(device)
    real = mask.bool()

    def reader(layer: int):
        def read(module, args, kwargs, output):
            q, k = args[0], args[1]  # (B, H, L, Dh)
            key_padding_mask = kwargs.get("key_padding_mask", args[3] if len(args) > 3 else None)
            for start in range(0, length, step):
                stop = min(start + step, length)
                rows = module.attention_rows(q, k, key_padding_mask, start=start, stop=stop).float()
                pairs = real[:, None, start:stop, None] & real[:, None, None, :]  # (B, 1, c, L)
                consume(layer, start, rows.masked_fill_(~pairs, 0.0))
        return read

    hooks = [block.attention.attention.register_forward_hook(reader(i), with_kwargs=True)
             for i, block in enumerate(encoder.blocks)]
    was_training = encoder.training
    encoder.eval()
    try:
        encoder(ids, mask)
    finally:
        encoder.train(was_training)
        for hook in hooks:
            hook.remove()
    return step


@dataclass(frozen=True)
class SparseAttentionMaps:
    """One long sequence's attention in every layer and head, kept sparse (module docstring).

    The COO arrays are sorted by layer, head and query row; within a row, top-k weights come
    heaviest first and all-non-zero weights by key.
    """

    name: str  # the sequence's name (record id or region)
    seq: str  # its n letters, uppercase
    tokens: tuple[str, ...]  # the L tokens, [CLS] and [SEP] included
    spans: np.ndarray  # (L, 2) [start, end) letter offsets of each token; (-1, -1) for specials
    kind: str  # the attention kind that produced them
    layer: np.ndarray  # (nnz,) int16 layer of each kept weight
    head: np.ndarray  # (nnz,) int16 head
    rows: np.ndarray  # (nnz,) int32 query token i
    cols: np.ndarray  # (nnz,) int32 key token j
    weights: np.ndarray  # (nnz,) float32 α_ij
    top_k: int | None  # keys kept per query (fewer where a row has fewer non-zero weights); None = every non-zero
    statistics: pd.DataFrame  # one row per (layer, head): head_statistics' columns, from the full rows
    saved_share: np.ndarray  # (N, H) mean over queries of the weight kept (1 = nothing left out)
    profile: np.ndarray  # (N, H, L) float64 mean over queries of the weight at distance d = |i − j| tokens
    chunk_size: int  # c: query rows per chunk it was read in
    alphabet: str = ""  # "dna" or "protein"
    tss: int | None = None  # DNA: 0-based offset in ``seq`` of a TSS

    @property
    def num_layers(self) -> int:
        """N."""
        return self.profile.shape[0]

    @property
    def num_heads(self) -> int:
        """H."""
        return self.profile.shape[1]

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(N, H, L, L): the shape of the dense maps the COO arrays index."""
        return (self.num_layers, self.num_heads, len(self.tokens), len(self.tokens))


class _SparseRows:
    """A consumer of :func:`stream_attention` for one sequence (B = 1): kept weights and full-row statistics."""

    def __init__(self, num_layers: int, num_heads: int, special: np.ndarray, top_k: int | None,
                 device: torch.device) -> None:
        length = len(special)
        self.top_k, self.length, self.heads = top_k, length, num_heads
        self.special = torch.from_numpy(np.flatnonzero(special)).to(device)  # positions of [CLS], [SEP]
        self.keys = torch.arange(length, device=device)
        sums = dict(dtype=torch.float64, device=device)  # row sums are fp32, their totals fp64
        self.entropy, self.distance, self.on_special, self.saved = (
            torch.zeros(num_layers, num_heads, **sums) for _ in range(4))  # (N, H) each
        self.nonzero = torch.zeros(num_layers, num_heads, dtype=torch.long, device=device)
        self.profile = torch.zeros(num_layers, num_heads, length, **sums)
        self.parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def __call__(self, layer: int, start: int, rows: torch.Tensor) -> None:
        p = rows[0]  # (H, c, L) float32
        heads, count, length = p.shape
        offsets = (torch.arange(start, start + count, device=p.device)[:, None] - self.keys[None, :]).abs()  # (c, L)

        def total(per_row: torch.Tensor) -> torch.Tensor:  # (H, c) → (H,) in fp64
            return per_row.double().sum(-1)

        self.entropy[layer] -= total(torch.xlogy(p, p).sum(-1))
        self.distance[layer] += total((p * offsets).sum(-1))
        self.on_special[layer] += total(p[..., self.special].sum(-1))
        self.nonzero[layer] += (p > 0).sum((1, 2))
        by_distance = p.new_zeros(heads, length).scatter_add_(1, offsets.reshape(1, -1).expand(heads, -1),
                                                             p.reshape(heads, -1))
        self.profile[layer] += by_distance
        if self.top_k is None:
            head, row, col = torch.nonzero(p > 0, as_tuple=True)  # (head, row, col) order
            weight = p[head, row, col]
        else:
            top, col = p.topk(min(self.top_k, length), dim=-1)  # (H, c, k), heaviest first
            keep = top > 0
            head = torch.arange(heads, device=p.device)[:, None, None].expand_as(col)[keep]
            row = torch.arange(count, device=p.device)[None, :, None].expand_as(col)[keep]
            col, weight = col[keep], top[keep]
        self.saved[layer].index_add_(0, head, weight.double())
        self.parts.append((layer, head.cpu().numpy().astype(np.int16), (row + start).cpu().numpy().astype(np.int32),
                           col.cpu().numpy().astype(np.int32), weight.cpu().numpy().astype(np.float32)))

    def coo(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(layer, head, rows, cols, weights), sorted by layer, head and row (a stable sort keeps each row's order)."""
        if not self.parts:
            empty = np.zeros(0, dtype=np.int16)
            return empty, empty, empty.astype(np.int32), empty.astype(np.int32), empty.astype(np.float32)
        layer = np.concatenate([np.full(len(part[1]), part[0], dtype=np.int16) for part in self.parts])
        head, rows, cols, weights = (np.concatenate([part[i] for part in self.parts]) for i in range(1, 5))
        order = np.argsort(layer.astype(np.int64) * self.heads + head, kind="stable")
        return layer[order], head[order], rows[order], cols[order], weights[order]

    def statistics(self) -> pd.DataFrame:
        """head_statistics' table (layer, head, entropy, distance, special, density) of the full rows."""
        layers, heads = np.meshgrid(range(self.entropy.shape[0]), range(self.entropy.shape[1]), indexing="ij")
        per_query = lambda x: (x / self.length).cpu().numpy().ravel()  # noqa: E731 - means over the L queries
        return pd.DataFrame({"layer": layers.ravel(), "head": heads.ravel(), "entropy": per_query(self.entropy),
                             "distance": per_query(self.distance), "special": per_query(self.on_special),
                             "density": (self.nonzero.double() / self.length ** 2).cpu().numpy().ravel()})


def sparse_sequence_attention(model: nn.Module, seq: str, name: str = "", *, tss: int | None = None,
                              top_k: int = DEFAULT_TOP_K, all_nonzero: bool = False,
                              chunk_size: int | None = None) -> SparseAttentionMaps:
    """One sequence's attention maps kept sparse, read in chunks of query rows (module docstring).

    Args:
        model: any seqformer model whose attention kind has maps; the sequence may be up to its
            ``max_length`` tokens, specials included.
        seq: DNA (k-mer models) or protein letters.
        name: the sequence's name, for errors and the result.
        tss: DNA: 0-based offset of a TSS in ``seq``, kept for the figures.
        top_k: keys kept per query and head (the heaviest); fewer where a row has fewer non-zero weights.
        all_nonzero: keep every non-zero weight instead (kinds in :data:`SPARSE_MASK_KINDS` only).
        chunk_size: query rows per chunk; None: as many as :data:`CHUNK_ELEMENTS` allows.

    Raises:
        InputError: a kind without maps, ``top_k`` or ``chunk_size`` below 1, ``all_nonzero`` for a
            kind that attends to every key, bad letters, or more tokens than ``max_length``.
    """
    check_top_k(top_k)
    check_chunk_size(chunk_size)
    check_extractable(model)
    check_all_nonzero(model, all_nonzero)
    encoder = encoder_of(model)
    seq, ids, alphabet = encode_sequence(model, seq, name, tss=tss)
    check_long_extractable(model, len(ids), record=name or None)
    tokenizer = model.tokenizer
    spans = tokenizer.token_spans(seq)
    device = next(encoder.parameters()).device
    rows = _SparseRows(encoder.config.num_layers, encoder.config.num_heads, np.asarray(spans)[:, 0] < 0,
                       None if all_nonzero else top_k, device)
    inputs = BatchEncoding(torch.from_numpy(ids.astype(np.int64))[None], torch.ones(1, len(ids), dtype=torch.bool))
    step = stream_attention(model, inputs, rows, chunk_size=chunk_size)
    layer, head, row, col, weight = rows.coo()
    return SparseAttentionMaps(
        name=name, seq=seq, tokens=tuple(tokenizer.id_to_token(i) for i in ids), spans=spans,
        kind=encoder.config.attention,
        layer=layer, head=head, rows=row, cols=col, weights=weight, top_k=None if all_nonzero else top_k,
        statistics=rows.statistics(), saved_share=(rows.saved / len(ids)).cpu().numpy(),
        profile=(rows.profile / len(ids)).cpu().numpy(), chunk_size=step, alphabet=alphabet, tss=tss)


def kept_dense(maps: SparseAttentionMaps) -> np.ndarray:
    """The kept weights as dense maps (N, H, L, L) float32, zero elsewhere: for short inputs and tests only."""
    dense = np.zeros(maps.shape, dtype=np.float32)
    dense[maps.layer, maps.head, maps.rows, maps.cols] = maps.weights
    return dense
