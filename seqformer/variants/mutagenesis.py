"""In-silico saturation mutagenesis: one window, every position changed to every base.

Axes: W positions (the model's window), 4 bases (A C G T), T targets. For a sequence of W bases
every single-base substitution (3 per position, 4 where the base is N) is scored with the
classifier, both strands averaged as for variants (:func:`~seqformer.predict.scorer.predict_probs` with ``strands="both"``),
and compared with the unmutated sequence for one target:

- ``delta_p[i, b] = p(seq with base b at i) - p(seq)``;
- ``delta_logit[i, b] = logit(p(mutant)) - logit(p(seq))`` (clipped as in :mod:`.effect`).

Where ``b`` is the base already at ``i`` the entry is exactly 0. The figures are drawn by
:mod:`seqformer.figures.mutagenesis` (:func:`plot_mutagenesis` here is its heatmap, kept for callers
of this module): the heatmap (bases down, positions across, reference bases dotted) and the logo of
each reference base's importance; :func:`write_mutagenesis` writes the tables and both figures.
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


def plot_mutagenesis(matrix: pd.DataFrame, title: str = "", metric: str = "delta_p", **options):
    """The heatmap of :func:`seqformer.figures.mutagenesis.plot_mutagenesis` (``ref``, ``start``,
    ``chrom``, ``tss`` among ``options``); the Figure."""
    from seqformer.figures.mutagenesis import plot_mutagenesis as plot

    return plot(matrix, title=title, metric=metric, **options)


def write_mutagenesis(model, seq: str, prefix: str | Path, *, name: str = "", target: str | None = None,
                      metric: str = "delta_p", chrom: str | None = None, start: int = 1, tss: int | None = None,
                      batch_size: int = 64, device: torch.device | str | None = None) -> tuple[Mutagenesis, list[Path]]:
    """Run :func:`saturation_mutagenesis` and write its tables and figures (``PREFIX.`` + each name):

    - ``delta_p.tsv``, ``delta_logit.tsv``: columns ``position`` (1-based in the window), ``ref``
      (the base there), ``A C G T``;
    - ``png`` and ``svg``: the heatmap of ``metric``
      (:func:`seqformer.figures.mutagenesis.plot_mutagenesis`), the reference bases dotted;
    - ``logo.png`` and ``logo.svg``: the logo of each reference base's importance in ``metric``
      (minus the mean effect of its three mutations;
      :func:`seqformer.figures.mutagenesis.reference_importance`).

    ``chrom`` and ``start`` place the window on a genome (``start`` the 1-based coordinate of its first
    base; without ``chrom`` positions are 1..W in the window); ``tss`` (same coordinates) is marked.
    ``name`` (the region or record) goes in the titles. Each file is written to a temporary name and
    renamed.
    """
    from seqformer.figures.mutagenesis import metric_label, plot_mutagenesis_logo
    from seqformer.figures.style import save_figure

    last = start + len(seq) - 1
    if tss is not None and not start <= tss <= last:
        where = f"{chrom}:{start:,}-{last:,}" if chrom else f"the window 1-{len(seq)}"
        raise InputError(f"the TSS {tss:,} lies outside {where}")
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
    place = f"{chrom}:{start:,}-{last:,}" if chrom else (name or "the sequence")
    label = metric_label(metric)
    where = {"ref": seq, "start": start, "chrom": chrom, "tss": tss, "metric": metric}
    title = f"{result.target}: {label} of every single-base substitution in {place} (reference p = {result.p_ref:.3f})"
    heatmap = plot_mutagenesis(result.matrix(metric), title=title, **where)
    files += save_figure(heatmap, prefix.with_name(f"{prefix.name}.png"))
    title = f"{result.target}: importance of each reference base in {place} ({label}; reference p = {result.p_ref:.3f})"
    logo = plot_mutagenesis_logo(result.matrix(metric), title=title, **where)
    files += save_figure(logo, prefix.with_name(f"{prefix.name}.logo.png"))
    return result, files
