"""The scan curve (seqformer.figures.scan): recall against false calls per 100 kb, model solid, baseline
dashed, operating points marked, the x axis 0-5 or scaled to the data, the legend below the axes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from figure_checks import check_figure
from matplotlib.backends.backend_agg import FigureCanvasAgg

from seqformer.figures.scan import X_MAX, plot_scan_curves
from seqformer.figures.style import LINE_COLOURS, save_figure

BASELINE = "4-mer logistic regression"


def sweep(rates, recalls) -> pd.DataFrame:
    return pd.DataFrame({"threshold": np.linspace(0.99, 0.01, len(rates)), "false_per_100kb": rates,
                         "recall": recalls})


def points(recalls, met=(0.5, 1.0, 2.0)):
    return [{"target_false_per_100kb": r, "false_per_100kb": m, "recall": v}
            for r, m, v in zip((0.5, 1.0, 2.0), met, recalls)]


MODEL_SWEEP = sweep([0, 0.2, 0.5, 0.9, 1.0, 1.8, 2.0, 4.0, 7.5, 30.0],
                    [0.1, 0.3, 0.45, 0.5, 0.6, 0.62, 0.7, 0.8, 0.9, 1.0])
LR_SWEEP = sweep([0.3, 0.5, 1.0, 1.5, 2.0, 6.0, 40.0], [0.05, 0.1, 0.2, 0.25, 0.3, 0.5, 0.9])


def two_curves(**options):
    return plot_scan_curves({"model": MODEL_SWEEP, BASELINE: LR_SWEEP},
                            {"model": points([0.45, 0.6, 0.7]), BASELINE: points([0.1, 0.2, 0.3])},
                            region="chr20:3500001-4000000", distance=500, tss=93, bases=500_000, **options)


def test_the_curve_figure_passes_the_figure_checks():
    check_figure(two_curves())


def test_model_solid_baseline_dashed_in_okabe_ito_colours_with_marked_operating_points():
    fig = two_curves()
    (ax,) = fig.axes
    curves = [line for line in ax.lines if line.get_label() and not line.get_label().startswith("_")]
    assert [line.get_linestyle() for line in curves] == ["-", "--"]
    assert [line.get_color() for line in curves] == list(LINE_COLOURS[:2])
    assert curves[0].get_label() == "model: recall 0.45 / 0.60 / 0.70"
    assert fig.legends[0].get_texts()[-1].get_text() == "operating points at 0.5 / 1 / 2 false calls per 100 kb"
    markers = [line for line in ax.lines if line.get_marker() not in ("None", None, "")]
    assert len(markers) == 2 and list(markers[0].get_ydata()) == [0.45, 0.6, 0.7]
    assert sorted(line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == ":") == [0.5, 1.0, 2.0]
    assert list(curves[0].get_xdata()[:2]) == [0.0, 0.0] and curves[0].get_ydata()[0] == 0.0  # starts at (0, 0)
    assert "chr20:3500001-4000000" in ax.get_title() and "93 annotated TSSs in 500 kb" in ax.get_title()
    assert "±500 bp" in ax.get_ylabel()


@pytest.mark.parametrize("reach, expected", [(30.0, X_MAX), (3.0, 3.0 * 1.05), (0.0, 2.0 * 1.05)])
def test_x_axis_is_0_to_5_or_scaled_to_the_data(reach, expected):
    fig = plot_scan_curves({"model": sweep([0.0, reach], [0.5, 1.0])}, {"model": points([0.5, 0.5, 1.0])},
                           region="c:1-100", distance=500, tss=2)
    assert fig.axes[0].get_xlim() == pytest.approx((0, expected))
    assert plot_scan_curves({"model": sweep([0.0, reach], [0.5, 1.0])}, region="c:1-100", distance=500, tss=2,
                            x_max=10).axes[0].get_xlim() == (0, 10)


def test_the_legend_is_below_the_axes_and_off_the_data():
    fig = two_curves()
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    (legend,) = fig.legends
    (ax,) = fig.axes
    box = legend.get_window_extent(renderer)
    assert not box.overlaps(ax.get_tightbbox(renderer))
    assert box.y1 <= ax.get_tightbbox(renderer).y0 + 1


def test_saved_as_png_and_svg(tmp_path):
    written = save_figure(two_curves(), tmp_path / "scan_curve")
    assert [p.name for p in written] == ["scan_curve.png", "scan_curve.svg"]
    assert written[0].read_bytes()[:4] == b"\x89PNG" and "recall" in written[1].read_text()


def two_panels(at_recall=None):
    from seqformer.figures.scan import plot_island_curves

    strata = {"at_islands": {"model": MODEL_SWEEP, BASELINE: LR_SWEEP},
              "elsewhere": {"model": sweep(MODEL_SWEEP["false_per_100kb"], MODEL_SWEEP["recall"] / 2),
                            BASELINE: LR_SWEEP}}
    marks = {"at_islands": {"model": points(at_recall or [0.9, 1.0, 1.0])},
             "elsewhere": {"model": points([0.0, 0.12, 0.12]), BASELINE: points([0.04, 0.04, 0.08])}}
    return plot_island_curves(strata, marks, region="chr20:45000001-50000000", distance=500,
                              tss={"at_islands": 38, "elsewhere": 25})


def test_the_island_figure_has_a_panel_per_stratum_and_passes_the_figure_checks():
    fig = two_panels()
    check_figure(fig, unlabelled=("other TSSs (25)",))  # its y axis is the left panel's, labelled there
    left, right = fig.axes
    assert left.get_title() == "TSSs at CpG islands (38)" and right.get_title() == "other TSSs (25)"
    assert "±500 bp" in left.get_ylabel() and right.get_xlabel() == "false calls per 100 kb"
    assert left.get_xlim() == right.get_xlim() == (0, X_MAX)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["model", BASELINE, "operating points at 0.5 / 1 / 2 false calls per 100 kb"]
    marked = [line for line in right.lines if line.get_marker() not in ("None", None, "")]
    assert [list(line.get_ydata()) for line in marked] == [[0.0, 0.12, 0.12], [0.04, 0.04, 0.08]]
    assert "chr20:45000001-50000000" in fig._suptitle.get_text()


def test_an_undefined_stratum_recall_is_not_drawn():
    fig = two_panels(at_recall=[None, None, None])
    left = fig.axes[0]
    assert not [line for line in left.lines if line.get_marker() not in ("None", None, "")]
