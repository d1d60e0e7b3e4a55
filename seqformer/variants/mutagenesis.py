"""In-silico saturation mutagenesis: one window, every position changed to every base.

Axes: W positions (the model's window), 4 bases (A C G T), T targets. For a sequence of W bases
every single-base substitution (3 per position, 4 where the base is N) is scored with the
classifier, both strands averaged as for variants (:func:`~seqformer.predict.scorer.predict_probs` with ``strands="both"``),
and compared with the unmutated sequence for one target:

- ``delta_p[i, b] = p(seq with base b at i) - p(seq)``;
- ``delta_logit[i, b] = logit(p(mutant)) - logit(p(seq))`` (clipped as in :mod:`.effect`).

Where ``b`` is the base already at ``i`` the entry is exactly 0. :func:`plot_mutagenesis` draws a
matrix as a heatmap (bases down, positions across) and returns the Figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from seqformer.errors import InputError
from seqformer.io.atomic import atomic_open
from seqformer.predict.scorer import label_index
from seqformer.predict.scorer import predict_probs
from seqformer.variants.effect import logit

BASES = "ACGT"
MATRIX_METRICS = ("delta_p", "delta_logit")


@dataclass(frozen=True)
class Mutagenesis:
    """The probabilities of one target for a sequence and all its single-base mutants."""

    seq: str  # the W bases mutated
    target: str  # the target (model label) scored
    p_ref: float  # strand-averaged probability of ``target`` for ``seq``
    p_mut: np.ndarray  # (W, 4) the same with base A/C/G/T at each position (p_ref where unchanged)

    def matrix(self, metric: str = "delta_p") -> pd.DataFrame:
        """(W, 4) ``delta_p`` or ``delta_logit``: index ``position`` (1-based), columns A C G T."""
        if metric == "delta_p":
            values = self.p_mut - self.p_ref
        elif metric == "delta_logit":
            values = logit(self.p_mut) - logit(np.float64(self.p_ref))
        else:
            raise ValueError(f"metric must be one of {MATRIX_METRICS}, got {metric!r}")
        index = pd.RangeIndex(1, len(self.seq) + 1, name="position")
        return pd.DataFrame(values, index=index, columns=list(BASES))


def saturation_mutagenesis(model, seq: str, target: str | None = None, *, batch_size: int = 64,
                           device: torch.device | str | None = None) -> Mutagenesis:
    """Score every single-base substitution of ``seq`` with ``model`` (module docstring).

    Args:
        model: a sequence classifier on ``device``, in eval mode.
        seq: W uppercase IUPAC bases, W = the model's ``config.window``.
        target: the label to score; may be omitted when the model has one.
        batch_size: windows per forward pass.
        device: where the inputs go (default: where the model is).
    """
    labels = tuple(model.config.labels)
    if target is None:
        if len(labels) > 1:
            raise InputError(f"the model has {len(labels)} targets; choose one with --target: {list(labels)}")
        target = labels[0]
    column = label_index(model, target)
    window = model.config.window
    if len(seq) != window:
        raise InputError(f"the sequence has {len(seq):,} bases; the model's window is {window:,}")
    where = [(i, b) for i in range(len(seq)) for b, base in enumerate(BASES) if base != seq[i]]
    mutants = [seq[:i] + BASES[b] + seq[i + 1:] for i, b in where]
    probs = predict_probs(model, [seq, *mutants], batch_size=batch_size, device=device,
                          strands="both")[:, column]
    p_mut = np.full((len(seq), len(BASES)), probs[0])
    if where:
        rows, cols = np.array(where).T
        p_mut[rows, cols] = probs[1:]
    return Mutagenesis(seq, target, float(probs[0]), p_mut)


def plot_mutagenesis(matrix: pd.DataFrame, title: str = "", metric: str = "delta_p"):
    """A heatmap of a (W, 4) mutagenesis matrix, bases down and positions across, centred on 0; the Figure."""
    import seaborn as sns
    from matplotlib.figure import Figure

    width = len(matrix)
    fig = Figure(figsize=(min(max(6.0, width / 22), 30.0), 2.6))
    ax = fig.add_subplot()
    limit = float(np.nanmax(np.abs(matrix.to_numpy()))) or 1.0
    step = max(1, round(width / 12 / 5) * 5)
    sns.heatmap(matrix.T, ax=ax, cmap="RdBu_r", center=0, vmin=-limit, vmax=limit, xticklabels=step,
                cbar_kws={"label": metric.replace("_", " ")})
    ax.set(xlabel="position", ylabel="base", title=title)
    ax.tick_params(axis="y", labelrotation=0)
    fig.tight_layout()
    return fig


def write_mutagenesis(model, seq: str, prefix: str | Path, *, name: str = "", target: str | None = None,
                      metric: str = "delta_p", batch_size: int = 64,
                      device: torch.device | str | None = None) -> tuple[Mutagenesis, list[Path]]:
    """Run :func:`saturation_mutagenesis` and write ``PREFIX.delta_p.tsv``, ``PREFIX.delta_logit.tsv``, ``PREFIX.png``.

    Each TSV has columns ``position`` (1-based), ``ref`` (the base there), ``A C G T``; the heatmap
    shows ``metric``. Every file is written to a temporary name and renamed.
    """
    result = saturation_mutagenesis(model, seq, target, batch_size=batch_size, device=device)
    prefix = Path(prefix)
    files = []
    for kind in MATRIX_METRICS:
        table = result.matrix(kind)
        table.insert(0, "ref", list(seq))
        path = prefix.with_name(f"{prefix.name}.{kind}.tsv")
        with atomic_open(path) as handle:
            table.to_csv(handle, sep="\t", float_format="%.6g")
        files.append(path)
    title = f"{name + ': ' if name else ''}{metric.replace('_', ' ')} of {result.target} (p = {result.p_ref:.3f})"
    figure = plot_mutagenesis(result.matrix(metric), title=title, metric=metric)
    path = prefix.with_name(f"{prefix.name}.png")
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=120)
    files.append(path)
    return result, files
