"""Evaluation figures: ROC and precision-recall curves of one target, and a metric per target.

Axes: P predictors (the model first, then baselines), T targets. ``curves`` map a predictor to any
object with ``fpr``, ``tpr`` (ROC) and ``recall``, ``precision`` (PR) arrays, as
:class:`seqformer.evaluation.windows.Curves` has; ``metrics`` map a predictor to its scores
(``{"auroc": ..., "auprc": ...}``). Every figure names the target, the split and the counts in its
title, marks chance (the ROC diagonal, the prevalence on PR curves and AUPRC bars, 0.5 on AUROC
bars) and keeps its legend below the axes, off the data. A one-target report gets the curves only:
:func:`plot_metric_bars` refuses a single target.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from matplotlib.figure import Figure

from seqformer.figures.style import LINE_COLOURS, LINE_STYLES, figure, style, thin_ticks

CHANCE_COLOUR = "#595959"  # chance marks: dark grey, dotted, drawn under the data
CHANCE_STYLE = ":"
BAR_LABEL_TARGETS = 40  # more targets than this: every step-th target is named on the x axis
LETTER_INCHES = 0.07  # about the width of one 8 pt letter
AXES_MARGIN = 1.2  # inches of a bar chart's width outside its axes (value labels, padding)
MAX_BAR_WIDTH = 12.0  # inches: wider charts name every step-th target / turn their labels upright
CURVE_SIZE = (4.0, 5.0)  # inches: a square axes, a two-line title above, the legend below


def counts_text(positives: int, negatives: int) -> str:
    """'n = 300 (100 positive / 200 negative)'."""
    return f"n = {positives + negatives:,} ({positives:,} positive / {negatives:,} negative)"


def _predictor_style(index: int) -> dict:
    """Colour and line style of the index-th predictor: the model solid, baselines dashed, dotted..."""
    return {"color": LINE_COLOURS[index % len(LINE_COLOURS)], "linestyle": LINE_STYLES[index % len(LINE_STYLES)]}


def _legend_below(fig: Figure, ax) -> None:
    """The axes' legend in the figure, below the axes (constrained layout makes room for it).

    The chance line is drawn first (under the curves) and listed last.
    """
    handles, labels = ax.get_legend_handles_labels()
    handles, labels = [*handles[1:], handles[0]], [*labels[1:], labels[0]]
    fig.legend(handles, labels, loc="outside lower center", ncols=1, frameon=False)


def plot_roc(curves: Mapping[str, object], *, target: str, positives: int, negatives: int,
             metrics: Mapping[str, Mapping[str, float]] | None = None, split: str = "test") -> Figure:
    """ROC curves of every predictor on one target, the chance diagonal, equal aspect.

    Args:
        curves: predictor → its curves (``fpr``, ``tpr`` arrays), the model first.
        target: the target's name (in the title).
        positives, negatives: windows of each class in the split (in the title).
        metrics: predictor → scores; its ``auroc`` goes into the legend.
        split: the split's name.
    """
    with style():
        fig = figure(*CURVE_SIZE)
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], color=CHANCE_COLOUR, linestyle=CHANCE_STYLE, linewidth=1.2,
                label="chance (AUROC 0.5)", zorder=1)
        for index, (name, curve) in enumerate(curves.items()):
            label = name if metrics is None else f"{name} (AUROC {metrics[name]['auroc']:.3f})"
            ax.plot(curve.fpr, curve.tpr, label=label, linewidth=1.6, zorder=2 + index, **_predictor_style(index))
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="false-positive rate", ylabel="true-positive rate (recall)",
               title=f"ROC: {target}, {split} split\n{counts_text(positives, negatives)}")
        ax.set_aspect("equal")
        ax.grid(True, alpha=0.25, linewidth=0.6)
        _legend_below(fig, ax)
    return fig


def plot_pr(curves: Mapping[str, object], *, target: str, positives: int, negatives: int,
            metrics: Mapping[str, Mapping[str, float]] | None = None, split: str = "test") -> Figure:
    """Precision-recall curves of every predictor on one target, with the prevalence (chance) line.

    The prevalence ``positives / (positives + negatives)`` is the precision of a random ranking at
    every recall, and so the AUPRC of chance. Curves are steps (the area under them is the AUPRC).
    Arguments as :func:`plot_roc` (``recall``, ``precision`` arrays; ``auprc`` in the legend).
    """
    prevalence = positives / max(positives + negatives, 1)
    with style():
        fig = figure(*CURVE_SIZE)
        ax = fig.add_subplot()
        ax.axhline(prevalence, color=CHANCE_COLOUR, linestyle=CHANCE_STYLE, linewidth=1.2, zorder=1,
                   label=f"prevalence {prevalence:.3f} = {positives:,} / {positives + negatives:,} (chance)")
        for index, (name, curve) in enumerate(curves.items()):
            label = name if metrics is None else f"{name} (AUPRC {metrics[name]['auprc']:.3f})"
            ax.plot(curve.recall, curve.precision, drawstyle="steps-post", label=label, linewidth=1.6,
                    zorder=2 + index, **_predictor_style(index))
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall (true-positive rate)", ylabel="precision",
               title=f"Precision-recall: {target}, {split} split\n{counts_text(positives, negatives)}")
        ax.set_aspect(1 / 1.02)
        ax.grid(True, alpha=0.25, linewidth=0.6)
        _legend_below(fig, ax)
    return fig


def plot_metric_bars(metrics: Mapping[str, Mapping[str, Mapping[str, float]]],
                     counts: Mapping[str, Mapping[str, int]], metric: str = "auroc", *,
                     split: str = "test") -> Figure:
    """A bar per target and predictor of ``metric`` ("auroc" or "auprc"), rising from chance.

    Each bar spans chance → value: 0.5 for AUROC, the target's prevalence for AUPRC (a black mark
    per target). The value axis is scaled to the values and the chance levels, not fixed at 0–1.

    Args:
        metrics: target → predictor → scores (the model first).
        counts: target → {"positive": windows, "negative": windows} in the split.
        metric: "auroc" or "auprc".
        split: the split's name.

    Raises:
        ValueError: one target (its report gets ROC and PR curves instead) or an unknown metric.
    """
    if metric not in ("auroc", "auprc"):
        raise ValueError(f"metric must be auroc or auprc, got {metric!r}")
    targets = list(metrics)
    if len(targets) < 2:
        raise ValueError(f"a bar chart needs two or more targets, got {targets}: plot its ROC and PR curves")
    predictors = list(next(iter(metrics.values())))
    values = np.array([[metrics[t][p][metric] for p in predictors] for t in targets], dtype=float)  # (T, P)
    totals = [counts[t]["positive"] + counts[t]["negative"] for t in targets]
    prevalence = np.array([counts[t]["positive"] / max(total, 1) for t, total in zip(targets, totals)])
    chance = np.full(len(targets), 0.5) if metric == "auroc" else prevalence  # (T,)
    name = metric.upper()
    same_n = len(set(totals)) == 1
    shown = thin_ticks(len(targets), most=BAR_LABEL_TARGETS)  # the targets named on the x axis
    many = len(targets) > BAR_LABEL_TARGETS
    labels = [targets[i] if many else f"{targets[i]} ({counts[targets[i]]['positive']:,}"
              + ("" if same_n else f" / {counts[targets[i]]['negative']:,}") + ")" for i in shown]
    label_inches = max(len(label) for label in labels) * LETTER_INCHES + 0.15
    step = int(shown[1] - shown[0]) if len(shown) > 1 else 1
    wanted = max(4.8, AXES_MARGIN + len(targets) * max(0.3 * len(predictors), label_inches / step))
    fig_width = min(MAX_BAR_WIDTH, wanted)
    upright = wanted > MAX_BAR_WIDTH  # the labels would not fit side by side: turn them upright
    width = 0.8 / len(predictors)
    with style():
        fig = figure(fig_width, 4.6 + (label_inches if upright else 0.0))
        ax = fig.add_subplot()
        x = np.arange(len(targets))
        for index, predictor in enumerate(predictors):
            colour = LINE_COLOURS[index % len(LINE_COLOURS)]
            ax.bar(x - 0.4 + width * (index + 0.5), values[:, index] - chance, width=width * 0.92, bottom=chance,
                   color=colour, edgecolor="none", label=predictor, zorder=2)
        if metric == "auroc":
            ax.axhline(0.5, color="black", linewidth=1.0, zorder=3, label="chance, AUROC 0.5 (bars start here)")
        else:
            ax.hlines(chance, x - 0.45, x + 0.45, color="black", linewidth=1.4, zorder=3,
                      label="chance = the target's prevalence (bars start here)")
        low = float(min(values.min(), chance.min()))
        high = float(max(values.max(), chance.max()))
        pad = max(0.06 * (high - low), 0.01)
        ax.set_ylim(max(0.0, low - pad), high + pad)
        ax.set_xlim(-0.6, len(targets) - 0.4)
        ax.set_xticks(x[shown], labels, rotation=90 if upright else 0)
        if many:
            xlabel = f"target (one in {step} named)"
        else:
            xlabel = "target (positive windows)" if same_n else "target (positive / negative windows)"
        n_text = f"n = {totals[0]:,} windows per target" if same_n else f"n = {min(totals):,}–{max(totals):,} windows"
        ax.set(xlabel=xlabel, ylabel=f"{name}, {split} split",
               title=f"{name} per target ({len(targets)} targets), {split} split\n{n_text}")
        ax.grid(True, axis="y", alpha=0.25, linewidth=0.6)
        ax.set_axisbelow(True)
        handles, legend_labels = ax.get_legend_handles_labels()
        order = sorted(range(len(handles)), key=lambda i: legend_labels[i].startswith("chance"))  # chance last
        handles, legend_labels = [handles[i] for i in order], [legend_labels[i] for i in order]
        fig.legend(handles, legend_labels, loc="outside lower center", ncols=1 if fig_width < 9 else len(handles),
                   frameon=False)
    return fig
