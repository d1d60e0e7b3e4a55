"""The sequence logo: letter heights and signs are the values, at the positions given; the figure standard."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from figure_checks import check_figure
from matplotlib.patches import PathPatch

from seqformer.figures.logo import BASE_COLOURS, BASES, logo_frame, plot_logo


def letters(ax) -> list[tuple[float, float, float, tuple]]:
    """(x centre, bottom, top, colour) of every letter drawn on ``ax`` (logomaker's PathPatches), by x."""
    out = []
    for patch in ax.patches:
        if isinstance(patch, PathPatch):
            box = patch.get_path().get_extents()
            out.append(((box.x0 + box.x1) / 2, box.y0, box.y1, patch.get_facecolor()[:3]))
    return sorted(out)


def test_letter_heights_and_signs_are_the_values():
    from matplotlib.colors import to_rgb

    values = np.array([[0.5, 0.0, 0.0, 0.0],     # one letter above zero
                       [0.0, -0.25, 0.0, 0.0],   # one below
                       [0.1, 0.0, 0.3, -0.2],    # stacked: the bigger G on A above, T below
                       [0.0, 0.0, 0.0, 0.0]])    # none
    fig = plot_logo(values, positions=[101, 102, 103, 104], ylabel="importance (Δp)", xlabel="chr1 position (bp)")
    drawn = letters(fig.axes[0])
    assert len(drawn) == 5
    expected = {(101, "A"): (0.0, 0.5), (102, "C"): (-0.25, 0.0), (103, "A"): (0.0, 0.1), (103, "G"): (0.1, 0.4),
                (103, "T"): (-0.2, 0.0)}
    colours = {to_rgb(colour): base for base, colour in BASE_COLOURS.items()}
    found = {}
    for x, bottom, top, colour in drawn:
        found[round(x), colours[tuple(colour)]] = (bottom, top)
    assert found.keys() == expected.keys()
    for key, (bottom, top) in expected.items():
        assert found[key] == pytest.approx((bottom, top), abs=1e-9), key
    ax = fig.axes[0]
    assert ax.get_xlim() == pytest.approx((100.5, 104.5))
    assert ax.get_xlabel() == "chr1 position (bp)" and ax.get_ylabel() == "importance (Δp)"
    low, high = ax.get_ylim()
    assert low < -0.25 and high > 0.4
    check_figure(fig)


def test_frame_from_dataframe_index_and_nan():
    frame = pd.DataFrame({"T": [1.0, 0.0], "A": [np.nan, 2.0], "C": [0.0, 0.0], "G": [0.0, 0.0]},
                         index=pd.Index([7, 8]))
    out = logo_frame(frame)
    assert list(out.columns) == list(BASES) and list(out.index) == [7, 8]
    assert out.loc[7].tolist() == [0.0, 0.0, 0.0, 1.0] and out.loc[8, "A"] == 2.0  # NaN draws no letter
    assert list(logo_frame(np.zeros((3, 4))).index) == [1, 2, 3]
    with pytest.raises(ValueError, match="columns"):
        logo_frame(pd.DataFrame(np.zeros((2, 4)), columns=list("ACGU")))
    with pytest.raises(ValueError, match=r"\(L, 4\)"):
        logo_frame(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="consecutive"):
        logo_frame(np.zeros((3, 4)), positions=[1, 2, 4])


@pytest.mark.parametrize("width", [30, 300])
def test_long_and_short_logos_meet_the_figure_standard(width):
    rng = np.random.default_rng(width)
    start = 12_345_601
    fig = plot_logo(rng.normal(size=(width, 4)), positions=range(start, start + width), ylabel="effect (Δlogit)",
                    xlabel="chr20 position (bp)", title="a long title " * 12, marks={start + width // 2: "TSS"})
    check_figure(fig)
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if low <= t <= high]
    assert 2 <= len(ticks) <= 12  # thinned
    assert all(t == int(t) for t in ticks)
    steps = np.diff(ticks)
    assert (steps == steps[0]).all() and steps[0] in {1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500}  # round numbers
    labels = [t.get_text() for t in ax.get_xticklabels() if low <= t.get_position()[0] <= high]
    assert labels == [f"{int(t):,}" for t in ticks]
    assert any(line.get_xdata()[0] == start + width // 2 for line in ax.lines)  # the TSS line
    top = ax.child_axes[0]
    assert [t.get_text() for t in top.get_xticklabels()] == ["TSS"]


def test_draws_on_a_given_axes_without_pyplot():
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3), layout="constrained")
    ax1, ax2 = fig.subplots(2)
    ax2.plot([0, 1])
    ax2.set(xlabel="x", ylabel="y")
    assert plot_logo(np.eye(4), ax=ax1, ylabel="weight (bits)") is fig
    assert plt.get_fignums() == []
    assert len(letters(ax1)) == 4 and len(letters(ax2)) == 0
    check_figure(fig)


def test_a_mark_outside_is_an_error():
    with pytest.raises(ValueError, match="outside"):
        plot_logo(np.eye(4), marks={9: "TSS"})
