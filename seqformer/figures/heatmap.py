"""Cell heatmaps with thinned letter ticks: the base of the attention and substitution figures.

Axes: rows and columns of one (R, C) grid of values.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

MAX_TICKS = 64  # more positions than this: every step-th is labelled, with its 0-based offset


def position_labels(labels: Sequence[str], max_ticks: int = MAX_TICKS) -> tuple[np.ndarray, list[str]]:
    """Tick positions (cell centres) and labels: every label when few, else every step-th as ``offset:label``."""
    labels = list(labels)
    if len(labels) <= max_ticks:
        return np.arange(len(labels)) + 0.5, labels
    step = -(-len(labels) // max_ticks)
    where = np.arange(0, len(labels), step)
    return where + 0.5, [f"{i}:{labels[i]}" for i in where]


def heatmap(ax, values: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str], *, title: str,
             cbar: bool, **options) -> None:
    """One seaborn heatmap with (subsampled) letters on both axes."""
    import seaborn as sns

    sns.heatmap(values, ax=ax, xticklabels=False, yticklabels=False, cbar=cbar, square=values.shape[0] == values.shape[1],
                **options)
    for axis, labels in ((ax.xaxis, col_labels), (ax.yaxis, row_labels)):
        ticks, names = position_labels(labels)
        axis.set_ticks(ticks)
        axis.set_ticklabels(names, fontsize=7 if len(names) > 30 else 8, fontfamily="monospace")
    ax.tick_params(axis="x", labelrotation=90)
    ax.tick_params(axis="y", labelrotation=0)
    ax.set_title(title, fontsize=9)
