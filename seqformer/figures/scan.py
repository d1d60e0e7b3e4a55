"""Scan-level figures: recall of annotated TSSs against false calls per 100 kb, one curve per predictor.

Axes: P predictors (the model first, then baselines), S thresholds. A predictor's ``sweep`` is any
table with ``false_per_100kb`` and ``recall`` columns (arrays of length S), one row per threshold
from the highest down, as :func:`seqformer.evaluation.scan.threshold_sweep` gives it; the curve
starts at (0, 0), the threshold above every value, and is drawn as steps (a lower threshold adds
false calls, then recall; a merge of calls can take false calls back). Its ``points`` are the operating points read off
the curve (``target_false_per_100kb``, ``false_per_100kb``, ``recall``), marked on it; the target
rates are drawn as dotted verticals. The model is solid, the baselines dashed (Okabe-Ito colours);
the legend, below the axes, carries each predictor's recall at the target rates (in the order its
last entry names them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from seqformer.figures.style import LINE_COLOURS, LINE_STYLES, figure, style

RATE_COLOUR = "#595959"  # target-rate verticals: dark grey, dotted, under the data
RATE_STYLE = ":"
X_MAX = 5.0  # false calls per 100 kb shown when the curves reach further
SCAN_SIZE = (4.6, 4.6)  # inches: the axes, a two-line title above, the legend below
MARKERS = ("o", "s", "^", "D")


def _rates_text(rates: Sequence[float]) -> str:
    return " / ".join(f"{r:g}" for r in rates)


def _called_curve(false_rate: np.ndarray, recall: np.ndarray, x_max: float) -> tuple[np.ndarray, np.ndarray]:
    """The curve from the highest threshold down to the first one past ``x_max`` false calls per 100 kb.

    Lower thresholds than that merge calls into ever fewer, ever longer regions until one call covers
    the whole region (recall 1 at no false call): a regime no user calls in, left off the plot.
    """
    past = np.flatnonzero(false_rate > x_max)
    stop = past[0] + 1 if len(past) else len(false_rate)
    return np.concatenate([[0.0], false_rate[:stop]]), np.concatenate([[0.0], recall[:stop]])


def plot_scan_curves(sweeps: Mapping[str, object], points: Mapping[str, Sequence[Mapping[str, float]]] | None = None,
                     *, region: str, distance: int, tss: int, bases: int | None = None,
                     x_max: float | None = None) -> Figure:
    """Recall of TSSs against false calls per 100 kb, one curve per predictor, operating points marked.

    Args:
        sweeps: predictor → its sweep (``false_per_100kb`` and ``recall`` columns), the model first.
        points: predictor → its operating points (``target_false_per_100kb``, ``false_per_100kb``,
            ``recall``); their target rates are drawn as verticals and each predictor's recalls there go
            into its legend entry.
        region: the scanned region (in the title).
        distance: bases allowed between a call and a TSS (in the y label).
        tss: annotated TSSs in the region (in the title).
        bases: the region's length (in the title, when given).
        x_max: the x axis's end; None: 0-5 when a curve reaches 5, else scaled to the data (and the
            target rates). Each curve runs from its highest threshold down to the first threshold past
            ``x_max`` (lower ones only merge calls into a few huge ones: not a way anyone calls).
    """
    points = points or {}
    rates = sorted({float(p["target_false_per_100kb"]) for pts in points.values() for p in pts})
    if x_max is None:
        reach = max([float(np.nanmax(np.asarray(s["false_per_100kb"], float), initial=0.0)) for s in sweeps.values()]
                    + rates + [0.0])
        x_max = X_MAX if reach >= X_MAX else max(reach, 1.0) * 1.05
    with style():
        fig = figure(*SCAN_SIZE)
        ax = fig.add_subplot()
        for rate in rates:
            ax.axvline(rate, color=RATE_COLOUR, linestyle=RATE_STYLE, linewidth=1.0, zorder=1)
        for index, (name, sweep) in enumerate(sweeps.items()):
            colour = LINE_COLOURS[index % len(LINE_COLOURS)]
            x, y = _called_curve(np.asarray(sweep["false_per_100kb"], float), np.asarray(sweep["recall"], float),
                                 x_max)
            own = list(points.get(name, ()))
            label = name
            if own:
                recalls = " / ".join(f"{p['recall']:.2f}" for p in own)
                label += f": recall {recalls}"  # at the rates the operating points' entry names
            ax.plot(x, y, color=colour, linestyle=LINE_STYLES[index % len(LINE_STYLES)], linewidth=1.6,
                    drawstyle="steps-post", label=label, zorder=2 + index)
            if own:
                ax.plot([p["false_per_100kb"] for p in own], [p["recall"] for p in own], linestyle="none",
                        marker=MARKERS[index % len(MARKERS)], markersize=5, markerfacecolor="white",
                        markeredgecolor=colour, markeredgewidth=1.4, zorder=10 + index)
        ax.set(xlim=(0, x_max), ylim=(0, 1.02), xlabel="false calls per 100 kb",
               ylabel=f"recall of TSSs (a call within ±{distance:,} bp)",
               title=f"Scan: recall vs false calls, {region}\n{tss:,} annotated TSSs"
                     + ("" if bases is None else f" in {bases / 1000:,.4g} kb"))
        ax.grid(True, alpha=0.25, linewidth=0.6)
        handles, labels = ax.get_legend_handles_labels()
        if rates:
            from matplotlib.lines import Line2D

            handles.append(Line2D([], [], color=RATE_COLOUR, linestyle=RATE_STYLE, marker="o", markersize=5,
                                  markerfacecolor="white", markeredgecolor=RATE_COLOUR))
            labels.append(f"operating points at {_rates_text(rates)} false calls per 100 kb")
        fig.legend(handles, labels, loc="outside lower center", ncols=1, frameon=False)
    return fig
