"""Evaluation figures (seqformer.figures.curves) and the reports that save them: chance marks, data-scaled
bars, legends off the data, titles with target, split and counts, PNG + SVG, no bar chart for one target."""

from __future__ import annotations

import numpy as np
import pytest
from figure_checks import check_figure
from matplotlib.backends.backend_agg import FigureCanvasAgg

from seqformer.evaluation.windows import (
    PromoterEvaluation,
    WindowEvaluation,
    binary_metrics,
    write_promoter_evaluation,
    write_window_evaluation,
)
from seqformer.figures.curves import plot_metric_bars, plot_pr, plot_roc

BASELINE = "4-mer logistic regression"


def scored(labels, seed: int = 0):
    """predictor → (metrics, curves) of a model and a baseline on 0/1 ``labels``."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    out = {}
    for name, signal in (("model", 1.5), (BASELINE, 0.5)):
        out[name] = binary_metrics(labels, 1 / (1 + np.exp(-(rng.normal(size=len(labels)) + signal * labels))))
    return out


def target_result(labels, seed: int = 0):
    both = scored(labels, seed)
    counts = {"positive": int(np.sum(labels)), "negative": int(len(labels) - np.sum(labels))}
    return {name: m for name, (m, _) in both.items()}, {name: c for name, (_, c) in both.items()}, counts


def evaluation(targets: dict[str, list[int]]) -> WindowEvaluation:
    metrics, curves, counts = {}, {}, {}
    for seed, (target, labels) in enumerate(targets.items()):
        metrics[target], curves[target], counts[target] = target_result(labels, seed)
    return WindowEvaluation(tuple(targets), metrics, curves, counts, {"k": 4, "C": {t: 1.0 for t in targets}},
                            "data", "model")


LABELS = [1, 1, 0, 0, 0, 0] * 5  # 10 positive, 20 negative: prevalence 1/3
RARE = [1] + [0] * 29  # prevalence 1/30


def legend_clear_of_axes(fig) -> None:
    """Every legend's box (measured with the renderer) lies outside every data axes and its labels."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    assert fig.legends, "the figure has no legend"
    for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), "legend over the data"
            assert not box.overlaps(ax.get_tightbbox(renderer)), "legend over the axes' labels"


def test_roc_has_the_chance_diagonal_equal_aspect_and_a_title_with_target_split_and_counts():
    metrics, curves, counts = target_result(LABELS)
    fig = plot_roc(curves, target="CTCF", positives=counts["positive"], negatives=counts["negative"], metrics=metrics)
    check_figure(fig)
    legend_clear_of_axes(fig)
    (ax,) = fig.axes
    assert ax.get_aspect() == 1.0 and ax.get_xlim() == (0, 1) and ax.get_ylim() == (0, 1)
    assert ax.get_xlabel() == "false-positive rate" and ax.get_ylabel() == "true-positive rate (recall)"
    title = ax.get_title()
    assert "CTCF" in title and "test split" in title and "n = 30 (10 positive / 20 negative)" in title
    chance = [line for line in ax.get_lines() if line.get_label().startswith("chance")]
    assert len(chance) == 1 and list(chance[0].get_xdata()) == [0, 1] and list(chance[0].get_ydata()) == [0, 1]
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert labels == [f"model (AUROC {metrics['model']['auroc']:.3f})",
                      f"{BASELINE} (AUROC {metrics[BASELINE]['auroc']:.3f})", "chance (AUROC 0.5)"]
    styles = [line.get_linestyle() for line in ax.get_lines()[1:]]
    assert styles == ["-", "--"]  # the baseline does not look like the model


@pytest.mark.parametrize("labels, prevalence", [(LABELS, 1 / 3), (RARE, 1 / 30)])
def test_pr_has_the_prevalence_line(labels, prevalence):
    metrics, curves, counts = target_result(labels)
    fig = plot_pr(curves, target="promoter", positives=counts["positive"], negatives=counts["negative"],
                  metrics=metrics, split="val")
    check_figure(fig)
    legend_clear_of_axes(fig)
    (ax,) = fig.axes
    (line,) = [line for line in ax.get_lines() if "prevalence" in line.get_label()]
    assert np.allclose(line.get_ydata(), prevalence) and line.get_label().startswith(f"prevalence {prevalence:.3f}")
    assert f"{counts['positive']} / {len(labels)}" in line.get_label()
    assert "promoter" in ax.get_title() and "val split" in ax.get_title()
    assert ax.get_xlabel().startswith("recall") and ax.get_ylabel() == "precision"
    assert any(f"AUPRC {metrics['model']['auprc']:.3f}" in text.get_text() for text in fig.legends[0].get_texts())


def test_auroc_bars_rise_from_chance_on_a_data_scaled_axis():
    result = evaluation({"CTCF": LABELS, "BEAF": RARE, "H3K27ac": LABELS[::-1]})
    fig = plot_metric_bars(result.metrics, result.counts, "auroc")
    check_figure(fig)
    legend_clear_of_axes(fig)
    (ax,) = fig.axes
    values = [result.metrics[t][p]["auroc"] for t in result.targets for p in result.predictors]
    low, high = ax.get_ylim()
    assert (low, high) != (0, 1) and low <= min(*values, 0.5) and high >= max(*values, 0.5)
    assert high - low < 1.0  # scaled to the values, not fixed at 0-1
    (chance,) = [line for line in ax.get_lines() if line.get_label().startswith("chance")]
    assert np.allclose(chance.get_ydata(), 0.5)
    bottoms = {round(patch.get_y(), 9) for patch in ax.patches}
    assert bottoms == {0.5}  # every bar starts at chance
    tops = sorted(patch.get_y() + patch.get_height() for patch in ax.patches)
    assert np.allclose(tops, sorted(values))
    assert [label.get_text() for label in ax.get_xticklabels()] == ["CTCF (10)", "BEAF (1)", "H3K27ac (10)"]
    assert "test split" in ax.get_title() and "n = 30 windows per target" in ax.get_title()


def test_auprc_bars_mark_each_targets_prevalence():
    result = evaluation({"CTCF": LABELS, "BEAF": RARE})
    fig = plot_metric_bars(result.metrics, result.counts, "auprc")
    check_figure(fig)
    legend_clear_of_axes(fig)
    (ax,) = fig.axes
    (marks,) = [c for c in ax.collections if c.get_label().startswith("chance")]
    levels = sorted(segment[0][1] for segment in marks.get_segments())
    assert np.allclose(levels, [1 / 30, 1 / 3])
    values = [result.metrics[t][p]["auprc"] for t in result.targets for p in result.predictors]
    low, high = ax.get_ylim()
    assert low <= min(*values, 1 / 30) and max(*values, 1 / 3) <= high <= max(values) + 0.1


def test_many_targets_are_thinned_and_stay_readable():
    targets = {f"target_{i}": LABELS if i % 2 else RARE for i in range(60)}
    result = evaluation(targets)
    fig = plot_metric_bars(result.metrics, result.counts, "auroc")
    check_figure(fig)
    assert fig.get_figwidth() <= 12 and len([t for t in fig.axes[0].get_xticklabels() if t.get_text()]) < 60


def test_no_bar_chart_for_one_target():
    result = evaluation({"TF": LABELS})
    with pytest.raises(ValueError, match="two or more targets"):
        plot_metric_bars(result.metrics, result.counts, "auroc")


def test_a_one_target_report_gets_curves_and_no_bar_charts(tmp_path):
    written = write_window_evaluation(evaluation({"TF": LABELS}), tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in tmp_path.iterdir()) == [
        "metrics.json", "metrics.tsv", "pr.png", "pr.svg", "roc.png", "roc.svg"]
    assert (tmp_path / "roc.png").read_bytes()[:4] == b"\x89PNG" and "<svg" in (tmp_path / "pr.svg").read_text()


def test_a_multi_target_report_gets_bars_and_no_curves(tmp_path):
    write_window_evaluation(evaluation({"CTCF": LABELS, "BEAF": RARE}), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auprc.png", "auprc.svg", "auroc.png", "auroc.svg",
                                                          "metrics.json", "metrics.tsv"]


def test_promoter_report_writes_png_and_svg_curves(tmp_path):
    result = PromoterEvaluation.from_windows(evaluation({"promoter": LABELS}))
    written = write_promoter_evaluation(result, tmp_path)
    assert sorted(p.name for p in written) == ["metrics.json", "pr.png", "pr.svg", "roc.png", "roc.svg"]
    assert "promoter" in (tmp_path / "roc.svg").read_text()  # the title names the target
