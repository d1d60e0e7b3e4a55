"""A model-free baseline for motif discovery: known motifs enriched in positives over a background.

Axes: S sequences of a set, L bases of a sequence, T database motifs, w positions of a motif.

Every database motif is scanned over both sets, both strands, by FIMO's log-odds scan as memelite
implements it (``memelite.fimo``):

- the scoring matrix: ``log2(p' / 0.25)`` per position and base, a uniform background, where
  ``p' = (p * n + c * 0.25) / (n + c)`` adds FIMO's ``--motif-pseudo`` ``c`` = :data:`PSEUDOCOUNT`
  (0.1) to the motif's ``n`` sites, so a base never seen scores finitely;
- a hit: a window of a sequence whose score has p < :data:`THRESHOLD` (1e-4) under the uniform
  background (the exact score distribution, binned at 0.1 bits), on either strand; N scores 0;
- per motif: the sequences with at least one hit in each set, the odds ratio of
  ``(hit, no hit) x (positives, background)`` with 0.5 added to each cell (Haldane-Anscombe, finite
  when a cell is 0), the two-sided Fisher exact p (scipy) and Benjamini-Hochberg q over the motifs.

The table is sorted by p-value, then by odds ratio (largest first), then by motif id. The hits
themselves, with their places, are :func:`sequence_hits` (the motif instances of
:mod:`.motif_attention`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from seqformer.analysis.motif_db import MotifDatabase, benjamini_hochberg
from seqformer.errors import InputError
from seqformer.io.atomic import atomic_open
from seqformer.io.sequence import one_hot_dna

THRESHOLD = 1e-4  # a hit: a window scoring with p below this under the uniform background
PSEUDOCOUNT = 0.1  # FIMO's --motif-pseudo: counts added to each motif column, spread by the background
ENRICHMENT_COLUMNS = ["motif_id", "motif_name", "positives_hit", "positives", "positives_fraction",
                      "background_hit", "background", "background_fraction", "odds_ratio", "p_value", "q_value"]


def read_sequences(path: str | os.PathLike) -> list[str]:
    """The DNA sequences of a FASTA file (uppercased, IUPAC checked).

    Raises:
        InputError: a missing, empty or malformed file, or one without a record.
    """
    from seqformer.io.fasta import read_fasta

    seqs = [record.seq for record in read_fasta(path, alphabet="dna")]
    if not seqs:
        raise InputError("no FASTA records", path=path)
    return seqs


def scan_matrices(jaspar: MotifDatabase, pseudocount: float = PSEUDOCOUNT) -> dict[str, np.ndarray]:
    """motif id -> (4, w) probabilities with the pseudocount (module docstring), as memelite's fimo takes them."""
    out = {}
    for motif_id, ppm, sites in zip(jaspar.ids, jaspar.ppms, jaspar.sites):
        n = max(sites, 1.0)
        out[motif_id] = np.ascontiguousarray(((ppm * n + pseudocount * 0.25) / (n + pseudocount)).T)
    return out


def sequences_hit(seqs: Sequence[str], matrices: dict[str, np.ndarray], *, threshold: float = THRESHOLD) -> np.ndarray:
    """(T, S) bool: whether each motif has a hit (module docstring) in each sequence.

    The sequences are scanned as one concatenation (one call, any lengths); hits across a boundary
    between two sequences are dropped, so each sequence counts only its own windows
    (:func:`sequence_hits`, reduced to presence).
    """
    hits = sequence_hits(seqs, matrices, threshold=threshold)
    hit = np.zeros((len(matrices), len(seqs)), dtype=bool)
    row = {name: index for index, name in enumerate(matrices)}
    hit[hits["motif"].map(row).to_numpy(dtype=np.int64), hits["seq_index"].to_numpy(dtype=np.int64)] = True
    return hit


HIT_COLUMNS = ["seq_index", "motif", "start", "end", "strand", "score", "p_value"]


def sequence_hits(seqs: Sequence[str], matrices: dict[str, np.ndarray], *,
                  threshold: float = THRESHOLD) -> pd.DataFrame:
    """Every hit (module docstring) of each motif in each sequence, with its place: :func:`sequences_hit` per window.

    The sequences are scanned as one concatenation, as by :func:`sequences_hit`; hits across a boundary
    between two sequences are dropped.

    Returns:
        :data:`HIT_COLUMNS`: ``seq_index`` (0-based, in ``seqs``), ``motif`` (the key of ``matrices``),
        ``start`` and ``end`` (0-based, end exclusive, plus-strand offsets in that sequence), ``strand``
        (``+``: the motif as given; ``-``: its reverse complement matched), ``score`` (bits) and ``p_value``;
        sorted by sequence, start, motif and strand.
    """
    from memelite import fimo

    lengths = np.array([len(seq) for seq in seqs], dtype=np.int64)
    ends = np.cumsum(lengths)  # sequence k holds positions ends[k-1]..ends[k]-1 of the concatenation
    onehot = one_hot_dna(["".join(seqs)]).astype(np.int8).transpose(0, 2, 1)  # (1, 4, total): FIMO's layout
    names = list(matrices)
    parts = []
    if onehot.shape[2] > 0 and names:
        for name, table in zip(names, fimo(matrices, onehot, threshold=threshold)):
            if len(table) == 0:
                continue
            first = table["start"].to_numpy(dtype=np.int64)
            last = table["end"].to_numpy(dtype=np.int64)  # exclusive
            which = np.searchsorted(ends, first, side="right")
            inside = (which < len(seqs)) & (last <= ends[np.minimum(which, len(ends) - 1)])
            offset = (ends - lengths)[which[inside]]
            parts.append(pd.DataFrame({"seq_index": which[inside], "motif": name, "start": first[inside] - offset,
                                       "end": last[inside] - offset,
                                       "strand": table["strand"].to_numpy(dtype=object)[inside],
                                       "score": table["score"].to_numpy(dtype=float)[inside],
                                       "p_value": table["p-value"].to_numpy(dtype=float)[inside]}))
    if not parts:
        return pd.DataFrame({"seq_index": np.zeros(0, dtype=np.int64), "motif": np.zeros(0, dtype=object),
                             "start": np.zeros(0, dtype=np.int64), "end": np.zeros(0, dtype=np.int64),
                             "strand": np.zeros(0, dtype=object), "score": np.zeros(0), "p_value": np.zeros(0)})
    hits = pd.concat(parts, ignore_index=True)
    return hits.sort_values(["seq_index", "start", "motif", "strand"], kind="stable").reset_index(drop=True)


def enrichment_baseline(pos_seqs: Sequence[str], neg_seqs: Sequence[str], jaspar: MotifDatabase, *,
                        threshold: float = THRESHOLD, pseudocount: float = PSEUDOCOUNT) -> pd.DataFrame:
    """Known motifs ranked by enrichment of hits in ``pos_seqs`` over ``neg_seqs`` (module docstring).

    Args:
        pos_seqs: the positive sequences (DNA strings, IUPAC; any lengths).
        neg_seqs: the background sequences.
        jaspar: the motifs to scan (:func:`~seqformer.analysis.motif_db.jaspar_motifs`).
        threshold: a hit's p-value bound.
        pseudocount: counts added to each motif column.

    Returns:
        :data:`ENRICHMENT_COLUMNS`, one row per motif, most enriched first.
    """
    from scipy.stats import fisher_exact

    if not pos_seqs or not neg_seqs:
        raise InputError("enrichment needs at least one positive and one background sequence")
    if not 0 < threshold < 1:
        raise InputError(f"the hit threshold must lie in (0, 1), got {threshold}")
    matrices = scan_matrices(jaspar, pseudocount)
    pos_hit = sequences_hit(pos_seqs, matrices, threshold=threshold).sum(axis=1)
    neg_hit = sequences_hit(neg_seqs, matrices, threshold=threshold).sum(axis=1)
    n_pos, n_neg = len(pos_seqs), len(neg_seqs)
    a, b = pos_hit.astype(float), neg_hit.astype(float)
    odds = ((a + 0.5) * (n_neg - b + 0.5)) / ((n_pos - a + 0.5) * (b + 0.5))
    p_values = np.array([fisher_exact([[int(x), n_pos - int(x)], [int(y), n_neg - int(y)]]).pvalue
                         for x, y in zip(pos_hit, neg_hit)])
    table = pd.DataFrame({"motif_id": jaspar.ids, "motif_name": jaspar.names, "positives_hit": pos_hit,
                          "positives": n_pos, "positives_fraction": pos_hit / n_pos, "background_hit": neg_hit,
                          "background": n_neg, "background_fraction": neg_hit / n_neg, "odds_ratio": odds,
                          "p_value": p_values, "q_value": benjamini_hochberg(p_values)}, columns=ENRICHMENT_COLUMNS)
    table["_order"] = -table["odds_ratio"]
    table = table.sort_values(["p_value", "_order", "motif_id"], kind="stable").drop(columns="_order")
    return table.reset_index(drop=True)


def write_enrichment(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """``table`` as TSV (6 significant digits), atomically."""
    with atomic_open(path) as handle:
        table.to_csv(handle, sep="\t", index=False, float_format="%.6g")
