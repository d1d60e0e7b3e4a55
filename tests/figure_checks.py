"""One check of a figure's structure, for every plot function's tests (docs/figures.md's standard).

:func:`check_figure` draws the figure with the Agg renderer and measures it:

- every image or mesh (heatmap) has a colour bar with a label, or shares its colour scale (norm)
  with one that has;
- every data axes has an x and a y label (colour-bar axes excepted; ``unlabelled`` names axes
  that legitimately have none, by title);
- no text smaller than 7 pt, no text outside the canvas;
- no two tick labels of one axis overlap.
"""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import QuadMesh
from matplotlib.image import AxesImage
from matplotlib.text import Text

MIN_FONT_PT = 7.0
TOLERANCE_PX = 1.0


def _colorbar_axes(fig) -> set:
    return {ax for ax in fig.axes if getattr(ax, "_colorbar", None) is not None}


def _drawn_tick_labels(axis) -> list:
    """The tick labels matplotlib draws: those of ticks inside the view interval."""
    low, high = sorted(axis.get_view_interval())
    span = (high - low) * 1e-9
    out = []
    for tick in axis.get_major_ticks() + axis.get_minor_ticks():
        if low - span <= tick.get_loc() <= high + span:
            out += [label for label in (tick.label1, tick.label2) if label.get_visible() and label.get_text().strip()]
    return out


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 - TOLERANCE_PX and b.x0 < a.x1 - TOLERANCE_PX and a.y0 < b.y1 - TOLERANCE_PX \
        and b.y0 < a.y1 - TOLERANCE_PX


def check_figure(fig, *, unlabelled: tuple[str, ...] = ()) -> list[str]:
    """Problems of ``fig`` (see the module docstring); asserts there are none and returns []."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    page = fig.bbox
    problems = []
    bars = _colorbar_axes(fig)
    labelled_norms = []
    mappables = []
    for ax in fig.axes:
        if ax in bars or not ax.get_visible():
            continue
        for artist in [*ax.images, *ax.collections]:
            if isinstance(artist, (AxesImage, QuadMesh)):
                mappables.append((ax, artist))
                bar = artist.colorbar
                if bar is not None:
                    label = bar.ax.get_ylabel() or bar.ax.get_xlabel()
                    if not label:
                        problems.append(f"colour bar of '{ax.get_title()}' has no label")
                    labelled_norms.append(artist.norm)
        has_data = bool(ax.lines or ax.patches or ax.collections or ax.images)
        if has_data and ax.get_title() not in unlabelled:
            if not ax.get_xlabel():
                problems.append(f"axes '{ax.get_title()}' has no x label")
            if not ax.get_ylabel():
                problems.append(f"axes '{ax.get_title()}' has no y label")
    for ax, artist in mappables:
        if artist.colorbar is None and not any(artist.norm is norm for norm in labelled_norms):
            problems.append(f"heatmap in '{ax.get_title()}' has no colour bar and shares none")
    all_ticks, drawn = set(), set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                all_ticks.update((tick.label1, tick.label2))
            drawn.update(_drawn_tick_labels(axis))
    for text in fig.findobj(Text):
        if not text.get_visible() or not text.get_text().strip() or (text in all_ticks and text not in drawn):
            continue
        if text.get_fontsize() < MIN_FONT_PT:
            problems.append(f"text {text.get_text()[:30]!r} is {text.get_fontsize():.1f} pt")
        box = text.get_window_extent(renderer)
        if box.x0 < page.x0 - TOLERANCE_PX or box.y0 < page.y0 - TOLERANCE_PX or box.x1 > page.x1 + TOLERANCE_PX \
                or box.y1 > page.y1 + TOLERANCE_PX:
            problems.append(f"text {text.get_text()[:30]!r} lies outside the canvas")
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            boxes = sorted(((t.get_text(), t.get_window_extent(renderer)) for t in _drawn_tick_labels(axis)),
                           key=lambda item: (item[1].x0, item[1].y0))
            for (text_a, a), (text_b, b) in zip(boxes, boxes[1:]):
                if _overlap(a, b):
                    problems.append(f"{name} tick labels {text_a!r} and {text_b!r} of '{ax.get_title()}' overlap")
                    break
    assert problems == [], problems
    return problems
