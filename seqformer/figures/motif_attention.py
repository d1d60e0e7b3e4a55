"""The share of attention on motif instances over its position-matched control, as a layers x heads heatmap.

Axes: N layers (rows), H heads (columns). The table is one row per (layer, head) with the columns
``layer``, ``head``, ``share``, ``control`` and ``q_value`` (as
:func:`seqformer.analysis.motif_attention.attention_on_motifs` returns it). Each cell is
log2(share / control): 0 (white) where a head gives the instances what it gives the same
positions in other sequences, red where more, blue where less; undefined cells (NaN statistics,
a share or control of 0) are grey. A star marks heads whose paired test passes q < ``q_threshold``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqformer.figures.style import DIVERGING, cmap, colorbar, figure, label_positions, style

SIGNIFICANCE = 0.05  # heads with q below this get a star
MIN_LIMIT = 0.5  # the colour scale reaches at least ±this (log2 units: a √2-fold), so ratios near 1 stay pale


def motif_attention_grid(table: pd.DataFrame) -> np.ndarray:
    """(N, H) log2(share / control), NaN where undefined (a missing head, a share or control of 0 or NaN)."""
    layers, heads = int(table["layer"].max()) + 1, int(table["head"].max()) + 1
    grid = np.full((layers, heads), np.nan)
    share, control = table["share"].to_numpy(dtype=float), table["control"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.log2(share / control)
    grid[table["layer"].to_numpy(dtype=int), table["head"].to_numpy(dtype=int)] = np.where(np.isfinite(values),
                                                                                           values, np.nan)
    return grid


def plot_motif_attention(table: pd.DataFrame, *, q_threshold: float = SIGNIFICANCE, limit: float | None = None,
                         title: str = ""):
    """Heatmap layers x heads of log2(share on instances / control) (module docstring).

    Args:
        table: one row per (layer, head) with ``layer``, ``head``, ``share``, ``control``, ``q_value``.
        q_threshold: heads with ``q_value`` below this are starred.
        limit: the colour scale's ends, ±limit in log2 units (default: the largest |value|, at least
            :data:`MIN_LIMIT`).
        title: the figure's title (e.g. the model and the motifs).

    Returns:
        The Figure, with a labelled colour bar centred at 0.
    """
    if len(table) == 0:
        raise ValueError("the table has no heads")
    grid = motif_attention_grid(table)
    finite = np.abs(grid[np.isfinite(grid)])
    top = limit if limit is not None else max(float(finite.max()) if finite.size else 0.0, MIN_LIMIT)
    layers, heads = grid.shape
    with style():
        fig = figure(max(3.6, 0.42 * heads + 2.4), max(2.4, 0.36 * layers + 1.5))
        ax = fig.add_subplot()
        image = ax.imshow(grid, cmap=cmap(DIVERGING), vmin=-top, vmax=top, aspect="auto", interpolation="nearest")
        label_positions(ax, "x", [str(h) for h in range(heads)])
        label_positions(ax, "y", [str(layer) for layer in range(layers)])
        ax.set(xlabel="head", ylabel="layer")
        ax.set_title(title or "attention on motif instances over a position-matched control", fontsize=9, wrap=True)
        significant = np.zeros_like(grid, dtype=bool)
        rows = table["q_value"].to_numpy(dtype=float) < q_threshold
        significant[table["layer"].to_numpy(dtype=int)[rows], table["head"].to_numpy(dtype=int)[rows]] = True
        for layer, head in zip(*np.nonzero(significant)):
            dark = np.isfinite(grid[layer, head]) and abs(grid[layer, head]) > 0.6 * top
            ax.text(head, layer, "*", ha="center", va="center", fontsize=11, color="white" if dark else "black")
        colorbar(fig, image, ax, f"log2(share / control)\n* q < {q_threshold:g}, grey: undefined")
    return fig
