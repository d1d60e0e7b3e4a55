"""The conventions every seqformer figure follows, and saving as PNG + SVG.

Plot functions take data (arrays, DataFrames, dataclasses of arrays) and return a matplotlib
:class:`~matplotlib.figure.Figure`; nothing is drawn on pyplot's current figure. They build it
inside :func:`figure` so that every figure gets:

- text at least :data:`MIN_FONT_PT` points at the default size (ticks 8 pt, labels 9, titles 10);
- constrained layout, so that nothing is clipped at the canvas edge or overlaps;
- colour-blind-safe colours: :data:`LINE_COLOURS` (Okabe & Ito 2008) for lines and bars,
  ``viridis`` for weights (:data:`SEQUENTIAL`), ``RdBu_r`` centred on 0 for signed values
  (:data:`DIVERGING`), and NaN cells drawn in :data:`NAN_COLOUR` (distinct from any value);
- every heatmap with a labelled colour bar (:func:`colorbar`), thinned readable ticks
  (:func:`thin_ticks`), axis labels with units.

:func:`save_figure` writes ``NAME.png`` (150 dpi) and ``NAME.svg`` beside it, atomically.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

MIN_FONT_PT = 7.0  # the smallest text any figure may carry
DPI = 150  # PNG resolution
#: Okabe & Ito's colour-blind-safe palette (black last): the order every line and bar plot uses.
LINE_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
LINE_STYLES = ("-", "--", ":", "-.")  # peers and baselines get their own style beside the colour
SEQUENTIAL = "viridis"  # non-negative values (attention weights, shares)
DIVERGING = "RdBu_r"  # signed values, centred on 0 (correlations, effects, substitution scores)
NAN_COLOUR = "#d0d0d0"  # undefined cells: light grey, never a colour of the scale

STYLE = {
    "font.size": 8.0, "axes.titlesize": 10.0, "axes.labelsize": 9.0, "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0, "legend.fontsize": 8.0, "figure.titlesize": 10.0,
    "axes.prop_cycle": matplotlib.cycler(color=list(LINE_COLOURS)), "svg.fonttype": "none",
    "axes.spines.top": False, "axes.spines.right": False,
}


@contextlib.contextmanager
def style() -> Iterator[None]:
    """matplotlib settings of every seqformer figure (use around building one)."""
    with matplotlib.rc_context(STYLE):
        yield


def figure(width: float, height: float) -> Figure:
    """A new Figure (inches) with constrained layout, built under :func:`style`'s settings.

    Call plot code inside ``with style():`` as well, since text sizes are taken when text is made.
    """
    with style():
        return Figure(figsize=(width, height), layout="constrained")


def cmap(name: str) -> Colormap:
    """A copy of colour map ``name`` that draws NaN in :data:`NAN_COLOUR`."""
    return matplotlib.colormaps[name].with_extremes(bad=NAN_COLOUR)


def colorbar(fig: Figure, mappable, ax, label: str, **options):
    """A colour bar beside ``ax`` (or a list of axes) with its label: every heatmap gets one."""
    bar = fig.colorbar(mappable, ax=ax, **options)
    bar.set_label(label)
    return bar


def thin_ticks(count: int, most: int = 20, multiple: int = 1) -> np.ndarray:
    """Positions 0..count-1 to label: at most ``most`` of them, on a round step that is a multiple of ``multiple``."""
    if count <= 0:
        return np.zeros(0, dtype=int)
    step = max(multiple, math.ceil(count / most))
    for nice in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000):
        if nice >= step and nice % multiple == 0:
            step = nice
            break
    return np.arange(0, count, step)


def label_positions(ax, axis: str, labels: Sequence[str], most: int = 20, multiple: int = 1) -> None:
    """Put thinned ``labels`` (one per cell) on ``axis`` ('x' or 'y') of a cell plot drawn with imshow."""
    where = thin_ticks(len(labels), most, multiple)
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_ticks(where)
    target.set_ticklabels([labels[i] for i in where])


def save_figure(fig: Figure, path: str | Path) -> list[Path]:
    """Write ``fig`` as PNG and SVG (``path`` with each suffix), atomically; returns both paths."""
    from seqformer.io.atomic import atomic_open

    path = Path(path)
    written = []
    for suffix, options in ((".png", {"dpi": DPI}), (".svg", {})):
        target = path.with_suffix(suffix)
        with atomic_open(target, "wb") as handle:
            fig.savefig(handle, format=suffix[1:], **options)
        written.append(target)
    return written
