"""Figures of a saturation-mutagenesis matrix: the heatmap of every substitution and a logo of the
reference bases' importance.

Axes: W positions of one window (rows of ``matrix``) by the 4 bases (columns ``A C G T``); one
value per substitution, 0 where the base is the reference (``ref``). Positions are drawn in the
coordinates the caller gives: ``start`` is the coordinate of the first position (1-based genomic
when ``chrom`` names the contig, else the position in the window, 1..W), and ``tss`` a coordinate
in the same system to mark.

``metric`` names the values: ``delta_p`` (p(mutant) - p(reference)) or ``delta_logit`` (the same
in log-odds); any other name is shown as given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from seqformer.figures.logo import BASES, coordinate_axis, fit_title, logo_frame, mark_positions, plot_logo, plot_width
from seqformer.figures.style import DIVERGING, cmap, colorbar, figure, style

#: How each metric is written on an axis or colour bar (a difference, mutant minus reference).
METRIC_NAMES = {"delta_p": "Δp", "delta_logit": "Δlogit"}
METRIC_UNITS = {"delta_p": "probability", "delta_logit": "log-odds"}
REF_MARKER = "#1a1a1a"  # the dot on each reference base


def metric_label(metric: str) -> str:
    """``Δp`` / ``Δlogit`` for the two metrics, else ``metric`` as given."""
    return METRIC_NAMES.get(metric, metric)


def _unit(metric: str) -> str:
    return f" ({METRIC_UNITS[metric]})" if metric in METRIC_UNITS else ""


def position_label(chrom: str | None) -> str:
    """The x label: ``chr20 position (bp)`` on a genome, ``position in window (bp)`` otherwise."""
    return f"{chrom} position (bp)" if chrom else "position in window (bp)"


def _values(matrix) -> np.ndarray:
    if isinstance(matrix, pd.DataFrame):
        if sorted(matrix.columns) != list(BASES):
            raise ValueError(f"a mutagenesis matrix needs columns {list(BASES)}, got {list(matrix.columns)}")
        return matrix[list(BASES)].to_numpy(dtype=float)
    values = np.asarray(matrix, dtype=float)
    if values.ndim != 2 or values.shape[1] != len(BASES):
        raise ValueError(f"a mutagenesis matrix is (W, 4), got shape {values.shape}")
    return values


def _check_ref(ref: str | None, count: int) -> str | None:
    if ref is not None and len(ref) != count:
        raise ValueError(f"the reference has {len(ref)} bases for a matrix of {count} positions")
    return None if ref is None else ref.upper()


def reference_importance(matrix, ref: str) -> np.ndarray:
    """(W, 4) the importance of each reference base, in the reference base's column, 0 elsewhere.

    The importance of the base ``r`` at position ``i`` is minus the mean effect of mutating it to
    each of the three other bases: ``-(1/3) * sum over b != r of matrix[i, b]``. It is positive where
    the reference base supports the prediction (every change away from it lowers the score on
    average) and negative where changing it raises the score; it is in the matrix's units. A
    position whose reference is not one of A C G T (N) has no reference letter: its row is 0.
    """
    values = _values(matrix)
    ref = _check_ref(ref, len(values))
    out = np.zeros_like(values)
    for i, base in enumerate(ref):
        if base in BASES:
            column = BASES.index(base)
            others = np.delete(values[i], column)
            out[i, column] = -float(np.nanmean(others)) if np.isfinite(others).any() else 0.0
    return out


def plot_mutagenesis(matrix, *, ref: str | None = None, start: int = 1, chrom: str | None = None,
                     tss: int | None = None, title: str = "", metric: str = "delta_p") -> Figure:
    """Heatmap of a (W, 4) mutagenesis matrix: bases A C G T down, positions across, centred on 0.

    A dot marks the reference base of each position (``ref``, W bases; none at N); the colour bar
    is symmetric about 0 and labelled with the metric and its unit; NaN cells are grey. The x axis
    is in the coordinates of ``start`` (module docstring), with a dashed ``TSS`` line at ``tss``.

    Returns:
        The Figure (nothing is saved or shown).
    """
    values = _values(matrix)
    ref = _check_ref(ref, len(values))
    count = len(values)
    first, last = start, start + count - 1
    finite = np.abs(values[np.isfinite(values)])
    limit = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    with style():
        fig = figure(plot_width(count), 2.5)
        ax = fig.add_subplot()
        image = ax.imshow(values.T, aspect="auto", interpolation="nearest", cmap=cmap(DIVERGING), vmin=-limit,
                          vmax=limit, extent=(first - 0.5, last + 0.5, len(BASES) - 0.5, -0.5))
        ax.set_yticks(range(len(BASES)), list(BASES))
        ax.tick_params(axis="y", length=0)
        ax.set_ylabel("mutant base")
        for spine in ("top", "right"):
            ax.spines[spine].set_visible(True)
        coordinate_axis(ax, first, last, position_label(chrom))
        if ref is not None:
            where = [(first + i, BASES.index(base)) for i, base in enumerate(ref) if base in BASES]
            if where:
                x, y = np.array(where).T
                cell_pt = 72 * 0.8 * fig.get_figwidth() / count  # a cell's width in points, roughly
                size = float(np.clip(0.4 * cell_pt, 1.6, 5.0))
                ax.scatter(x, y, s=size ** 2, c=REF_MARKER, marker="o", linewidths=0, zorder=4,
                           label="reference base")
                ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False, borderaxespad=0.2,
                          handletextpad=0.3, markerscale=max(1.0, 4.0 / size))
        name = metric_label(metric)
        colorbar(fig, image, ax, f"{name}{_unit(metric)}\nmutant − reference", pad=0.01, aspect=12)
        if title:
            ax.set_title(fit_title(title, fig.get_figwidth() - 1.2), loc="left")
        mark_positions(ax, {tss: "TSS"} if tss is not None else {})
    return fig


def plot_mutagenesis_logo(matrix, ref: str, *, start: int = 1, chrom: str | None = None, tss: int | None = None,
                          title: str = "", metric: str = "delta_p") -> Figure:
    """Logo of :func:`reference_importance`: each reference letter as tall as its importance, signed.

    The positions and the TSS are drawn as in :func:`plot_mutagenesis`.

    Returns:
        The Figure (nothing is saved or shown).
    """
    importance = reference_importance(matrix, ref)
    positions = np.arange(start, start + len(importance))
    name = metric_label(metric)
    return plot_logo(logo_frame(importance, positions), ylabel=f"importance of the\nreference base ({name})",
                     xlabel=position_label(chrom), title=title, marks={tss: "TSS"} if tss is not None else None)
