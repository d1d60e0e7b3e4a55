"""Motifs learnt by a model: TF-MoDISco (modisco-lite) patterns from per-base attributions.

Axes: N sequences, n positions of a sequence, w positions of a motif, 4 bases (A C G T).

The input is ``attributions.npz`` as ``seqformer attribute`` writes it (:func:`load_attributions`):
``onehot`` (N, n, 4) and ``hypothetical`` (N, n, 4), the attribution each base *would* have at each
position. TF-MoDISco takes the contribution scores ``hypothetical * onehot`` (the observed bases'),
cuts seqlets (windows of high total contribution, positive and negative, above a threshold set
by isotonic regression against a Laplace null fitted to the window sums, at ``target_fdr``),
clusters them and aggregates each cluster into a pattern:

- ``ppm`` (w, 4): the pattern's base frequencies over its aligned seqlets (each row sums to 1);
- ``cwm`` (w, 4): its contribution weight matrix, the mean contribution of each base per position;
- ``sign``: +1 for a pattern of the positive metacluster (bases that raise the output), -1 for one
  of the negative metacluster.

Patterns are returned trimmed to their informative core by the rule modisco-lite's own reports use
(:func:`trim_bounds`): keep the positions from the first to the last whose total contribution
``sum_b |cwm[i, b]|`` is at least :data:`TRIM_FRACTION` (0.3) of the pattern's largest.
Matching them to JASPAR is :mod:`.motif_db`, their files :mod:`.motif_report`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqformer.errors import InputError

BASES = "ACGT"
TRIM_FRACTION = 0.3  # trimmed core: positions whose sum |cwm| is >= this fraction of the pattern's largest
ATTRIBUTIONS_FILE = "attributions.npz"  # the file `seqformer attribute` writes into its output folder
REQUIRED_ARRAYS = ("names", "onehot", "hypothetical", "scores", "target", "method")


@dataclass(frozen=True)
class AttributionFile:
    """The arrays of one ``attributions.npz`` as read back (module docstring), checked for shape and values."""

    names: np.ndarray  # (N,) str: the sequences' names
    onehot: np.ndarray  # (N, n, 4) float32: the observed bases, A C G T (an all-zero row is N)
    hypothetical: np.ndarray  # (N, n, 4) float32: the attribution each base would have at each position
    scores: np.ndarray  # (N, n) float32: the attribution of the observed base
    target: str  # the model output attributed
    method: str  # the attribution method (e.g. "ism", "integrated_gradients")
    source: str  # the file read


def load_attributions(path: str | os.PathLike) -> AttributionFile:
    """Read ``attributions.npz`` (or a folder holding one) and check it.

    Raises:
        InputError: a missing file or array, arrays whose shapes disagree, NaN or inf values.
    """
    path = Path(path)
    if path.is_dir():
        path = path / ATTRIBUTIONS_FILE
    if not path.is_file():
        raise InputError(f"no such file (give {ATTRIBUTIONS_FILE} or the folder holding it)", path=path)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputError(f"not a readable .npz file ({err})", path=path) from None
    with data:
        missing = [name for name in REQUIRED_ARRAYS if name not in data.files]
        if missing:
            raise InputError(f"missing array(s) {', '.join(missing)} (an attributions file holds "
                             f"{', '.join(REQUIRED_ARRAYS)})", path=path)
        try:
            arrays = {name: data[name] for name in REQUIRED_ARRAYS}
        except (OSError, ValueError) as err:  # a damaged member, or Python objects (never unpickled)
            raise InputError(f"unreadable array in the .npz file ({err})", path=path) from None
    onehot = np.asarray(arrays["onehot"], dtype=np.float32)
    hypothetical = np.asarray(arrays["hypothetical"], dtype=np.float32)
    scores = np.asarray(arrays["scores"], dtype=np.float32)
    names = np.asarray(arrays["names"]).astype(str)
    if onehot.ndim != 3 or onehot.shape[2] != 4:
        raise InputError(f"onehot must be (N, n, 4), got shape {onehot.shape}", path=path)
    if hypothetical.shape != onehot.shape:
        raise InputError(f"hypothetical has shape {hypothetical.shape}, onehot {onehot.shape}: they must agree",
                         path=path)
    if scores.shape != onehot.shape[:2]:
        raise InputError(f"scores has shape {scores.shape}, expected (N, n) = {onehot.shape[:2]}", path=path)
    if names.shape != onehot.shape[:1]:
        raise InputError(f"names has shape {names.shape}, expected ({onehot.shape[0]},)", path=path)
    for name, values in (("onehot", onehot), ("hypothetical", hypothetical), ("scores", scores)):
        if not np.isfinite(values).all():
            raise InputError(f"{name} holds NaN or inf values", path=path)
    return AttributionFile(names=names, onehot=onehot, hypothetical=hypothetical, scores=scores,
                        target=str(arrays["target"]), method=str(arrays["method"]), source=str(path))


@dataclass(frozen=True)
class Motif:
    """One TF-MoDISco pattern, trimmed to its core (module docstring)."""

    name: str  # "pos_pattern_0", "neg_pattern_1": metacluster and rank by seqlet count, as modisco names them
    sign: int  # +1: the positive metacluster (raises the output); -1: the negative one
    n_seqlets: int  # seqlets aggregated into the pattern
    ppm: np.ndarray  # (w, 4) base frequencies, A C G T, each row summing to 1
    cwm: np.ndarray  # (w, 4) contribution weight matrix: mean contribution per position and base
    start: int = 0  # where the trimmed core starts in modisco's untrimmed pattern (0-based)

    @property
    def width(self) -> int:
        """Positions in the motif (w)."""
        return len(self.ppm)

    @property
    def consensus(self) -> str:
        """The most frequent base at each position."""
        return consensus(self.ppm)


def consensus(ppm: np.ndarray) -> str:
    """The most frequent base of each row of a (w, 4) PPM (A C G T; the first of a tie)."""
    return "".join(BASES[i] for i in np.asarray(ppm).argmax(axis=1))


def trim_bounds(cwm: np.ndarray, fraction: float = TRIM_FRACTION) -> tuple[int, int]:
    """``(start, end)`` (end exclusive) of the core of a (w, 4) CWM: from the first to the last position
    whose ``sum_b |cwm[i, b]|`` is at least ``fraction`` times the largest (modisco-lite's reports' rule)."""
    score = np.abs(np.asarray(cwm, dtype=float)).sum(axis=1)
    if len(score) == 0 or score.max() <= 0:
        return 0, len(score)
    keep = np.flatnonzero(score >= fraction * score.max())
    return int(keep[0]), int(keep[-1]) + 1


def _normalised(ppm: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to 1 (a row of zeros, all-N seqlet positions, becomes uniform)."""
    ppm = np.asarray(ppm, dtype=float)
    total = ppm.sum(axis=1, keepdims=True)
    return np.where(total > 0, ppm / np.where(total > 0, total, 1.0), 0.25)


def motif_from_pattern(pattern, name: str, sign: int, fraction: float = TRIM_FRACTION) -> Motif:
    """A :class:`Motif` from a modisco-lite ``SeqletSet`` (``.sequence``, ``.contrib_scores``, ``.seqlets``)."""
    cwm = np.asarray(pattern.contrib_scores, dtype=float)
    start, end = trim_bounds(cwm, fraction)
    ppm = _normalised(np.asarray(pattern.sequence, dtype=float)[start:end])
    return Motif(name=name, sign=sign, n_seqlets=len(pattern.seqlets), ppm=ppm, cwm=cwm[start:end].copy(),
                 start=start)


def check_attribution_arrays(onehot: np.ndarray, hypothetical: np.ndarray, *, window: int,
                             flank: int) -> tuple[np.ndarray, np.ndarray]:
    """``(onehot, hypothetical)`` as C-contiguous float32, after the checks :func:`discover_motifs` needs.

    Raises:
        InputError: shapes that are not (N, n, 4) alike, NaN or inf, sequences shorter than a seqlet
            (``window + 2 * flank``), contributions that are all zero, a window below 1 or a flank below 0.
    """
    if window < 1 or flank < 0:
        raise InputError(f"the seqlet window must be at least 1 bp and the flank at least 0, got {window} and {flank}")
    onehot = np.ascontiguousarray(onehot, dtype=np.float32)
    hypothetical = np.ascontiguousarray(hypothetical, dtype=np.float32)
    if onehot.ndim != 3 or onehot.shape[2] != 4:
        raise InputError(f"onehot must be (N, n, 4), got shape {onehot.shape}")
    if hypothetical.shape != onehot.shape:
        raise InputError(f"hypothetical has shape {hypothetical.shape}, onehot {onehot.shape}: they must agree")
    if not (np.isfinite(onehot).all() and np.isfinite(hypothetical).all()):
        raise InputError("onehot or hypothetical holds NaN or inf values")
    if onehot.shape[1] < window + 2 * flank:
        raise InputError(f"sequences of {onehot.shape[1]} bp are shorter than one seqlet ({window} bp window + "
                         f"{flank} bp flank on each side = {window + 2 * flank} bp): lower --window")
    if not (onehot * hypothetical).any():
        raise InputError("the contribution scores (hypothetical * onehot) are all zero: no motifs to find")
    return onehot, hypothetical


def discover_motifs(onehot: np.ndarray, hypothetical: np.ndarray, *, max_seqlets: int = 20_000, window: int = 21,
                    flank: int = 10, min_seqlets: int = 100, min_pattern_seqlets: int = 20,
                    target_fdr: float = 0.2, leiden_runs: int = 50, trim: float = TRIM_FRACTION,
                    verbose: bool = False) -> list[Motif]:
    """TF-MoDISco (modisco-lite) patterns of ``hypothetical * onehot``, positive then negative, trimmed.

    Args:
        onehot: (N, n, 4) observed bases, A C G T.
        hypothetical: (N, n, 4) hypothetical contributions (the attribution each base would have).
        max_seqlets: at most this many seqlets per metacluster (the strongest; modisco's
            ``max_seqlets_per_metacluster``).
        window: the seqlet core in bp (modisco's ``sliding_window_size``): seqlets are windows of this
            many positions whose summed contribution passes the seqlet threshold.
        flank: bp added on each side of a seqlet core (``flank_size``).
        min_seqlets: a metacluster (positive or negative) is clustered only with more seqlets than this
            (``min_metacluster_size``).
        min_pattern_seqlets: patterns with fewer seqlets are dropped (``final_min_cluster_size``).
        target_fdr: the seqlet threshold's false-discovery rate against the Laplace null.
        leiden_runs: Leiden clusterings per step, the best kept (``n_leiden_runs``; fewer is faster).
        trim: the core of each pattern (:func:`trim_bounds`).
        verbose: modisco's progress lines on stdout.

    Returns:
        The motifs, positive patterns first, each metacluster in modisco's order (most seqlets first);
        an empty list when no metacluster had enough seqlets or no cluster made a pattern.
    """
    onehot, hypothetical = check_attribution_arrays(onehot, hypothetical, window=window, flank=flank)
    from modiscolite.tfmodisco import TFMoDISco

    # Patterns are trimmed to window + flank - 1 bp and given `flank` bp on each side, modisco's 30 and
    # 10 at its default window and flank, scaled with them so that short sequences keep their seqlets.
    try:
        positive, negative = TFMoDISco(
            one_hot=onehot, hypothetical_contribs=hypothetical, sliding_window_size=window, flank_size=flank,
            min_metacluster_size=min_seqlets, max_seqlets_per_metacluster=max_seqlets,
            target_seqlet_fdr=target_fdr, n_leiden_runs=leiden_runs, final_min_cluster_size=min_pattern_seqlets,
            trim_to_window_size=window + flank - 1, initial_flank_to_add=flank, verbose=verbose)
    except (ValueError, IndexError, ZeroDivisionError) as err:  # modisco's own checks and degenerate nulls
        raise InputError(f"TF-MoDISco could not run on these attributions ({type(err).__name__}: {err}); it fits "
                         f"its seqlet threshold to window sums of both signs, so attributions that are all of one "
                         f"sign or nearly constant give it nothing to fit") from None
    motifs = []
    for label, sign, patterns in (("pos", 1, positive), ("neg", -1, negative)):
        for rank, pattern in enumerate(patterns or []):
            motifs.append(motif_from_pattern(pattern, f"{label}_pattern_{rank}", sign, trim))
    return motifs
