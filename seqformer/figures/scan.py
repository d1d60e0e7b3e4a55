"""Scan-level figures: recall of annotated TSSs against false calls per 100 kb, one curve per predictor.

Axes: P predictors (the model first, then baselines), S thresholds. A predictor's ``sweep`` is any
table with ``false_per_100kb`` and ``recall`` columns (arrays of length S), one row per threshold
from the highest down, as :func:`seqformer.evaluation.scan.threshold_sweep` gives it; the curve
starts at (0, 0), the threshold above every value, and is drawn as steps (a lower threshold adds
false calls, then recall; a merge of calls can take false calls back). Its ``points`` are the operating points read off
the curve (``target_false_per_100kb``, ``false_per_100kb``, ``recall``), marked on it; the target
rates are drawn as dotted verticals. The model is solid, the baselines dashed (Okabe-Ito colours);
the legend, below the axes, carries each predictor's recall at the target rates (in the order its
last entry names them). :func:`plot_island_curves` draws the same curves in two panels, the recall of
the TSSs at CpG islands and of the others (:mod:`seqformer.evaluation.islands`).
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


def _x_max(sweeps, rates: Sequence[float]) -> float:
    """0-5 false calls per 100 kb when a curve reaches 5, else scaled to the data and the target rates."""
    reach = max([float(np.nanmax(np.asarray(s["false_per_100kb"], float), initial=0.0)) for s in sweeps]
                + list(rates) + [0.0])
    return X_MAX if reach >= X_MAX else max(reach, 1.0) * 1.05


def _draw_curves(ax, sweeps: Mapping[str, object], points: Mapping[str, Sequence[Mapping[str, float]]],
                 rates: Sequence[float], x_max: float, label_recalls: bool = True) -> None:
    """One step curve per predictor on ``ax`` (the model solid, baselines dashed), operating points marked,
    target rates as dotted verticals; with ``label_recalls`` each label carries the recalls at its points."""
    for rate in rates:
        ax.axvline(rate, color=RATE_COLOUR, linestyle=RATE_STYLE, linewidth=1.0, zorder=1)
    for index, (name, sweep) in enumerate(sweeps.items()):
        colour = LINE_COLOURS[index % len(LINE_COLOURS)]
        x, y = _called_curve(np.asarray(sweep["false_per_100kb"], float), np.asarray(sweep["recall"], float), x_max)
        own = [p for p in points.get(name, ()) if p["recall"] is not None]
        label = name
        if own and label_recalls:
            recalls = " / ".join(f"{p['recall']:.2f}" for p in own)
            label += f": recall {recalls}"  # at the rates the operating points' entry names
        ax.plot(x, y, color=colour, linestyle=LINE_STYLES[index % len(LINE_STYLES)], linewidth=1.6,
                drawstyle="steps-post", label=label, zorder=2 + index)
        if own:
            ax.plot([p["false_per_100kb"] for p in own], [p["recall"] for p in own], linestyle="none",
                    marker=MARKERS[index % len(MARKERS)], markersize=5, markerfacecolor="white",
                    markeredgecolor=colour, markeredgewidth=1.4, zorder=10 + index)
    ax.set(xlim=(0, x_max), ylim=(0, 1.02), xlabel="false calls per 100 kb")
    ax.grid(True, alpha=0.25, linewidth=0.6)


def _legend(fig: Figure, ax, rates: Sequence[float]) -> None:
    """The axes' entries and the operating points' key, below the axes."""
    handles, labels = ax.get_legend_handles_labels()
    if rates:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color=RATE_COLOUR, linestyle=RATE_STYLE, marker="o", markersize=5,
                              markerfacecolor="white", markeredgecolor=RATE_COLOUR))
        labels.append(f"operating points at {_rates_text(rates)} false calls per 100 kb")
    fig.legend(handles, labels, loc="outside lower center", ncols=1, frameon=False)


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
    x_max = _x_max(sweeps.values(), rates) if x_max is None else x_max
    with style():
        fig = figure(*SCAN_SIZE)
        ax = fig.add_subplot()
        _draw_curves(ax, sweeps, points, rates, x_max)
        ax.set(ylabel=f"recall of TSSs (a call within ±{distance:,} bp)",
               title=f"Scan: recall vs false calls, {region}\n{tss:,} annotated TSSs"
                     + ("" if bases is None else f" in {bases / 1000:,.4g} kb"))
        _legend(fig, ax, rates)
    return fig


STRATUM_TITLES = {"at_islands": "TSSs at CpG islands", "elsewhere": "other TSSs"}
ISLAND_SIZE = (8.0, 4.8)  # inches: two panels side by side, the legend below


def plot_island_curves(sweeps: Mapping[str, Mapping[str, object]],
                       points: Mapping[str, Mapping[str, Sequence[Mapping[str, float]]]] | None = None, *,
                       region: str, distance: int, tss: Mapping[str, int], x_max: float | None = None) -> Figure:
    """Recall against false calls per 100 kb, one panel per stratum of TSSs (at CpG islands, the others).

    Args:
        sweeps: stratum (``at_islands``, ``elsewhere``) → predictor → its stratum sweep
            (:func:`seqformer.evaluation.islands.stratum_sweeps`): false calls count over all calls,
            recall over the stratum's TSSs.
        points: stratum → predictor → its operating points with the stratum's recall (None: undefined,
            not drawn).
        region, distance: as :func:`plot_scan_curves`; tss: stratum → its TSSs (in the panel titles).
        x_max: as :func:`plot_scan_curves`, shared by the panels.
    """
    points = points or {}
    rates = sorted({float(p["target_false_per_100kb"]) for by_name in points.values() for pts in by_name.values()
                    for p in pts})
    every = [sweep for by_name in sweeps.values() for sweep in by_name.values()]
    x_max = _x_max(every, rates) if x_max is None else x_max
    with style():
        fig = figure(*ISLAND_SIZE)
        axes = fig.subplots(1, len(sweeps), sharey=True, squeeze=False)[0]
        for ax, (stratum, by_name) in zip(axes, sweeps.items()):
            _draw_curves(ax, by_name, points.get(stratum, {}), rates, x_max, label_recalls=False)
            count = tss.get(stratum, 0)
            ax.set_title(f"{STRATUM_TITLES.get(stratum, stratum)} ({count:,})"
                         + ("" if count else ": recall undefined"))
        axes[0].set_ylabel(f"recall of TSSs (a call within ±{distance:,} bp)")
        fig.suptitle(f"Scan: recall split by CpG island, {region}")
        _legend(fig, axes[-1], rates)
    return fig
