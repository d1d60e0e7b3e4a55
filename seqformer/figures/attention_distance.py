"""The figure of a long input's sparse attention maps: attention by query–key distance, one line per head.

Axes: N layers, H heads, L tokens, d = |i − j| the distance in tokens between query i and key j.
An L x L heatmap of thousands of tokens shows nothing at figure size, so a long map is drawn as
each head's cumulative share of attention within distance d (from
:attr:`~seqformer.analysis.long_attention.SparseAttentionMaps.profile`, computed from the full
rows), on a log distance axis, beside the same curve for attention spread evenly over every key.
A local head rises early, a global one follows the even curve. It follows
:mod:`seqformer.figures.style` (Okabe–Ito colours, labelled axes with units, thinned round ticks).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from seqformer.figures.style import LINE_COLOURS, LINE_STYLES, figure, style

EVEN_COLOUR = "#808080"  # the reference curve: attention spread evenly over all keys


def even_profile(length: int) -> np.ndarray:
    """(L,) share of (query, key) pairs at each distance d: what attention spread evenly over all L keys gives."""
    pairs = 2.0 * (length - np.arange(length))
    pairs[0] = length
    return pairs / float(length) ** 2


def distance_unit(maps) -> str:
    """What one token of distance is, for the axis label: residues, or tokens (with the k-mer stride in bp)."""
    if getattr(maps, "alphabet", "") == "protein":
        return "residues"
    starts = [int(start) for start, _ in np.asarray(maps.spans) if start >= 0]
    stride = starts[1] - starts[0] if len(starts) > 1 else None
    return f"tokens; 1 token = {stride} bp" if stride and stride > 1 else "tokens"


def _thousands(value: float, _position) -> str:
    """A log-axis tick: 1, 10, 100, 1,000."""
    return f"{value:,.0f}"


def plot_distance_profile(maps, layer: int, *, model: str | None = None) -> Figure:
    """Each head of ``layer``: the share of a query's attention within distance d, against d (log axis).

    ``maps`` is a :class:`~seqformer.analysis.long_attention.SparseAttentionMaps` (``profile``
    (N, H, L), ``name``, ``kind``, ``tokens``, ``spans``, ``statistics``). The legend gives each
    head's mean distance; the grey dashed curve is attention spread evenly over every key.
    """
    profile = np.asarray(maps.profile[layer], dtype=np.float64)  # (H, L)
    heads, length = profile.shape
    distance = np.arange(1, length)  # d = 0 (self) is inside the first point: within distance ≤ 1
    mean = maps.statistics.set_index(["layer", "head"])["distance"]
    with style():
        fig = figure(7.2, 3.8)
        ax = fig.add_subplot()
        for head in range(heads):
            within = 100.0 * np.cumsum(profile[head])[1:]
            ax.plot(distance, within, color=LINE_COLOURS[head % len(LINE_COLOURS)],
                    linestyle=LINE_STYLES[head // len(LINE_COLOURS) % len(LINE_STYLES)], linewidth=1.4,
                    label=f"head {head}: {mean[(layer, head)]:,.0f}")
        ax.plot(distance, 100.0 * np.cumsum(even_profile(length))[1:], color=EVEN_COLOUR, linestyle="--",
                linewidth=1.0, label="even over all keys")
        ax.set_xscale("log")
        ax.set_xlim(1, max(2, length - 1))
        ax.set_ylim(0, 100)
        ax.xaxis.set_major_locator(LogLocator(base=10))
        ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yticks(range(0, 101, 20))
        ax.grid(True, which="major", color="#e6e6e6", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.set_xlabel(f"query–key distance d = |i − j| ({distance_unit(maps)})")
        ax.set_ylabel("share of attention within distance d (%)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, title="head: mean distance (tokens)",
                  title_fontsize=8)
        where = f"{model}: " if model else ""
        ax.set_title(f"{where}{maps.name}, layer {layer} ({maps.kind}, {length:,} tokens)", loc="left")
    return fig
