"""Sequence logos of per-base values (logomaker): each letter's height is its value, signed.

Axes: L positions (rows) by the 4 bases (columns ``A C G T``). The values are any per-base
quantity in one unit (an effect, an attribution, a motif weight); a positive value stacks its
letter above the zero line, a negative one below it (upright, not flipped, so that it stays
readable), the larger farther from zero, so a column's letters span from the sum of its negative
values to the sum of its positive ones. NaN draws no letter. Letters are coloured A green, C blue,
G orange, T vermilion (:data:`BASE_COLOURS`).

:func:`plot_logo` is the one logo of the package (mutagenesis, attribution and motif figures use
it); :func:`coordinate_axis` and :func:`mark_positions` give its x axis, and any other per-position
figure's, round-number coordinate ticks and labelled markers (a TSS).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from seqformer.figures.style import figure, style

BASES = "ACGT"
#: Letter colours: the usual A green, C blue, G orange, T red, taken from Okabe & Ito's palette.
BASE_COLOURS = {"A": "#009E73", "C": "#0072B2", "G": "#E69F00", "T": "#D55E00"}
MARK_COLOUR = "#404040"  # markers of positions (a TSS): dark grey, dashed
TICK_SPACING_IN = 0.85  # at least this much width (inches) per x tick label of coordinates


def logo_frame(values, positions: Sequence[int] | None = None) -> pd.DataFrame:
    """``values`` as logomaker draws them: columns ``A C G T``, an integer index of positions, no NaN.

    Args:
        values: (L, 4) array (columns in the order A C G T) or DataFrame with columns A, C, G, T
            (any order; its index gives the positions when it is integer and ``positions`` is None).
        positions: the coordinate of each row (L integers, increasing by 1); default: the
            DataFrame's integer index, else 1..L.
    """
    if isinstance(values, pd.DataFrame):
        if sorted(values.columns) != list(BASES):
            raise ValueError(f"a logo needs columns {list(BASES)}, got {list(values.columns)}")
        index = values.index
        frame = values[list(BASES)].to_numpy(dtype=float)
        if positions is None and pd.api.types.is_integer_dtype(index):
            positions = index.to_numpy()
    else:
        frame = np.asarray(values, dtype=float)
        if frame.ndim != 2 or frame.shape[1] != len(BASES):
            raise ValueError(f"a logo needs an (L, 4) array of A C G T values, got shape {frame.shape}")
    positions = np.arange(1, len(frame) + 1) if positions is None else np.asarray(positions)
    if len(positions) != len(frame):
        raise ValueError(f"{len(positions)} positions for {len(frame)} rows")
    if len(frame) == 0:
        raise ValueError("a logo needs at least one position")
    if len(positions) > 1 and not (np.diff(positions) == 1).all():
        raise ValueError("positions must be consecutive integers (one per row, increasing by 1)")
    return pd.DataFrame(np.nan_to_num(frame, nan=0.0), index=pd.Index(positions.astype(int), name="pos"),
                        columns=list(BASES))


def plot_width(count: int, *, least: float = 5.5, most: float = 14.0) -> float:
    """Figure width (inches) for ``count`` positions across: about 0.035 in per position, clipped."""
    return float(np.clip(1.8 + 0.035 * count, least, most))


def fit_title(text: str, width: float) -> str:
    """``text`` wrapped at spaces to lines that fit a ``width``-inch figure at the title size (10 pt)."""
    import textwrap

    return textwrap.fill(text, width=max(20, int(width * 12.5)), break_long_words=False)


def coordinate_axis(ax, first: int, last: int, label: str) -> None:
    """x axis of positions ``first``..``last`` (cells centred on integers): round-number ticks, thinned
    to the axes' width, thousands separated by commas, and ``label``."""
    ax.set_xlim(first - 0.5, last + 0.5)
    width = ax.get_position().width * ax.get_figure(root=True).get_figwidth()
    digits = len(f"{last:,}")
    room = TICK_SPACING_IN * max(1.0, digits / 7)
    bins = int(max(2, min(12, width / room)))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=bins, steps=[1, 2, 2.5, 5, 10], integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{int(round(x)):,}"))
    ax.set_xlabel(label)


def mark_positions(ax, marks: Mapping[int, str]) -> None:
    """A dashed vertical line at each position of ``marks`` (position -> label, e.g. ``{68313: "TSS"}``),
    labelled on a tick above the axes (the title stays clear of it)."""
    if not marks:
        return
    low, high = sorted(ax.get_xlim())
    for where in marks:
        if not low <= where <= high:
            raise ValueError(f"position {where:,} to mark lies outside the plotted {low + 0.5:,.0f}-{high - 0.5:,.0f}")
        ax.axvline(where, color=MARK_COLOUR, linestyle="--", linewidth=0.9, zorder=2.5)
    top = ax.secondary_xaxis("top")
    top.set_xticks(list(marks), [marks[where] for where in marks])
    top.tick_params(axis="x", length=3, color=MARK_COLOUR, labelcolor=MARK_COLOUR)
    top.spines["top"].set_visible(False)


def plot_logo(values, positions: Sequence[int] | None = None, *, ax=None, ylabel: str = "effect",
              xlabel: str = "position (bp)", title: str = "", marks: Mapping[int, str] | None = None,
              height: float = 2.4) -> Figure:
    """A logo of per-base ``values`` (module docstring): letter heights are the values, signed.

    Args:
        values: (L, 4) per-base values, columns A C G T (see :func:`logo_frame`).
        positions: the coordinate of each row (e.g. genomic, 1-based); default 1..L.
        ax: draw on this axes (and return its figure) instead of a new figure.
        ylabel: the values' name with units, e.g. ``"importance (Δp)"``.
        xlabel: the positions' name with units, e.g. ``"chr20 position (bp)"``.
        title: the axes title.
        marks: positions to mark with a dashed line and a label (``{tss: "TSS"}``).
        height: figure height in inches (a new figure is :func:`plot_width` wide).

    Returns:
        The Figure (nothing is saved or shown).
    """
    import logomaker

    frame = logo_frame(values, positions)
    with style():
        if ax is None:
            fig = figure(plot_width(len(frame)), height)
            ax = fig.add_subplot()
        logomaker.Logo(frame, ax=ax, color_scheme=BASE_COLOURS, flip_below=False, font_name="DejaVu Sans",
                       baseline_width=0.0, zorder=3)
        ax.axhline(0.0, color="black", linewidth=0.6, zorder=4)
        low = float(frame.clip(upper=0).sum(axis=1).min())
        high = float(frame.clip(lower=0).sum(axis=1).max())
        pad = 0.06 * ((high - low) or 1.0)
        ax.set_ylim(low - pad if low < 0 else 0.0, high + pad if high > 0 else 0.0)
        if low == high == 0.0:
            ax.set_ylim(-1.0, 1.0)
        first, last = int(frame.index[0]), int(frame.index[-1])
        coordinate_axis(ax, first, last, xlabel)
        ax.set_ylabel(ylabel)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
        if title:
            ax.set_title(fit_title(title, ax.get_figure(root=True).get_figwidth() - 1.4), loc="left")
        mark_positions(ax, dict(marks or {}))
    return ax.get_figure(root=True)
