"""Attention against a substitution matrix: Vig et al. 2020, "BERTology Meets Biology", section 4.3.

Axes: N layers, H heads, K = N·H heads in all, A = 20 standard amino acids, B batch, L tokens.

Over a set of protein sequences (docs/attention.md says the same with the reasons):

1. In every head, the attention α_ij of query token i to key token j, with [CLS], [SEP] and
   padding removed both as queries and as keys (the rest is not renormalised); weights α_ij ≤ θ
   are dropped ("high-confidence" attention, θ = 0.1 by default as in Vig et al.'s code). A batch
   above the dense extraction limit is summed a chunk of query rows at a time
   (:func:`chunked_landing`), so long proteins (up to the model's ``max_length``) are taken whole.
2. For head k and amino acid a, the share of its kept attention that *lands on* a, i.e. whose key
   (the attended-to residue j) is a: ``share_k(a) = Σ α_ij [res_j = a] / Σ α_ij``, both sums over
   every sequence and every kept (i, j); the denominator counts keys of any residue letter
   (X, B, Z, U, O too). A head whose denominator is below ``min_head_weight`` (100, as Vig et al.)
   is left out: too few kept weights.
3. For every pair of amino acids a ≠ b, the Pearson correlation over the kept heads of the vectors
   ``share_·(a)`` and ``share_·(b)``: a symmetric 20 x 20 matrix, diagonal undefined. A pair is
   undefined (NaN) when either vector is constant over the heads (an amino acid that no kept head
   attends to, or a single kept head).
4. r: the Pearson correlation of the 190 pairs a < b of that matrix with the substitution
   matrix's scores S(a, b) (BLOSUM62 by default); undefined pairs are left out (``pairs_used``),
   and r is None when fewer than 3 pairs remain — or when fewer than ``min_heads`` heads are kept
   (:data:`DEFAULT_MIN_HEADS`): over 2 heads every pair correlation is exactly ±1, over a handful
   it is mostly noise, so r would mean nothing. ``undefined`` says why.
5. A 95% interval for r: the sequences are resampled with replacement (``bootstrap`` times,
   seeded) and steps 2-4 repeated on the resampled sums; the 2.5th and 97.5th percentiles of the
   defined replicates (``r_interval``; None when fewer than half are defined).

Per-head shares are also given as enrichment over the background: log2 of the share over the
frequency of that amino acid among all residue keys of the set (a head attending uniformly has
shares equal to the background, enrichment 0), so a head's preference is not confused with how
common a residue is (L ≈ 10%, W ≈ 1%). Figures order the amino acids by physicochemical group
(:data:`AA_GROUPS`: aliphatic, aromatic, polar, positive, negative, special), where BLOSUM62's
hydrophobic and aromatic blocks show.

The control is the same statistic for a freshly initialised model of the same class and config
(same shape; BigBird patterns and Performer projections, which come from the config's seed, are
the same too). Its attention is close to uniform (about 1/L), so at θ = 0.1 it usually keeps no
weight at all: every statistic is also reported at θ = 0 (all attention between residues).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from seqformer.analysis.attention import attention_probs, check_extractable, extraction_limit
from seqformer.analysis.long_attention import stream_attention
from seqformer.errors import InputError
from seqformer.models.encoder import encoder_of
from seqformer.tokenizers.base import MASK_ID
from seqformer.tokenizers.protein import STANDARD_AMINO_ACIDS

DEFAULT_MATRIX = "BLOSUM62"
DEFAULT_THRESHOLD = 0.1  # attention weights at or below this are ignored (Vig et al.'s code: --min-attn .1)
DEFAULT_MIN_HEAD_WEIGHT = 100.0  # heads with less kept attention over the set are left out (Vig et al.: 100)
DEFAULT_MIN_HEADS = 10  # fewer kept heads: pair correlations are too few points to mean anything; r undefined
DEFAULT_BOOTSTRAP = 200  # resamples of the sequences for r's 95% interval (0 = none)
AMINO_ACIDS = tuple(STANDARD_AMINO_ACIDS)  # the A = 20 letters, alphabetical
#: Physicochemical groups, in the order figures draw the amino acids.
AA_GROUPS = (("aliphatic", "AVLIM"), ("aromatic", "FWY"), ("polar", "STNQ"), ("positive", "KRH"),
             ("negative", "DE"), ("special", "CGP"))
GROUP_ORDER = tuple(letter for _, letters in AA_GROUPS for letter in letters)


@dataclass(frozen=True)
class AminoAcidAttention:
    """Kept attention (weights above ``threshold``) of every head, summed over a set of sequences.

    ``per_sequence`` keeps each sequence's own sums (S, N, H, A) and (S, N, H), for resampling.
    """

    threshold: float  # θ: weights α ≤ θ were dropped
    landing: np.ndarray  # (N, H, A) kept attention whose key (attended-to residue) is each amino acid
    totals: np.ndarray  # (N, H) kept attention between residue tokens (any letter)
    per_sequence: tuple[np.ndarray, np.ndarray] | None = None  # (S, N, H, A) landing, (S, N, H) totals

    def resampled(self, counts: np.ndarray) -> AminoAcidAttention:
        """The sums with sequence s counted ``counts[s]`` times (a bootstrap replicate)."""
        landing, totals = self.per_sequence
        return AminoAcidAttention(self.threshold, np.einsum("s,snha->nha", counts, landing),
                                  np.einsum("s,snh->nh", counts, totals))

    def shares(self, min_head_weight: float = DEFAULT_MIN_HEAD_WEIGHT) -> pd.DataFrame:
        """(K', A) share of each kept head's attention landing on each amino acid; index (layer, head).

        Heads with ``totals < min_head_weight`` (or no kept attention) are left out.
        """
        layers, heads = np.nonzero((self.totals >= min_head_weight) & (self.totals > 0))
        values = self.landing[layers, heads] / self.totals[layers, heads, None]
        index = pd.MultiIndex.from_arrays([layers, heads], names=["layer", "head"])
        return pd.DataFrame(values, index=index, columns=list(AMINO_ACIDS))


def _amino_acid_ids(tokenizer) -> np.ndarray:
    """(A,) token ids of the 20 standard amino acids."""
    if tokenizer.type_name != "protein":
        raise InputError(f"attention against a substitution matrix needs a protein model; this one's "
                         f"tokenizer is {tokenizer.type_name!r}")
    return np.array([tokenizer.token_to_id(letter) for letter in AMINO_ACIDS])


def batch_landing(probs: torch.Tensor, input_ids: torch.Tensor, aa_ids: torch.Tensor,
                  threshold: float, tokenizer=None) -> tuple[np.ndarray, np.ndarray]:
    """Kept attention of each sequence of one batch: (landing (B, N, H, A), totals (B, N, H)) float64.

    Args:
        probs: (B, N, H, L, L) attention of query token i to key token j.
        input_ids: (B, L) the tokens; specials and padding are neither queries nor keys.
        aa_ids: (A,) the token ids of the amino acids, in order.
        threshold: weights at or below it are dropped.
        tokenizer: the tokenizer of ``input_ids`` (its ``is_body`` says which are residues);
            None: the canonical layout (ids above [MASK]).
    """
    residue = input_ids > MASK_ID if tokenizer is None else tokenizer.is_body(input_ids)  # (B, L)
    pairs = residue[:, None, None, :, None] & residue[:, None, None, None, :]  # (B, 1, 1, L, L)
    kept = torch.where(pairs & (probs > threshold), probs, 0.0)  # (B, N, H, L, L)
    on_key = kept.sum(3).double()  # (B, N, H, L): kept attention landing on each key token
    return key_landing(on_key, input_ids, aa_ids)


def key_landing(on_key: torch.Tensor, input_ids: torch.Tensor, aa_ids: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(landing (B, N, H, A), totals (B, N, H)) float64 from the kept attention on each key token (B, N, H, L)."""
    letter = (input_ids[..., None] == aa_ids).double()  # (B, L, A) one-hot key letters
    return torch.einsum("bnhl,bla->bnha", on_key, letter).numpy(), on_key.sum(3).numpy()


def chunked_landing(model: nn.Module, inputs, aa_ids: torch.Tensor, thresholds: Sequence[float],
                    tokenizer=None, chunk_size: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`batch_landing` of one batch for each threshold, summed a chunk of query rows at a time.

    For inputs above the dense extraction limit (up to the model's ``max_length``): the attention is
    read with :func:`~seqformer.analysis.long_attention.stream_attention`, so memory is O(B·H·c·L),
    never (B, N, H, L, L). Equal to :func:`batch_landing` to fp32 rounding.
    """
    config = encoder_of(model).config
    input_ids = inputs.input_ids
    residue = input_ids > MASK_ID if tokenizer is None else tokenizer.is_body(input_ids)  # (B, L)
    device = next(encoder_of(model).parameters()).device
    residue = torch.as_tensor(residue, dtype=torch.bool).to(device)
    on_key = torch.zeros(len(thresholds), input_ids.shape[0], config.num_layers, config.num_heads,
                         input_ids.shape[1], dtype=torch.float64, device=device)  # (T, B, N, H, L)

    def add(layer: int, start: int, rows: torch.Tensor) -> None:  # rows (B, H, c, L)
        pairs = residue[:, None, start:start + rows.shape[2], None] & residue[:, None, None, :]  # (B, 1, c, L)
        for index, theta in enumerate(thresholds):
            on_key[index, :, layer] += torch.where(pairs & (rows > theta), rows, 0.0).sum(2).double()

    stream_attention(model, inputs, add, chunk_size=chunk_size)
    return [key_landing(part.cpu(), input_ids, aa_ids) for part in on_key]


def amino_acid_attention(model: nn.Module, sequences: Sequence[str], *,
                         thresholds: Sequence[float] = (DEFAULT_THRESHOLD,),
                         batch_size: int = 8) -> list[AminoAcidAttention]:
    """Per head, the attention landing on each amino acid over ``sequences``, for each threshold.

    Args:
        model: a protein model whose attention kind returns maps (any of them: encoder, MLM, classifier).
        sequences: protein sequences, each at most the model's ``max_length`` once tokenized; a batch
            longer than :func:`~seqformer.analysis.attention.extraction_limit` is summed a chunk of
            query rows at a time (:func:`chunked_landing`), never as L x L maps.
        thresholds: the θ to keep weights above; one forward pass serves all of them.
        batch_size: sequences per forward pass (sorted by length, so padding stays small).

    Returns:
        One :class:`AminoAcidAttention` per threshold, in order.
    """
    tokenizer = model.tokenizer
    aa_ids = torch.from_numpy(_amino_acid_ids(tokenizer))
    check_extractable(model)
    if not sequences:
        raise InputError("no sequence to analyse")
    parts: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in thresholds]
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    dense_limit = extraction_limit(model)
    for start in range(0, len(order), batch_size):
        batch = tokenizer.batch_encode([sequences[i] for i in order[start:start + batch_size]])
        if batch.input_ids.shape[1] > dense_limit:
            for found, part in zip(parts, chunked_landing(model, batch, aa_ids, thresholds, tokenizer)):
                found.append(part)
            continue
        probs = torch.from_numpy(attention_probs(model, batch))  # (B, N, H, L, L) float32
        for found, theta in zip(parts, thresholds):
            found.append(batch_landing(probs, batch.input_ids, aa_ids, theta, tokenizer))
    back = np.argsort(order)  # per-sequence arrays in the input order
    out = []
    for found, theta in zip(parts, thresholds):
        landing = np.concatenate([p[0] for p in found])[back]  # (S, N, H, A)
        totals = np.concatenate([p[1] for p in found])[back]  # (S, N, H)
        out.append(AminoAcidAttention(float(theta), landing.sum(0), totals.sum(0), (landing, totals)))
    return out


def background_frequencies(model: nn.Module, sequences: Sequence[str]) -> pd.Series:
    """(A,) frequency of each amino acid among all residue tokens of ``sequences`` (any letter counts in the total)."""
    aa_ids = _amino_acid_ids(model.tokenizer)
    counts, residues = np.zeros(len(AMINO_ACIDS)), 0
    for seq in sequences:
        ids = np.asarray(model.tokenizer.encode(seq, add_special_tokens=False))
        residues += int(model.tokenizer.is_body(ids).sum())
        counts += (ids[:, None] == aa_ids[None, :]).sum(0)
    return pd.Series(counts / max(residues, 1), index=list(AMINO_ACIDS), name="background")


def enrichment(shares: pd.DataFrame, background: pd.Series) -> pd.DataFrame:
    """(K', A) log2(share / background frequency); NaN where either is 0 (undefined, not -inf)."""
    ratio = shares.to_numpy(dtype=float) / background.reindex(shares.columns).to_numpy(dtype=float)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where((ratio > 0) & np.isfinite(ratio), np.log2(np.where(ratio > 0, ratio, 1.0)), np.nan)
    return pd.DataFrame(values, index=shares.index, columns=shares.columns)


def attention_correlations(shares: pd.DataFrame) -> pd.DataFrame:
    """(A, A) Pearson correlation over heads of each pair of amino-acid share vectors; NaN diagonal.

    A pair where either vector is constant over the heads is NaN (its correlation is undefined).
    """
    values = shares.to_numpy(dtype=np.float64)  # (K', A)
    corr = np.full((len(AMINO_ACIDS), len(AMINO_ACIDS)), np.nan)
    defined = np.ptp(values, axis=0) > 0 if len(values) >= 2 else np.zeros(len(AMINO_ACIDS), dtype=bool)
    if defined.any():
        centred = values[:, defined] - values[:, defined].mean(0, keepdims=True)
        norms = np.sqrt((centred ** 2).sum(0))
        corr[np.ix_(defined, defined)] = (centred.T @ centred) / np.outer(norms, norms)
    np.fill_diagonal(corr, np.nan)
    return pd.DataFrame(np.clip(corr, -1.0, 1.0), index=list(AMINO_ACIDS), columns=list(AMINO_ACIDS))


def substitution_matrix(name: str = DEFAULT_MATRIX) -> pd.DataFrame:
    """(A, A) scores of a Biopython substitution matrix (``Bio.Align.substitution_matrices.load``)."""
    from Bio.Align import substitution_matrices

    names = substitution_matrices.load()
    if name not in names:
        raise InputError(f"unknown substitution matrix {name!r}; Biopython has: {', '.join(names)}")
    matrix = substitution_matrices.load(name)
    missing = [letter for letter in AMINO_ACIDS if letter not in matrix.alphabet]
    if missing:
        raise InputError(f"substitution matrix {name!r} does not score the amino acids {''.join(missing)}")
    scores = [[float(matrix[a, b]) for b in AMINO_ACIDS] for a in AMINO_ACIDS]
    return pd.DataFrame(scores, index=list(AMINO_ACIDS), columns=list(AMINO_ACIDS))


def matrix_correlation(correlations: pd.DataFrame, matrix: pd.DataFrame) -> tuple[float | None, int]:
    """(Pearson r of the defined off-diagonal pairs a < b with the matrix's scores, pairs used)."""
    rows, cols = np.tril_indices(len(AMINO_ACIDS), k=-1)  # the 190 pairs
    x = correlations.loc[list(AMINO_ACIDS), list(AMINO_ACIDS)].to_numpy()[rows, cols]
    y = matrix.loc[list(AMINO_ACIDS), list(AMINO_ACIDS)].to_numpy()[rows, cols]
    keep = np.isfinite(x)
    if keep.sum() < 3 or np.ptp(x[keep]) == 0 or np.ptp(y[keep]) == 0:
        return None, int(keep.sum())
    return float(np.corrcoef(x[keep], y[keep])[0, 1]), int(keep.sum())


@dataclass(frozen=True)
class MatrixComparison:
    """One model's attention at one threshold, compared with the substitution matrix."""

    threshold: float  # θ
    heads: int  # K: heads of the model
    shares: pd.DataFrame  # (K', A) the kept heads' shares (index layer, head)
    correlations: pd.DataFrame  # (A, A) Pearson correlation of amino-acid pairs over the kept heads
    pearson_r: float | None  # r against the matrix; None when undefined
    pairs_used: int  # defined off-diagonal pairs (at most 190)
    undefined: str | None = None  # why pearson_r is None (None when it is defined)
    r_interval: tuple[float, float] | None = None  # 95% bootstrap interval over sequences (None: not computed/undefined)
    min_heads: int = DEFAULT_MIN_HEADS  # kept heads needed for r

    @property
    def heads_used(self) -> int:
        """K': heads with enough kept attention."""
        return len(self.shares)

    def summary(self) -> dict:
        """``pearson_r``, its 95% interval, ``undefined`` (why not), ``pairs_used``, ``heads_used``."""
        return {"pearson_r": self.pearson_r,
                "pearson_r_95ci": None if self.r_interval is None else list(self.r_interval),
                "undefined": self.undefined, "pairs_used": self.pairs_used, "heads_used": self.heads_used}


def _r_and_reason(shares: pd.DataFrame, matrix: pd.DataFrame, min_heads: int
                  ) -> tuple[pd.DataFrame, float | None, int, str | None]:
    """(pair correlations, r, pairs used, why r is undefined) of one set of kept-head shares."""
    correlations = attention_correlations(shares)
    if len(shares) < min_heads:
        correlations = correlations * np.nan  # a handful of points: not shown as ±1 either
        return correlations, None, 0, (f"{len(shares)} heads kept, fewer than the {min_heads} needed "
                                       "(pair correlations over so few heads are ±1 or noise)")
    r, pairs = matrix_correlation(correlations, matrix)
    return correlations, r, pairs, None if r is not None else f"only {pairs} amino-acid pairs defined (3 needed)"


def compare_with_matrix(attention: AminoAcidAttention, matrix: pd.DataFrame, *,
                        min_head_weight: float = DEFAULT_MIN_HEAD_WEIGHT, min_heads: int = DEFAULT_MIN_HEADS,
                        bootstrap: int = 0, seed: int = 0) -> MatrixComparison:
    """Steps 3-5 of the module docstring for one model's summed attention."""
    shares = attention.shares(min_head_weight)
    correlations, r, pairs, undefined = _r_and_reason(shares, matrix, min_heads)
    interval = None
    if r is not None and bootstrap and attention.per_sequence is not None:
        interval = bootstrap_interval(attention, matrix, min_head_weight=min_head_weight, min_heads=min_heads,
                                      replicates=bootstrap, seed=seed)
    return MatrixComparison(attention.threshold, int(attention.totals.size), shares, correlations, r, pairs,
                            undefined, interval, min_heads)


def bootstrap_interval(attention: AminoAcidAttention, matrix: pd.DataFrame, *, min_head_weight: float,
                       min_heads: int, replicates: int, seed: int = 0) -> tuple[float, float] | None:
    """95% percentile interval of r over sequence resamples (None when fewer than half are defined)."""
    sequences = attention.per_sequence[1].shape[0]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(replicates):
        counts = rng.multinomial(sequences, np.full(sequences, 1.0 / sequences)).astype(np.float64)
        _, r, _, _ = _r_and_reason(attention.resampled(counts).shares(min_head_weight), matrix, min_heads)
        if r is not None:
            values.append(r)
    if len(values) < replicates / 2:
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def random_control(model: nn.Module, seed: int = 0) -> nn.Module:
    """A freshly initialised model of the same class and config (same shape), in eval mode, on the same device.

    The torch random state is seeded with ``seed`` inside and restored afterwards.
    """
    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        control = type(model)(model.config, tokenizer=model.tokenizer)
    return control.to(device).eval()


@dataclass(frozen=True)
class SubstitutionAnalysis:
    """Attention against a substitution matrix for a model and its random control (module docstring)."""

    matrix_name: str  # the substitution matrix
    matrix: pd.DataFrame  # (A, A) its scores
    n_sequences: int  # sequences analysed
    n_residues: int  # residue tokens in them
    min_head_weight: float  # heads with less kept attention were left out
    control_seed: int  # seed of the control's initialisation
    learned: MatrixComparison  # the model at θ
    control: MatrixComparison  # the random control at θ
    learned_unthresholded: MatrixComparison  # the model at θ = 0
    control_unthresholded: MatrixComparison  # the control at θ = 0
    background: pd.Series | None = None  # (A,) amino-acid frequencies among the residues (enrichment's baseline)
    bootstrap: int = 0  # resamples behind the intervals

    def enrichment(self) -> pd.DataFrame:
        """(K', A) log2 enrichment of the kept heads' shares (the model at θ) over the background."""
        return enrichment(self.learned.shares, self.background)

    def panels(self) -> dict[str, MatrixComparison]:
        """What the report's figure shows: the model at θ and at θ = 0 (once when θ = 0), the control at θ = 0."""
        panels = {"model": self.learned, "model, all weights": self.learned_unthresholded,
                  "random control, all weights": self.control_unthresholded}
        if self.learned.threshold == 0:
            del panels["model, all weights"]
        return panels

    def summary(self) -> dict:
        """The JSON-ready numbers: ``pearson_r``, ``control_pearson_r``, ``n_sequences``, ``matrix``, ..."""
        learned, control = self.learned.summary(), self.control.summary()
        out = {"matrix": self.matrix_name, "pearson_r": learned["pearson_r"],
               "pearson_r_95ci": learned["pearson_r_95ci"], "undefined": learned["undefined"],
               "control_pearson_r": control["pearson_r"], "control_pearson_r_95ci": control["pearson_r_95ci"],
               "control_undefined": control["undefined"], "n_sequences": self.n_sequences,
               "n_residues": self.n_residues, "threshold": self.learned.threshold,
               "min_head_weight": self.min_head_weight, "min_heads": self.learned.min_heads,
               "bootstrap": self.bootstrap, "heads": self.learned.heads,
               "heads_used": self.learned.heads_used, "pairs_used": self.learned.pairs_used,
               "control_heads_used": self.control.heads_used, "control_pairs_used": self.control.pairs_used,
               "control_seed": self.control_seed}
        out["unthresholded"] = {"threshold": 0.0, **self.learned_unthresholded.summary(),
                                **{f"control_{key}": value
                                   for key, value in self.control_unthresholded.summary().items()}}
        return out


def check_threshold_and_heads(threshold: float, min_heads: int) -> None:
    """InputError unless θ is in [0, 1) and at least two heads are asked for (both statistics' rules)."""
    if not 0.0 <= threshold < 1.0:
        raise InputError(f"the attention threshold must be in [0, 1), got {threshold}")
    if min_heads < 2:
        raise InputError(f"--min-heads must be at least 2 (a correlation over heads needs two), got {min_heads}")


def substitution_analysis(model: nn.Module, sequences: Sequence[str], *, matrix: str = DEFAULT_MATRIX,
                          threshold: float = DEFAULT_THRESHOLD,
                          min_head_weight: float = DEFAULT_MIN_HEAD_WEIGHT, control_seed: int = 0,
                          batch_size: int = 8, source: str | Path | None = None,
                          min_heads: int = DEFAULT_MIN_HEADS, bootstrap: int = DEFAULT_BOOTSTRAP,
                          bootstrap_seed: int = 0) -> SubstitutionAnalysis:
    """Vig et al.'s comparison of ``model``'s attention on ``sequences`` with a substitution matrix.

    ``min_heads`` kept heads are needed for r; ``bootstrap`` resamples of the sequences (seeded by
    ``bootstrap_seed``) give its 95% interval (module docstring).

    Raises InputError for a model that is not a protein model or has no attention maps, a bad
    matrix name, a threshold outside [0, 1), or sequences without any standard amino acid (the
    error names ``source``, the file they came from, when given).
    """
    check_threshold_and_heads(threshold, min_heads)
    if bootstrap < 0:
        raise InputError(f"--bootstrap must be 0 or more, got {bootstrap}")
    scores = substitution_matrix(matrix)
    aa_ids = _amino_acid_ids(model.tokenizer)
    check_extractable(model)
    ids = [model.tokenizer.encode(seq, add_special_tokens=False) for seq in sequences]
    if not any(np.isin(row, aa_ids).any() for row in ids):
        raise InputError(f"none of the {len(sequences):,} sequences holds a standard amino acid "
                         f"({STANDARD_AMINO_ACIDS}): nothing to compare", path=source)
    thresholds = (threshold, 0.0)
    learned = amino_acid_attention(model, sequences, thresholds=thresholds, batch_size=batch_size)
    control = amino_acid_attention(random_control(model, control_seed), sequences, thresholds=thresholds,
                                   batch_size=batch_size)
    compare = [compare_with_matrix(summed, scores, min_head_weight=min_head_weight, min_heads=min_heads,
                                   bootstrap=bootstrap, seed=bootstrap_seed)
               for summed in (*learned, *control)]
    return SubstitutionAnalysis(matrix, scores, len(sequences), int(sum(len(row) for row in ids)),
                                float(min_head_weight), control_seed, compare[0], compare[2], compare[1], compare[3],
                                background_frequencies(model, sequences), bootstrap)
