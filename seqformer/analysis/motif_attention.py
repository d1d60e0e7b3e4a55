"""How much attention lands on motif instances, per layer and head, against a position-matched control.

Axes: S sequences of a set, n letters (bases) of a sequence, N layers, H heads, L tokens, w
positions of a motif.

**Instances** (:func:`motif_instances`): each PPM (a discovered motif, a JASPAR matrix) is scanned
over both strands of every sequence by FIMO's log-odds scan as
:mod:`~seqformer.analysis.motif_enrichment` runs it (memelite, uniform background, a hit at
p < ``threshold``); a PPM first gets FIMO's pseudocount (0.1) spread over its ``sites`` (JASPAR's
column total where given, else :data:`DEFAULT_SITES`, MEME's default ``nsites`` of 20).

**Share** of one sequence in one head: its letter map ``A`` (N, H, n, n) of
:func:`~seqformer.analysis.attention.letter_attention`, summed over *all* query letters, gives the
attention each key letter receives (:func:`key_letter_mass`); the share is the part of that total
whose key letters lie inside an instance (the union of the sequence's instances, each letter
counted once)::

    share = sum_a sum_{b in instances} A[a, b] / sum_a sum_b A[a, b]

Attention to and from [CLS]/[SEP] is in neither sum, so attention spread evenly over the letters
gives the instances' ``coverage`` (the fraction of letters they cover; up to the k-mer edges).

**Control** (:func:`control_intervals`): the same share for the same intervals (start, end) in a
*different* sequence of the set, one with no instance overlapping any of them, drawn with a seeded
generator (``seed``) among all such sequences long enough; so position effects (BigBird's global
blocks, letters next to [CLS], rotary offsets) fall on the share and the control alike. Where no
other sequence qualifies, the intervals are shifted together within their own sequence by an
offset drawn among those that keep them inside it and off every instance (same lengths, same
spacing; ``how`` = ``"shift"``); where neither exists, the sequence has no control and is left out
(``how`` = ``"none"``).

**Per head** (:func:`shares_on_motifs`, :func:`attention_on_motifs`): ``share`` and ``control`` are
means over the sequences with at least one instance (and a control), ``ratio`` = share / control,
``coverage`` the mean fraction of letters the instances cover; ``p_value`` a two-sided Wilcoxon
signed-rank test of the paired per-sequence share and control (scipy; 1.0 where every difference
is 0), ``q_value`` Benjamini-Hochberg over the heads. With fewer than :data:`MIN_SEQUENCES` such
sequences every statistic is NaN (``sequences`` says how many there were): means of so few
sequences mostly tell which sequences they are, and the signed-rank test cannot reach p < 0.05.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from seqformer.analysis.attention import attention_probs, letter_weights
from seqformer.analysis.motif_db import _check_ppm, benjamini_hochberg
from seqformer.analysis.motif_enrichment import PSEUDOCOUNT, THRESHOLD, sequence_hits
from seqformer.errors import InputError
from seqformer.io.sequence import clean_dna
from seqformer.models.encoder import encoder_of

MIN_SEQUENCES = 5  # fewer sequences with instances (and a control): every statistic is NaN
DEFAULT_SITES = 20.0  # sites behind a PPM given without a count: MEME's default nsites
INSTANCE_COLUMNS = ["seq_index", "motif", "start", "end", "strand", "score", "p_value"]
CONTROL_COLUMNS = ["seq_index", "motif", "start", "end", "control_seq", "control_start", "control_end", "how"]
RESULT_COLUMNS = ["layer", "head", "sequences", "share", "control", "ratio", "coverage", "p_value", "q_value"]


def motif_instances(seqs: Sequence[str], ppms: Mapping[str, np.ndarray], *, threshold: float = THRESHOLD,
                    sites: Mapping[str, float] | None = None, pseudocount: float = PSEUDOCOUNT) -> pd.DataFrame:
    """Instances of ``ppms`` in ``seqs`` by FIMO-style scanning of both strands (module docstring).

    Args:
        seqs: S DNA strings (IUPAC, any case and lengths; N and other ambiguity codes score 0).
        ppms: motif name -> (w, 4) PPM, A C G T (``{m.name: m.ppm for m in discover_motifs(...)}``,
            or JASPAR's: ``{i: jaspar.ppm(i) for i in ids}``).
        threshold: an instance is a window whose score has p below this (uniform background).
        sites: motif name -> sites behind its PPM (JASPAR's ``MotifDatabase.sites``); missing names get
            :data:`DEFAULT_SITES`.
        pseudocount: FIMO's ``--motif-pseudo``, spread over the background and added to ``sites``.

    Returns:
        :data:`INSTANCE_COLUMNS`: ``start``/``end`` 0-based, end exclusive, plus-strand offsets in
        sequence ``seq_index``; ``strand`` ``-`` where the motif's reverse complement matched; ``score``
        in bits. Sorted by sequence, start, motif, strand.

    Raises:
        InputError: a threshold outside (0, 1), a malformed PPM or a non-DNA letter.
    """
    if not 0 < threshold < 1:
        raise InputError(f"the instance threshold must lie in (0, 1), got {threshold}")
    seqs = [clean_dna(seq, record=f"sequence {i}") for i, seq in enumerate(seqs)]
    sites = sites or {}
    matrices = {}
    for name, ppm in ppms.items():
        probs = _check_ppm(name, ppm)  # (4, w)
        probs = probs / probs.sum(axis=0, keepdims=True)
        count = max(float(sites.get(name, DEFAULT_SITES)), 1.0)
        matrices[str(name)] = np.ascontiguousarray((probs * count + pseudocount * 0.25) / (count + pseudocount))
    return sequence_hits(seqs, matrices, threshold=threshold)[INSTANCE_COLUMNS]


def _check_instances(instances: pd.DataFrame, lengths: np.ndarray) -> pd.DataFrame:
    """``instances`` with int64 ``seq_index``, ``start``, ``end``; InputError where one lies outside its sequence."""
    missing = [c for c in ("seq_index", "start", "end") if c not in instances.columns]
    if missing:
        raise InputError(f"the instances table lacks column(s) {', '.join(missing)} "
                         "(give motif_instances' table: seq_index, motif, start, end, ...)")
    table = instances.copy()
    if "motif" not in table.columns:
        table["motif"] = ""
    for column in ("seq_index", "start", "end"):
        table[column] = table[column].to_numpy(dtype=np.int64)
    index, start, end = (table[c].to_numpy() for c in ("seq_index", "start", "end"))
    inside = (index >= 0) & (index < len(lengths))
    limit = np.full(len(index), -1, dtype=np.int64)
    limit[inside] = lengths[index[inside]]
    bad = ~inside | (start < 0) | (end <= start) | (end > limit)
    if bad.any():
        row = table.iloc[int(np.flatnonzero(bad)[0])]
        raise InputError(f"instance {row['motif']!s} [{row['start']}, {row['end']}) of sequence {row['seq_index']} "
                         f"does not lie inside one of the {len(lengths)} sequences")
    return table.reset_index(drop=True)


def instance_masks(instances: pd.DataFrame, lengths: Sequence[int]) -> np.ndarray:
    """(S, max n) bool: the letters inside any instance of each sequence (False past a sequence's end)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    table = _check_instances(instances, lengths)
    masks = np.zeros((len(lengths), int(lengths.max(initial=0))), dtype=bool)
    for index, start, end in table[["seq_index", "start", "end"]].itertuples(index=False):
        masks[index, start:end] = True
    return masks


def control_intervals(instances: pd.DataFrame, lengths: Sequence[int], *, seed: int = 0) -> pd.DataFrame:
    """Where each sequence's instance intervals are placed as its control (module docstring).

    Args:
        instances: :func:`motif_instances`' table (``seq_index``, ``start``, ``end``; ``motif`` kept).
        lengths: the S sequences' lengths.
        seed: the generator of the draws (sequences are visited in index order).

    Returns:
        :data:`CONTROL_COLUMNS`, one row per instance: ``control_seq`` the sequence its control lies in,
        ``control_start``/``control_end`` its place there, ``how`` ``"other"`` (another sequence, same
        place), ``"shift"`` (its own sequence, all of its intervals shifted by one offset) or ``"none"``
        (no place: -1 in the three control columns).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    table = _check_instances(instances, lengths)
    masks = instance_masks(table, lengths)
    rng = np.random.default_rng(seed)
    rows = []
    for index, group in table.groupby("seq_index", sort=True):
        mask = masks[index, :lengths[index]]
        first, last = int(group["start"].min()), int(group["end"].max())
        others = np.flatnonzero((lengths >= last) & ~masks[:, :lengths[index]][:, mask].any(axis=1))
        others = others[others != index]
        if len(others):
            where, shift, how = int(rng.choice(others)), 0, "other"
        else:
            offsets = [d for d in range(-first, int(lengths[index]) - last + 1)
                       if d != 0 and not mask[np.flatnonzero(mask) + d].any()]
            where, shift, how = (index, int(rng.choice(offsets)), "shift") if offsets else (-1, 0, "none")
        for row in group.itertuples(index=False):
            placed = where >= 0
            rows.append({"seq_index": index, "motif": row.motif, "start": row.start, "end": row.end,
                         "control_seq": where, "control_start": row.start + shift if placed else -1,
                         "control_end": row.end + shift if placed else -1, "how": how})
    if not rows:
        return pd.DataFrame({column: pd.Series(dtype=object if column in ("motif", "how") else np.int64)
                             for column in CONTROL_COLUMNS})
    return pd.DataFrame(rows, columns=CONTROL_COLUMNS)


def key_letter_mass(probs: np.ndarray, spans: np.ndarray, n: int) -> np.ndarray:
    """(..., n) attention each key letter receives from all query letters: ``letter_attention(...).sum(-2)``.

    Args:
        probs: (..., L, L) token attention (e.g. (N, H, L, L) of one sequence).
        spans: (L, 2) [start, end) letters of each token; (-1, -1) for specials.
        n: the sequence's letters.
    """
    queries, keys = letter_weights(spans, n)  # (n, L) each
    weight = queries.sum(axis=0)  # (L,) how much each query token counts, summed over the letters it covers
    return np.einsum("i,...ij,bj->...b", weight, np.asarray(probs, dtype=np.float64), keys, optimize=True)


def _undefined(num_layers: int, num_heads: int, sequences: int) -> pd.DataFrame:
    layers, heads = np.meshgrid(range(num_layers), range(num_heads), indexing="ij")
    table = pd.DataFrame({"layer": layers.ravel(), "head": heads.ravel(), "sequences": sequences},
                         columns=RESULT_COLUMNS)
    table[RESULT_COLUMNS[3:]] = np.nan
    return table


def _signed_rank(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of paired differences (1.0 where all are 0)."""
    from scipy.stats import wilcoxon

    if not np.any(differences != 0):
        return 1.0
    return float(wilcoxon(differences).pvalue)


def _share(mass: np.ndarray, starts, ends) -> np.ndarray:
    """(N, H) share of ``mass`` (N, H, n) on the union of the intervals [start, end); NaN where its total is 0."""
    mask = np.zeros(mass.shape[-1], dtype=bool)
    for start, end in zip(starts, ends):
        mask[start:end] = True
    total = mass.sum(axis=-1)
    return np.divide(mass[..., mask].sum(axis=-1), total, out=np.full(total.shape, np.nan), where=total > 0)


def shares_on_motifs(masses: Sequence[np.ndarray | None], controls: pd.DataFrame, *,
                     shape: tuple[int, int] | None = None) -> pd.DataFrame:
    """Share of attention on instances against the position-matched control, per head (module docstring).

    Args:
        masses: per sequence, (N, H, n) attention each key letter receives (:func:`key_letter_mass`);
            None for a sequence that neither has instances nor serves as a control (never read).
        controls: :func:`control_intervals`' table of the instances.
        shape: (N, H) where no mass is given (otherwise taken from the masses).

    Returns:
        :data:`RESULT_COLUMNS`, one row per (layer, head) in order.
    """
    if shape is None:
        given = [mass for mass in masses if mass is not None]
        if not given:
            raise ValueError("no attention masses given and no shape")
        shape = given[0].shape[:2]
    placed = controls[controls["how"] != "none"]
    indices = placed["seq_index"].unique()
    if len(indices) < MIN_SEQUENCES:
        return _undefined(*shape, len(indices))
    shares, control, coverage = [], [], []
    for index in indices:
        rows = placed[placed["seq_index"] == index]
        where = int(rows["control_seq"].iloc[0])
        if masses[index] is None or masses[where] is None:
            raise ValueError(f"the attention masses of sequences {index} and {where} are needed")
        shares.append(_share(masses[index], rows["start"], rows["end"]))
        control.append(_share(masses[where], rows["control_start"], rows["control_end"]))
        covered = np.zeros(masses[index].shape[-1], dtype=bool)
        for start, end in zip(rows["start"], rows["end"]):
            covered[start:end] = True
        coverage.append(covered.mean())
    shares, control = np.stack(shares), np.stack(control)  # (S', N, H)
    table = _undefined(*shape, len(indices))
    table["share"] = np.nanmean(shares, axis=0).ravel()
    table["control"] = np.nanmean(control, axis=0).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        table["ratio"] = table["share"] / table["control"]
    table["coverage"] = float(np.mean(coverage))
    differences = (shares - control).reshape(len(indices), -1)  # (S', N·H)
    p_values = np.array([_signed_rank(d[np.isfinite(d)]) for d in differences.T])
    table["p_value"] = p_values
    table["q_value"] = benjamini_hochberg(p_values)
    return table


def attention_on_motifs(model: nn.Module, seqs: Sequence[str], instances: pd.DataFrame, *, batch_size: int = 16,
                        device: torch.device | str | None = None, seed: int = 0) -> pd.DataFrame:
    """Per (layer, head), the share of attention on motif instances against its control (module docstring).

    Args:
        model: a DNA (k-mer) model whose attention kind returns maps (encoder, masked LM or classifier).
        seqs: the S sequences the instances were found in, each within the attention-extraction limit.
        instances: :func:`motif_instances`' table over ``seqs``.
        batch_size: sequences per forward pass.
        device: where the model runs (moved there for the call and back afterwards; default: where it is).
        seed: the control draws (:func:`control_intervals`).

    Returns:
        :data:`RESULT_COLUMNS`, one row per (layer, head); NaN statistics with fewer than
        :data:`MIN_SEQUENCES` sequences with instances and a control.

    Raises:
        InputError: a protein model, a non-DNA letter, an instance outside its sequence, an attention kind
            without maps or a sequence beyond the extraction limit.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    tokenizer = model.tokenizer
    if tokenizer.type_name == "protein":
        raise InputError("attention on motifs needs a DNA model; this one reads proteins")
    seqs = [clean_dna(seq, record=f"sequence {i}") for i, seq in enumerate(seqs)]
    lengths = np.array([len(seq) for seq in seqs], dtype=np.int64)
    config = encoder_of(model).config
    controls = control_intervals(instances, lengths, seed=seed)
    placed = controls[controls["how"] != "none"]
    if placed["seq_index"].nunique() < MIN_SEQUENCES:
        return _undefined(config.num_layers, config.num_heads, int(placed["seq_index"].nunique()))
    needed = sorted(set(placed["seq_index"]) | set(placed["control_seq"]))
    masses: list[np.ndarray | None] = [None] * len(seqs)
    home = next(model.parameters()).device
    if device is not None:
        model.to(device)
    try:
        for lo in range(0, len(needed), batch_size):
            batch = needed[lo:lo + batch_size]
            inputs = tokenizer.batch_encode([seqs[i] for i in batch], records=[f"sequence {i}" for i in batch])
            probs = attention_probs(model, inputs)  # (B, N, H, L, L)
            for row, index in enumerate(batch):
                spans = tokenizer.token_spans(seqs[index])  # (L_i, 2)
                real = len(spans)
                masses[index] = key_letter_mass(probs[row, :, :, :real, :real], spans, len(seqs[index]))
    finally:
        if device is not None:
            model.to(home)
    return shares_on_motifs(masses, controls, shape=(config.num_layers, config.num_heads))
