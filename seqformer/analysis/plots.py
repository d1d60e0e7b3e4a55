"""Figures of attention: heatmaps of heads with the sequence's letters on the axes, and the learned
amino-acid correlations beside a substitution matrix.

Axes: N layers, H heads, q query and k key positions (tokens or letters), A = 20 amino acids.
Every function takes data (arrays, :class:`~seqformer.analysis.attention.AttentionMaps`, DataFrames)
and returns a matplotlib :class:`~matplotlib.figure.Figure`; nothing is drawn on pyplot's current
figure or saved.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from seqformer.analysis.attention import AttentionMaps
from seqformer.analysis.substitution import MatrixComparison

MAX_TICKS = 64  # more positions than this: every step-th is labelled, with its 0-based offset


def position_labels(labels: Sequence[str], max_ticks: int = MAX_TICKS) -> tuple[np.ndarray, list[str]]:
    """Tick positions (cell centres) and labels: every label when few, else every step-th as ``offset:label``."""
    labels = list(labels)
    if len(labels) <= max_ticks:
        return np.arange(len(labels)) + 0.5, labels
    step = -(-len(labels) // max_ticks)
    where = np.arange(0, len(labels), step)
    return where + 0.5, [f"{i}:{labels[i]}" for i in where]


def _heatmap(ax, values: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str], *, title: str,
             cbar: bool, **options) -> None:
    """One seaborn heatmap with (subsampled) letters on both axes."""
    import seaborn as sns

    sns.heatmap(values, ax=ax, xticklabels=False, yticklabels=False, cbar=cbar, square=values.shape[0] == values.shape[1],
                **options)
    for axis, labels in ((ax.xaxis, col_labels), (ax.yaxis, row_labels)):
        ticks, names = position_labels(labels)
        axis.set_ticks(ticks)
        axis.set_ticklabels(names, fontsize=6 if len(names) > 30 else 8, fontfamily="monospace")
    ax.tick_params(axis="x", labelrotation=90)
    ax.tick_params(axis="y", labelrotation=0)
    ax.set_title(title, fontsize=9)


def plot_heads(maps: AttentionMaps, layer: int, *, heads: Sequence[int] | None = None, letters: bool = True,
               columns: int = 4, vmax: float | None = None):
    """Heatmaps of the heads of one layer (queries down, keys across), letters or tokens on the axes.

    Args:
        maps: one sequence's maps.
        layer: 0-based layer.
        heads: which heads (default all).
        letters: map to letters (:meth:`AttentionMaps.letters`) or show tokens.
        columns: heads per row of the grid.
        vmax: top of the colour scale (default: the largest weight shown).
    """
    from matplotlib.figure import Figure

    if not 0 <= layer < maps.num_layers:
        raise ValueError(f"layer must be in 0..{maps.num_layers - 1}, got {layer}")
    heads = list(range(maps.num_heads)) if heads is None else list(heads)
    values = (maps.letters() if letters else maps.probs)[layer, heads]  # (h, q, k)
    labels = list(maps.seq) if letters else list(maps.tokens)
    columns = min(columns, len(heads))
    rows = -(-len(heads) // columns)
    fig = Figure(figsize=(3.6 * columns + 0.8, 3.4 * rows + 0.6))
    axes = fig.subplots(rows, columns, squeeze=False)
    top = float(values.max()) if vmax is None else vmax
    for ax, head, grid in zip(axes.flat, heads, values):
        _heatmap(ax, grid, labels, labels, title=f"layer {layer} head {head}", cbar=False, cmap="viridis",
                 vmin=0.0, vmax=top or 1.0)
    for ax in axes.flat[len(heads):]:
        ax.set_visible(False)
    unit = "letters" if letters else "tokens"
    fig.suptitle(f"{maps.name or 'sequence'}: {maps.kind} attention over {unit} (queries down, keys across; "
                 f"colour 0-{top:.2g})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_layers(maps: AttentionMaps, head: int, *, letters: bool = False):
    """One head's map in every layer, side by side (the same colour scale)."""
    from matplotlib.figure import Figure

    values = (maps.letters() if letters else maps.probs)[:, head]  # (N, q, k)
    labels = list(maps.seq) if letters else list(maps.tokens)
    fig = Figure(figsize=(3.6 * maps.num_layers + 0.8, 4.0))
    axes = fig.subplots(1, maps.num_layers, squeeze=False)[0]
    top = float(values.max()) or 1.0
    for layer, (ax, grid) in enumerate(zip(axes, values)):
        _heatmap(ax, grid, labels, labels, title=f"layer {layer} head {head}", cbar=layer == len(axes) - 1,
                 cmap="viridis", vmin=0.0, vmax=top)
    fig.tight_layout()
    return fig


def plot_head_shares(shares: pd.DataFrame):
    """Heatmap of each kept head's share of attention landing on each amino acid (heads down)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, max(2.5, 0.22 * len(shares) + 1.2)))
    ax = fig.add_subplot()
    rows = [f"{layer}.{head}" for layer, head in shares.index]
    _heatmap(ax, shares.to_numpy(), rows, list(shares.columns), title="share of attention landing on each "
             "amino acid (layer.head)", cbar=True, cmap="magma", vmin=0.0)
    fig.tight_layout()
    return fig


def plot_substitution_comparison(comparisons: Mapping[str, MatrixComparison], matrix: pd.DataFrame, *,
                                 matrix_name: str):
    """Side by side: the amino-acid pair correlations of each comparison, then the substitution matrix.

    Args:
        comparisons: panel label → one model's comparison at one threshold (its r and θ go in the title).
        matrix: (A, A) the substitution matrix's scores; its diagonal is left blank (not compared).
        matrix_name: its name, for the titles.
    """
    from matplotlib.figure import Figure

    correlation = {"cmap": "RdBu_r", "vmin": -1.0, "vmax": 1.0}
    panels = [(comparison.correlations, f"{label} (θ = {comparison.threshold:g}, {comparison.heads_used} heads)\n"
               f"pair correlation over heads; r = {_r(comparison.pearson_r)}", correlation)
              for label, comparison in comparisons.items()]
    blank = matrix.to_numpy(dtype=float).copy()
    np.fill_diagonal(blank, np.nan)
    limit = float(np.nanmax(np.abs(blank))) or 1.0
    panels.append((pd.DataFrame(blank, index=matrix.index, columns=matrix.columns),
                   f"{matrix_name}\n(off-diagonal scores)", {"cmap": "RdBu_r", "vmin": -limit, "vmax": limit}))
    fig = Figure(figsize=(4.6 * len(panels), 4.6))
    for ax, (frame, title, options) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        _heatmap(ax, frame.to_numpy(dtype=float), list(frame.index), list(frame.columns), title=title,
                 cbar=True, **options)
    fig.tight_layout()
    return fig


def _r(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"
