"""Figures of attention against a substitution matrix: per-head amino-acid shares, pair correlations
beside the matrix.

Axes: A = 20 amino acids. ``comparisons`` map a panel label to objects with the fields of
:class:`seqformer.analysis.substitution.MatrixComparison` (``correlations`` (A, A), ``pearson_r``,
``threshold``, ``heads_used``).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from seqformer.figures.heatmap import heatmap as _heatmap


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


def plot_substitution_comparison(comparisons: Mapping[str, object], matrix: pd.DataFrame, *,
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
