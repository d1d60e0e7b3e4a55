"""Benchmark figures: encoder time per attention implementation against sequence length.

Axes: I implementations, L lengths. ``rows`` are objects (or dicts) with the fields of
:class:`seqformer.bench.attention.BenchRow` that a plot needs: ``impl``, ``length``, ``seconds``
and ``status`` ("ok" or why not). Peers (other packages' implementations) are drawn dashed with
open markers, in the colour of the kind they are a peer of, and named as peers in the legend; the
caption under the axes says where the numbers were measured (device, threads, dtype).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from seqformer.figures.style import LINE_COLOURS, figure, style

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")  # one per implementation, beside its colour
MAX_X_TICKS = 7  # more lengths than this: every step-th is labelled
PEER_STYLE = "--"
CAPTION_LETTERS_PER_INCH = 14  # 8 pt letters, with room to spare


def _field(row: Any, name: str):
    return row[name] if isinstance(row, Mapping) else getattr(row, name)


def plain_number(value: float, _position=None) -> str:
    """A tick label without exponents: 512, 1,024, 0.05, 2.5 (never 2⁹ or 6×10⁻¹)."""
    if value <= 0 or not math.isfinite(value):
        return ""
    if value >= 1 and float(value).is_integer():
        return f"{value:,.0f}"
    decimals = max(0, -math.floor(math.log10(value)) + 1)
    return f"{value:,.{decimals}f}".rstrip("0").rstrip(".")


def seconds_ticks(low: float, high: float) -> list[float]:
    """Round tick values (1, 2, 5 per decade, fewer over many decades) covering [low, high] seconds."""
    decades = math.log10(high / low) if high > low else 0.0
    subs = (1, 2, 5) if decades <= 2.5 else (1, 3) if decades <= 4 else (1,)
    ticks = [sub * 10.0 ** exponent for exponent in range(math.floor(math.log10(low)) - 1,
                                                            math.ceil(math.log10(high)) + 1) for sub in subs]
    inside = [tick for tick in ticks if low <= tick <= high]
    return inside if len(inside) >= 2 else [tick for tick in ticks if low / 10 <= tick <= high * 10]


def caption_text(about: Mapping[str, object], width: int = 100) -> str:
    """'device: …  ·  threads: 2  ·  dtype: fp32  ·  …' from ``about`` (empty values left out), in
    lines of at most about ``width`` characters."""
    lines: list[str] = []
    for part in (f"{key}: {value}" for key, value in about.items() if value not in (None, "")):
        if lines and len(lines[-1]) + 5 + len(part) <= width:
            lines[-1] += "  ·  " + part
        else:
            lines.append(part)
    return "\n".join(lines)


def failures(rows: Sequence[Any]) -> str:
    """What did not run, per status: 'oom from 16,384', 'unavailable', 'error at 512, 2,048'.

    ``rows`` are one implementation's rows in length order; a status that holds from some length to
    the longest is written "from" that length ("unavailable" at every length is named alone).
    """
    lengths = [_field(row, "length") for row in rows]
    parts = []
    for status in dict.fromkeys(_field(row, "status").split(":")[0] for row in rows):
        if status == "ok":
            continue
        at = [_field(row, "length") for row in rows if _field(row, "status").split(":")[0] == status]
        if at == lengths and status == "unavailable":
            parts.append(status)
        elif at == lengths[len(lengths) - len(at):]:
            parts.append(f"{status} from {at[0]:,}")
        else:
            parts.append(f"{status} at {', '.join(f'{length:,}' for length in at)}")
    return "; ".join(parts)


def plot_attention_speed(rows: Sequence[Any], *, peers: Mapping[str, str | None] | None = None,
                         about: Mapping[str, object] | None = None,
                         title: str = "Encoder forward+backward time, batch 1") -> Figure:
    """Log-log seconds against sequence length, a line per implementation; failed runs named in the legend.

    Args:
        rows: benchmark rows (``impl``, ``length``, ``seconds``, ``status``), any order.
        peers: peer implementation → the registered kind it is a peer of (its colour), or None.
        about: where it was measured, for the caption: e.g. {"device": ..., "threads": 2, "dtype": "fp32"}.
        title: the axes title.
    """
    peers = dict(peers or {})
    impls = list(dict.fromkeys(_field(row, "impl") for row in rows))
    ours = [impl for impl in impls if impl not in peers]
    colours = [c for c in LINE_COLOURS if c != "#F0E442"]  # Okabe-Ito's yellow is too faint for a thin line
    colour = {impl: colours[i % len(colours)] for i, impl in enumerate(ours)}
    marker = {impl: MARKERS[i % len(MARKERS)] for i, impl in enumerate(ours)}
    spare = iter(colours[len(ours) % len(colours):] + colours[:len(ours) % len(colours)])
    for impl in impls:
        if impl in peers:
            kin = peers[impl]
            colour[impl] = colour[kin] if kin in colour else next(spare, colours[-1])
            marker[impl] = marker.get(kin, "s")
    lengths = sorted({_field(row, "length") for row in rows})
    timed = [_field(row, "seconds") for row in rows if _field(row, "status") == "ok"]
    with style():
        fig = figure(7.0, 4.6)
        ax = fig.add_subplot()
        for impl in [*ours, *(impl for impl in impls if impl in peers)]:
            mine = sorted((row for row in rows if _field(row, "impl") == impl), key=lambda row: _field(row, "length"))
            ok = [row for row in mine if _field(row, "status") == "ok"]
            peer = impl in peers
            name = impl + (f" (peer of {peers[impl]})" if peer and peers[impl] else " (peer)" if peer else "")
            failed = failures(mine)
            label = name + (f"\n{failed}" if failed else "")
            options = {"color": colour[impl], "marker": marker[impl], "label": label, "markersize": 5,
                       "linestyle": PEER_STYLE if peer else "-", "linewidth": 1.4,
                       "markerfacecolor": "white" if peer else colour[impl]}
            if ok:
                ax.plot([_field(row, "length") for row in ok], [_field(row, "seconds") for row in ok], **options)
            else:
                ax.plot([], [], **{**options, "linestyle": "none"})
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        if lengths:
            step = math.ceil(len(lengths) / MAX_X_TICKS)
            ax.xaxis.set_major_locator(FixedLocator(lengths[::step]))
            ax.xaxis.set_minor_locator(FixedLocator(lengths))  # every measured length gets a tick mark
            ax.xaxis.set_minor_formatter(FuncFormatter(lambda value, position: ""))
            ax.set_xlim(lengths[0] / 1.4, lengths[-1] * 1.4)
        ax.xaxis.set_major_formatter(FuncFormatter(plain_number))
        if timed:
            low, high = float(np.min(timed)) / 1.5, float(np.max(timed)) * 1.5
        else:
            low, high = 0.1, 10.0
            ax.text(0.5, 0.5, "no run finished", transform=ax.transAxes, ha="center", va="center", color="#333333")
        ax.set_ylim(low, high)
        ax.yaxis.set_major_locator(FixedLocator(seconds_ticks(low, high)))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(plain_number))
        ax.set(xlabel="sequence length L (tokens, log scale)", ylabel="seconds per forward+backward (best, log scale)",
               title=title)
        ax.grid(True, alpha=0.3, linewidth=0.6)
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right upper", frameon=False, labelspacing=0.7,
                   title="solid: seqformer kinds\ndashed: peers" if any(i in peers for i in impls) else None,
                   title_fontsize=8, alignment="left")
        caption = caption_text(about or {}, width=int(CAPTION_LETTERS_PER_INCH * 7.0))
        if caption:
            fig.supxlabel(caption, fontsize=8, color="#333333", x=0.01, ha="left", linespacing=1.4)
    return fig
