"""Attention against a substitution matrix as Vig et al.'s published code computes it (salesforce/provis).

Axes: S sequences, B batch, N layers, H heads, K = N·H heads in all, L tokens, A = 20 standard amino acids.

The code behind provis's published reports (its README's reproduction steps, for TAPE's BERT and
the ProtTrans models): ``compute_edge_features.py --features aa --dataset proteinnet
--num-sequences 5000 --max-seq-len 512 --min-attn .3 --shuffle`` (``compute_mean_attention``),
then ``report_aa_correlations.py`` (``min_total = 100``). Step by step, and what we do at each:

1. **Sample.** ``torch.manual_seed(seed); torch.randperm(len(dataset))[:num_sequences]``: a
   uniform sample without replacement; every sequence (shuffled) when there are fewer.
   :func:`sample_indices` is that call with its own seeded generator, so the same ``seed`` picks
   the same positions of the same list (provis's default seed is 123; ours is 0).
2. **Cut.** Each sequence to its first ``max_seq_len - 2`` residues (512 tokens with [CLS] and [SEP]).
3. **Edges.** Every layer and head, one sequence at a time; the rows and columns of [CLS] and
   [SEP] are removed (``attn[:, :, 1:-1, 1:-1]``; padding too, here) and the rest is not
   renormalised. An edge (query i → key j) is a weight **α_ij > θ**, θ = 0.3: "high-confidence"
   attention. Edges are *counted*, not weighted.
4. **Counts per head** over every sequence: ``E_k`` edges in all (``weight_total``: keys of any
   residue letter) and ``E_k(a)`` edges whose key, the residue attended to, is a (the ``aa_to_a``
   feature).
5. **Heads.** ``share_k(a) = E_k(a) / E_k`` for the heads with ``E_k ≥ min_total`` (100 edges);
   the others are left out.
6. **Pair correlations.** For a ≠ b, Pearson's r over the kept heads of ``share_·(a)`` and
   ``share_·(b)``: a symmetric 20 x 20 matrix, diagonal undefined.
7. **r.** Pearson's r of the 190 pairs a < b (the diagonal is left out) with BLOSUM62's scores.

Steps 5-7 are :func:`seqformer.analysis.substitution.compare_with_matrix`, run on edge counts
instead of summed weights. provis's first version (``analyze_heads``, ``--min-attn .1``) summed
the kept weights α_ij instead of counting them: that is ``--mode weighted``
(:mod:`~seqformer.analysis.substitution`). Where we differ from the final code, on purpose:

- an edge is α > θ, as provis's first version kept weights (``attn > min_attn``); the final code
  keeps α ≥ θ, which differs only for a weight exactly equal to θ in float32;
- only the 20 standard amino acids are correlated; provis takes every letter seen that BLOSUM62
  (Biopython's old ``MatrixInfo``) scores, which adds B, Z and X when a sample holds them;
- a pair whose share vector is constant over the kept heads is left out of r (``pairs_used``);
  provis's ``pearsonr`` gives NaN there and so NaN for r;
- r is None, with the reason, when fewer than ``min_heads`` heads are kept (10 by default; over 2
  heads every pair correlation is ±1) or fewer than 3 pairs are defined; provis prints a number.

For a model of 12 x 12 heads trained on real proteins none of these bites, and r is provis's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from seqformer.analysis.attention import attention_probs, check_extractable, extraction_limit
from seqformer.analysis.long_attention import max_tokens, stream_attention
from seqformer.analysis.substitution import (AMINO_ACIDS, DEFAULT_MATRIX, DEFAULT_MIN_HEADS, AminoAcidAttention,
                                             MatrixComparison, _amino_acid_ids, background_frequencies,
                                             check_threshold_and_heads, compare_with_matrix, substitution_matrix)
from seqformer.device import resolve_device
from seqformer.errors import InputError
from seqformer.models.encoder import encoder_of
from seqformer.tokenizers.protein import STANDARD_AMINO_ACIDS

PROVIS_THRESHOLD = 0.3  # attention weights at or below this are not edges (provis's run scripts: --min-attn .3)
PROVIS_NUM_SEQUENCES = 5000  # sequences sampled (provis: --num-sequences 5000 --shuffle)
PROVIS_MAX_LENGTH = 512  # tokens per sequence, [CLS] and [SEP] included (provis: --max-seq-len 512)
PROVIS_MIN_HEAD_EDGES = 100  # heads with fewer edges over the sample are left out (provis: min_total = 100)


def sample_indices(total: int, num_sequences: int, seed: int = 0) -> np.ndarray:
    """(min(total, num_sequences),) positions drawn without replacement, in draw order: provis's sample.

    ``torch.randperm(total)[:num_sequences]`` under a generator seeded with ``seed``: the same
    positions as provis's ``torch.manual_seed(seed); torch.randperm(len(dataset))[:num_sequences]``.
    """
    if num_sequences < 1:
        raise InputError(f"--num-sequences must be at least 1, got {num_sequences}")
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(total, generator=generator)[:num_sequences].numpy()


@dataclass(frozen=True)
class EdgeCounts:
    """High-confidence edges of every head, counted over sequences (steps 3-4 of the module docstring)."""

    to_amino_acid: np.ndarray  # (N, H, A) int64 E_k(a): edges whose key (the residue attended to) is amino acid a
    edges: np.ndarray  # (N, H) int64 E_k: edges between residues (keys of any residue letter)

    def __add__(self, other: EdgeCounts) -> EdgeCounts:
        return EdgeCounts(self.to_amino_acid + other.to_amino_acid, self.edges + other.edges)


def count_edges(probs: torch.Tensor, input_ids: torch.Tensor, body: torch.Tensor, aa_ids: torch.Tensor,
                threshold: float) -> EdgeCounts:
    """Steps 3-4 for one batch: each head's edges α_ij > θ between residues, over the batch's sequences.

    Args:
        probs: (B, N, H, L, L) attention of query token i to key token j.
        input_ids: (B, L) token ids.
        body: (B, L) bool, True at residue tokens; specials and padding (False) are neither queries nor keys.
        aa_ids: (A,) token ids of the 20 amino acids, in :data:`AMINO_ACIDS` order.
        threshold: θ; an edge is a weight strictly above it.
    """
    body = torch.as_tensor(body, dtype=torch.bool)
    pairs = body[:, None, None, :, None] & body[:, None, None, None, :]  # (B, 1, 1, L, L)
    on_key = (pairs & (probs > threshold)).sum(3)  # (B, N, H, L): edges into each key token
    return key_edges(on_key, input_ids, aa_ids)


def key_edges(on_key: torch.Tensor, input_ids: torch.Tensor, aa_ids: torch.Tensor) -> EdgeCounts:
    """Step 4 from the edges into each key token (B, N, H, L) of one batch."""
    letter = (input_ids[..., None] == aa_ids).long()  # (B, L, A) one-hot key letters
    return EdgeCounts(torch.einsum("bnhl,bla->nha", on_key, letter).numpy().astype(np.int64),
                      on_key.sum((0, 3)).numpy().astype(np.int64))


def chunked_edges(model: nn.Module, inputs, body: torch.Tensor, aa_ids: torch.Tensor, threshold: float,
                  chunk_size: int | None = None) -> EdgeCounts:
    """:func:`count_edges` of one batch, counted a chunk of query rows at a time (O(B·H·c·L) memory).

    For inputs above the dense extraction limit, up to the model's ``max_length``
    (:func:`~seqformer.analysis.long_attention.stream_attention`).
    """
    config = encoder_of(model).config
    batch, length = inputs.input_ids.shape
    device = next(encoder_of(model).parameters()).device
    body = torch.as_tensor(body, dtype=torch.bool).to(device)
    on_key = torch.zeros(batch, config.num_layers, config.num_heads, length, dtype=torch.long, device=device)

    def add(layer: int, start: int, rows: torch.Tensor) -> None:  # rows (B, H, c, L)
        pairs = body[:, None, start:start + rows.shape[2], None] & body[:, None, None, :]  # (B, 1, c, L)
        on_key[:, layer] += (pairs & (rows > threshold)).sum(2)

    stream_attention(model, inputs, add, chunk_size=chunk_size)
    return key_edges(on_key.cpu(), inputs.input_ids, aa_ids)


@dataclass(frozen=True)
class ProvisBlosum:
    """provis's comparison of one model's attention with a substitution matrix (module docstring)."""

    matrix_name: str  # the substitution matrix
    matrix: pd.DataFrame  # (A, A) its scores
    threshold: float  # θ: edges are weights α > θ
    num_sequences: int | None  # sample size asked for (None: every sequence, no sampling)
    seed: int  # seed of the sample (step 1)
    indices: np.ndarray  # (S',) positions in the input of the sampled sequences, in draw order
    sampled_from: int  # S: sequences the sample was drawn from
    max_length: int  # tokens per sequence, [CLS] and [SEP] included; longer ones were cut
    cropped: int  # sampled sequences that were cut
    n_residues: int  # residue tokens in the sample, after cutting
    min_head_edges: int  # heads with fewer edges E_k are left out (provis's min_total)
    counts: EdgeCounts  # (N, H) edges per head, and (N, H, A) those into each amino acid
    comparison: MatrixComparison  # kept heads' shares, their pair correlations, r against the matrix
    background: pd.Series  # (A,) amino-acid frequencies among the sample's residues

    @property
    def pearson_r(self) -> float | None:
        """r against the matrix (None when undefined: ``comparison.undefined`` says why)."""
        return self.comparison.pearson_r

    def heads(self) -> pd.DataFrame:
        """(K, 4 + A) every head: ``layer, head, edges, kept`` (E_k ≥ min_head_edges) and its 20 shares E_k(a) / E_k.

        Shares are NaN for a head without any edge.
        """
        counts = self.counts
        layers, heads = np.meshgrid(range(counts.edges.shape[0]), range(counts.edges.shape[1]), indexing="ij")
        edges = counts.edges.ravel()
        to_amino_acid = counts.to_amino_acid.reshape(-1, len(AMINO_ACIDS))
        shares = np.where(edges[:, None] > 0, to_amino_acid / np.maximum(edges[:, None], 1), np.nan)
        kept = set(self.comparison.shares.index)
        frame = pd.DataFrame({"layer": layers.ravel(), "head": heads.ravel(), "edges": edges})
        frame["kept"] = [(layer, head) in kept for layer, head in zip(frame["layer"], frame["head"])]
        return pd.concat([frame, pd.DataFrame(shares, columns=list(AMINO_ACIDS))], axis=1)

    def top_heads(self) -> pd.DataFrame:
        """(A, 6) per amino acid, the kept head whose edges go to it most often (provis's top heads).

        Columns ``layer, head, share, background, enrichment`` (share / background frequency) and
        ``edges`` (that head's E_k); index the amino acid. Empty when no head is kept.
        """
        shares = self.comparison.shares
        columns = ["layer", "head", "share", "background", "enrichment", "edges"]
        if shares.empty:
            return pd.DataFrame(columns=columns, index=pd.Index([], name="amino_acid"))
        best = shares.idxmax(axis=0)  # amino acid -> (layer, head)
        rows = []
        for letter in AMINO_ACIDS:
            layer, head = best[letter]
            share, frequency = float(shares.loc[(layer, head), letter]), float(self.background[letter])
            rows.append((int(layer), int(head), share, frequency, share / frequency if frequency > 0 else np.nan,
                         int(self.counts.edges[layer, head])))
        return pd.DataFrame(rows, columns=columns, index=pd.Index(list(AMINO_ACIDS), name="amino_acid"))

    def summary(self) -> dict:
        """The JSON-ready numbers: ``pearson_r``, ``undefined``, ``pairs_used``, ``heads_used``, ``edges``, ..."""
        comparison = self.comparison
        kept_edges = sum(int(self.counts.edges[layer, head]) for layer, head in comparison.shares.index)
        return {"mode": "provis", "matrix": self.matrix_name, "pearson_r": comparison.pearson_r,
                "undefined": comparison.undefined, "pairs_used": comparison.pairs_used,
                "threshold": self.threshold, "n_sequences": int(len(self.indices)),
                "num_sequences": self.num_sequences, "sampled_from": self.sampled_from,
                "seed": None if self.num_sequences is None else self.seed, "max_length": self.max_length,
                "cropped": self.cropped, "n_residues": self.n_residues, "min_head_edges": self.min_head_edges,
                "min_heads": comparison.min_heads, "heads": comparison.heads, "heads_used": comparison.heads_used,
                "edges": int(self.counts.edges.sum()), "edges_in_kept_heads": kept_edges}


def provis_blosum(model: nn.Module, sequences: Sequence[str], *, threshold: float = PROVIS_THRESHOLD,
                  num_sequences: int | None = PROVIS_NUM_SEQUENCES, seed: int = 0, batch_size: int = 8,
                  device: str | torch.device | None = None, matrix: str = DEFAULT_MATRIX,
                  max_length: int | None = None, min_head_edges: int = PROVIS_MIN_HEAD_EDGES,
                  min_heads: int = DEFAULT_MIN_HEADS, source: str | None = None) -> ProvisBlosum:
    """provis's BLOSUM comparison of ``model``'s attention on a sample of ``sequences`` (module docstring).

    Args:
        model: a protein model whose attention kind returns maps (encoder, masked LM or classifier).
        sequences: protein sequences to sample from.
        threshold: θ; edges are weights strictly above it (provis: 0.3).
        num_sequences: sample size (provis: 5,000); all sequences when fewer; None: all, in input order.
        seed: seed of the sample (:func:`sample_indices`; provis's default is 123).
        batch_size: sequences per forward pass (sorted by length, so padding stays small).
        device: where to run (``auto``, ``cpu``, ``cuda`` or a torch device; the model is moved
            there); None: where the model is.
        matrix: a Biopython substitution matrix that scores the 20 amino acids.
        max_length: tokens per sequence with [CLS] and [SEP]; longer sequences are cut to their first
            ``max_length - 2`` residues. Default: 512 (provis) or the model's ``max_length`` if lower;
            batches above the dense extraction limit are counted a chunk of query rows at a time.
        min_head_edges: heads with fewer edges are left out (provis's ``min_total``, 100).
        min_heads: kept heads needed for r (fewer: r is None, with the reason).
        source: the file the sequences came from, named in errors.

    Raises:
        InputError: a model that is not a protein model or has no attention maps, θ outside
            [0, 1), a bad matrix, ``max_length`` outside 3 to the model's ``max_length``, no sequence, or
            no standard amino acid in the sample.
    """
    check_threshold_and_heads(threshold, min_heads)
    if min_head_edges < 0:
        raise InputError(f"--min-head-edges must be 0 or more, got {min_head_edges}")
    scores = substitution_matrix(matrix)
    tokenizer = model.tokenizer
    aa_ids = torch.from_numpy(_amino_acid_ids(tokenizer))
    if device is not None:
        model.to(resolve_device(device) if isinstance(device, str) else torch.device(device))
    check_extractable(model)
    limit = max_tokens(model)
    max_length = min(PROVIS_MAX_LENGTH, limit) if max_length is None else max_length
    if not 3 <= max_length <= limit:
        raise InputError(f"--max-length must be from 3 to the model's attention-extraction limit {limit:,}, "
                         f"got {max_length:,}")
    indices = (np.arange(len(sequences)) if num_sequences is None
               else sample_indices(len(sequences), num_sequences, seed))
    if not len(indices):
        raise InputError("no sequence to analyse", path=source)
    picked = [sequences[i][:max_length - 2] for i in indices]
    cropped = sum(len(sequences[i]) > max_length - 2 for i in indices)
    if not any(set(seq.upper()) & set(STANDARD_AMINO_ACIDS) for seq in picked):
        raise InputError(f"none of the {len(picked):,} sampled sequences holds a standard amino acid "
                         f"({STANDARD_AMINO_ACIDS}): nothing to compare", path=source)
    counts = _count_all(model, picked, aa_ids, threshold, batch_size)
    attention = AminoAcidAttention(float(threshold), counts.to_amino_acid.astype(np.float64),
                                   counts.edges.astype(np.float64))  # shares of edges, not of weight
    comparison = compare_with_matrix(attention, scores, min_head_weight=min_head_edges, min_heads=min_heads)
    return ProvisBlosum(matrix, scores, float(threshold), num_sequences, seed, indices, len(sequences), max_length,
                        int(cropped), sum(len(seq) for seq in picked), int(min_head_edges), counts, comparison,
                        background_frequencies(model, picked))


def _count_all(model: nn.Module, sequences: list[str], aa_ids: torch.Tensor, threshold: float,
               batch_size: int) -> EdgeCounts:
    """Steps 3-4 over all ``sequences``, ``batch_size`` at a time (sorted by length)."""
    tokenizer = model.tokenizer
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    total, dense_limit = None, extraction_limit(model)
    for start in range(0, len(order), batch_size):
        batch = tokenizer.batch_encode([sequences[i] for i in order[start:start + batch_size]])
        body = tokenizer.is_body(batch.input_ids)  # (B, L) residues: not specials, not padding
        if batch.input_ids.shape[1] > dense_limit:
            part = chunked_edges(model, batch, body, aa_ids, threshold)
        else:
            part = count_edges(torch.from_numpy(attention_probs(model, batch)), batch.input_ids, body, aa_ids,
                               threshold)
        total = part if total is None else total + part
    return total
