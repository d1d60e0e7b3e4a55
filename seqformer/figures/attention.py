"""Figures of attention maps: one heatmap per head (or per layer), queries down and keys across.

Axes: N layers, H heads, L tokens, n letters (bases or residues); one panel is a (q, k) grid of
query and key cells. ``maps`` is any object with the fields of
:class:`seqformer.analysis.attention.AttentionMaps` (``probs`` (N, H, L, L), ``letters()``
(N, H, n, n), ``seq``, ``tokens``, ``spans`` (L, 2), ``name``, ``kind``, ``num_layers``,
``num_heads``; ``alphabet`` and ``tss`` where it has them).

The conventions (:mod:`seqformer.figures.style`):

- every panel has its own colour scale, from 0 to its largest weight (or to its ``clip``
  percentile where a few outlying weights stand over twice above it: the bar gets an arrow, the
  panel title the largest weight), with its own labelled colour bar; or, with
  ``shared_scale=True`` (or a ``vmax``), one colour bar for all panels and that scale stated in the
  title (larger weights are drawn in the top colour, the bar's arrow says so);
- panels are equal squares on a fixed grid; NaN cells are grey, never a colour of the scale;
- DNA: positions in bp relative to the TSS (``tss``, a dashed line marks it, its tick reads
  ``TSS``) or else to the sequence's first base; proteins: residue letters, numbered from 1 at the
  first residue and every 10th (every letter shown where there is room);
- ticks are thinned to round steps so that no two labels overlap at the figure's size (measured
  with the font, after layout);
- titles name the model (``model``), the input (``maps.name``), the layer and the head.
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqformer.figures.style import SEQUENTIAL, STYLE, cmap, colorbar, figure, style

PANEL_IN = 2.2  # side of one square map panel (inches) at the default size
TICK_PT = STYLE["xtick.labelsize"]
GAP_PT = {True: 3.0, False: 1.5}  # the least space between two tick labels side by side, or one above another
DNA_STEPS = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000)
PROTEIN_STEPS = (1, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)  # numbers every 10 (or more)
WEIGHT_LABEL = "attention weight"
CLIP_PERCENTILE = 99.5  # default ``clip``: a scale tops here when a few weights stand far above it
OUTLIER_RATIO = 2.0  # ... by more than this factor
MINUS = "\u2212"
DNA_LETTERS = set("ACGTN")


@dataclass(frozen=True)
class CellAxis:
    """Positions and names of the cells along one axis of a map (queries and keys share it).

    ``positions`` (cells,) are bp relative to the origin (DNA) or 1-based residue numbers
    (protein), NaN for special tokens; ``names`` the letter or token of each cell.
    """

    positions: np.ndarray
    names: tuple[str, ...]
    dna: bool
    tss: bool  # positions are relative to a TSS (DNA)
    tokens: bool  # cells are tokens (else letters)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def unit(self) -> str:
        """What one position counts, for axis labels."""
        if not self.dna:
            return "residue"
        return "bp from TSS" if self.tss else "bp from start"

    def label(self, role: str) -> str:
        """Axis label of the ``role`` ('query' or 'key') axis, with its unit."""
        what = "token start" if self.tokens and self.dna else ("token" if self.tokens else "position")
        return f"{role} {what} ({self.unit})"

    def position_text(self, value: float) -> str:
        """A position as tick text: ``TSS``, ``+50``, ``−200`` (DNA) or the residue number."""
        value = int(round(value))
        if self.dna and self.tss:
            return "TSS" if value == 0 else (f"+{value}" if value > 0 else f"{MINUS}{-value}")
        return f"{value}".replace("-", MINUS)

    def hover_text(self, cell: int) -> str:
        """One cell as ``TOKEN at POSITION`` (for hover labels): position and token."""
        value = self.positions[cell]
        if not np.isfinite(value):
            return self.names[cell]
        where = self.position_text(value)
        if self.dna:
            where = where if where == "TSS" else f"{where} bp"
            return f"{self.names[cell]} at {where}" + (" from TSS" if self.tss and where != "TSS" else "")
        return f"{self.names[cell]}{where}"

    def locate(self, value: float) -> float:
        """The cell coordinate (cell centres at 0, 1, ...) of a position, interpolated between tokens."""
        real = np.flatnonzero(np.isfinite(self.positions))
        return float(np.interp(value, self.positions[real], real))


def alphabet_of(maps) -> str:
    """'dna' or 'protein': ``maps.alphabet`` where it says, else from the letters."""
    alphabet = getattr(maps, "alphabet", "") or ""
    if alphabet:
        return alphabet
    return "dna" if set(maps.seq) <= DNA_LETTERS else "protein"


def cell_axis(maps, letters: bool, tss: int | None = None, span: tuple[int, int] | None = None) -> CellAxis:
    """The :class:`CellAxis` of ``maps`` over letters or tokens, cut to cells ``span`` = (start, end).

    ``tss`` is the 0-based offset of the TSS in ``maps.seq`` (DNA only); without it positions count
    bp from the sequence's first base (0).
    """
    dna = alphabet_of(maps) == "dna"
    if tss is not None and not dna:
        raise ValueError("tss is for DNA maps; this one is over residues")
    if letters:
        positions = np.arange(len(maps.seq), dtype=float)
        names = tuple(maps.seq)
    else:
        spans = np.asarray(maps.spans)
        positions = np.where(spans[:, 0] >= 0, spans[:, 0], np.nan).astype(float)
        names = tuple(maps.tokens)
    positions = positions - (tss or 0) if dna else positions + 1  # residues are numbered from 1
    start, end = span if span is not None else (0, len(names))
    if not 0 <= start < end <= len(names):
        raise ValueError(f"span must lie in 0..{len(names)} with start < end, got {span}")
    return CellAxis(positions[start:end], names[start:end], dna, dna and tss is not None, not letters)


@functools.lru_cache(maxsize=4096)
def _extent(text: str, along_width: bool) -> float:
    """A tick label's extent in points along its axis: its width, or its line height."""
    if not along_width:
        return TICK_PT * 1.2
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    width, _, _ = TextToPath().get_text_width_height_descent(text, FontProperties(size=TICK_PT), ismath=False)
    return width


def _fits(ticks: list[tuple[float, str]], new: tuple[float, str], cell_pt: float, along_width: bool) -> bool:
    loc, text = new
    half = _extent(text, along_width) / 2
    return all(abs(loc - other) * cell_pt >= half + _extent(label, along_width) / 2 + GAP_PT[along_width]
               for other, label in ticks)


def fit_ticks(axis: CellAxis, length_pt: float, *, along_width: bool) -> list[tuple[float, str]]:
    """(cell coordinate, text) of the ticks of ``axis`` drawn ``length_pt`` long, none overlapping.

    Round positions on the smallest step whose labels all fit, then (proteins) residue 1, then
    special tokens ([CLS], [SEP]) where they fit; ``along_width`` when the labels lie along the
    axis (horizontal x labels), else their line heights count.
    """
    cell_pt = length_pt / max(len(axis), 1)
    real = np.flatnonzero(np.isfinite(axis.positions))
    ticks: list[tuple[float, str]] = []
    step = 1
    if len(real):
        low, high = axis.positions[real].min(), axis.positions[real].max()
        for step in (PROTEIN_STEPS if not axis.dna else DNA_STEPS):
            values = np.arange(math.ceil(low / step) * step, high + 0.5, step)
            if not axis.dna and step == 1:
                labels = [_residue_text(axis, value, numbered=value == 1 or value % 10 == 0) for value in values]
            elif not axis.dna:
                labels = [_residue_text(axis, value, numbered=True) for value in values]
            else:
                labels = [axis.position_text(value) for value in values]
            candidate = [(axis.locate(value), text) for value, text in zip(values, labels)]
            if all(_fits(candidate[i - 1:i], candidate[i], cell_pt, along_width) for i in range(1, len(candidate))):
                ticks = candidate
                break
        if not axis.dna and step > 1 and low <= 1:  # residue 1 where it fits beside the round numbers
            first = (axis.locate(1.0), _residue_text(axis, 1.0, numbered=True))
            if _fits(ticks, first, cell_pt, along_width):
                ticks.append(first)
    for cell in np.flatnonzero(~np.isfinite(axis.positions)):
        special = (float(cell), axis.names[cell])
        if _fits(ticks, special, cell_pt, along_width):
            ticks.append(special)
    return sorted(ticks)


def _residue_text(axis: CellAxis, value: float, *, numbered: bool) -> str:
    cell = int(round(axis.locate(value)))
    return axis.names[cell] + (f"{int(value)}" if numbered else "")


def _wrap(text: str, width_in: float, size: float) -> str:
    """``text`` wrapped to lines that fit ``width_in`` inches at ``size`` points."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    measure = TextToPath()
    per_char = measure.get_text_width_height_descent(text, FontProperties(size=size), ismath=False)[0] / len(text)
    return "\n".join(textwrap.wrap(text, max(20, int(width_in * 72 * 0.94 / per_char))))


def scale_top(values: np.ndarray, clip: float | None) -> float:
    """Top of a colour scale for ``values``: the largest, or the ``clip`` percentile of the non-zero
    ones where the largest is more than :data:`OUTLIER_RATIO` times that (1.0 for no weight at all)."""
    finite = values[np.isfinite(values)]
    largest = float(finite.max()) if finite.size else 0.0
    if largest <= 0:
        return 1.0
    if clip is not None:
        typical = float(np.percentile(finite[finite > 0], clip))
        if largest > OUTLIER_RATIO * typical:
            return typical
    return largest


def _scale_text(top: float, largest: float, shared: bool, clipped: bool, clip: float | None, what: str) -> str:
    if not shared:
        text = f"Each {what} on its own colour scale, 0 to its largest weight"
        if clipped:
            text += f", or to its {clip:g}th percentile (arrow on the bar) where the largest (in the title) is " \
                    f"over {OUTLIER_RATIO:g}x that"
        return text + "."
    text = f"One colour scale for all {what}s, 0 to {top:.3g}"
    if largest > top:
        text += f" (larger weights, up to {largest:.3g}, in the top colour)"
    return text + "."


def _draw(maps, panels: list[tuple[int, int]], *, letters: bool, shared_scale: bool, vmax: float | None,
          clip: float | None, model: str | None, tss: int | None, span: tuple[int, int] | None,
          columns: int | None, heading: str, what: str):
    """The figure of ``panels`` ((layer, head) each) on a grid of ``columns``."""
    from matplotlib import patheffects
    from matplotlib.colors import Normalize

    tss = getattr(maps, "tss", None) if tss is None else tss
    axis = cell_axis(maps, letters, tss, span)
    values = maps.letters() if letters else maps.probs
    start, end = span if span is not None else (0, values.shape[-1])
    grids = [np.asarray(values[layer, head, start:end, start:end], dtype=float) for layer, head in panels]
    maxima = [float(np.nanmax(grid)) if np.isfinite(grid).any() else 0.0 for grid in grids]
    largest = max(maxima)
    shared = shared_scale or vmax is not None
    if shared:
        top = vmax if vmax is not None else scale_top(np.stack(grids), clip)
        tops = [top] * len(grids)
    else:
        tops = [scale_top(grid, clip) for grid in grids]
    columns = math.ceil(math.sqrt(len(panels))) if columns is None else columns
    columns = max(1, min(columns, len(panels)))
    rows = -(-len(panels) // columns)
    bar_in = 0.0 if shared else 0.75
    label_in = 0.75 if axis.dna else 0.7
    width = columns * (PANEL_IN + label_in + bar_in) + (0.65 if shared else 0.1)
    unit = "tokens" if not letters else ("bases" if axis.dna else "residues")
    title = ", ".join(part for part in (model, maps.name or "sequence") if part)
    title = f"{title}: {maps.kind} attention between {unit}, {heading}. " \
            f"{_scale_text(tops[0], largest, shared, any(m > t for m, t in zip(maxima, tops)), clip, what)}"
    title = _wrap(title, width, STYLE["figure.titlesize"])
    x_rotated = not axis.dna  # residue labels read upwards, so that one every 10 fits
    height = rows * (PANEL_IN + (1.0 if x_rotated else 0.85)) + 0.2 * (title.count("\n") + 1) + 0.15
    with style():
        fig = figure(width, height)
        axes = fig.subplots(rows, columns, squeeze=False)
        colours = cmap(SEQUENTIAL)
        one_norm = Normalize(0.0, tops[0])  # the shared scale: every image draws with this one object
        images = []
        for ax, (layer, head), grid, top, most in zip(axes.flat, panels, grids, tops, maxima):
            image = ax.imshow(grid, cmap=colours, norm=one_norm if shared else Normalize(0.0, top),
                              interpolation="nearest", aspect="equal")
            images.append(image)
            clipped = not shared and most > top
            ax.set_title(f"layer {layer}, head {head}" + (f" (largest {most:.2g})" if clipped else ""))
            ax.set_xlabel(axis.label("key"))
            ax.set_ylabel(axis.label("query"))
            if axis.tss:
                where = axis.locate(0.0)
                if 0 <= where <= len(axis) - 1 and np.nanmin(axis.positions) <= 0 <= np.nanmax(axis.positions):
                    halo = [patheffects.withStroke(linewidth=1.8, foreground="black")]
                    for line in (ax.axvline(where), ax.axhline(where)):
                        line.set(color="white", linewidth=0.8, linestyle=(0, (3, 2)), path_effects=halo)
            if not shared:
                extend = "max" if clipped else "neither"
                bar = ax.inset_axes([1.05, 0.0, 0.06, 1.0])  # beside the square panel, as tall as it
                colorbar(fig, image, None, WEIGHT_LABEL, cax=bar, extend=extend)
        for ax in axes.flat[len(panels):]:
            ax.remove()
        if shared:
            colorbar(fig, images[0], [ax for ax in axes.flat[:len(panels)]], WEIGHT_LABEL, shrink=0.8,
                     aspect=25 * rows, extend="max" if largest > tops[0] else "neither")
        fig.suptitle(title)
        fig.draw_without_rendering()  # lay out once, then fit the ticks to the panels' real size
        for ax in axes.flat[:len(panels)]:
            box = ax.get_window_extent()
            scale = 72.0 / fig.dpi
            for target, length, along in ((ax.xaxis, box.width * scale, not x_rotated),
                                          (ax.yaxis, box.height * scale, False)):
                ticks = fit_ticks(axis, length, along_width=along)
                target.set_ticks([loc for loc, _ in ticks], [text for _, text in ticks])
            if x_rotated:
                ax.tick_params(axis="x", labelrotation=90)
    return fig


def plot_heads(maps, layer: int, *, heads: Sequence[int] | None = None, letters: bool = True,
               columns: int | None = None, shared_scale: bool = False, vmax: float | None = None,
               clip: float | None = CLIP_PERCENTILE, model: str | None = None, tss: int | None = None,
               span: tuple[int, int] | None = None):
    """Heatmaps of the heads of one layer, one equal square panel each (queries down, keys across).

    Args:
        maps: one sequence's maps.
        layer: 0-based layer.
        heads: which heads (default all).
        letters: map to letters (bases, residues; :meth:`AttentionMaps.letters`) or show tokens.
        columns: panels per row of the grid (default: a square-ish grid, 2 x 2 for 4 heads).
        shared_scale: one colour scale (0 to the largest weight shown) and one colour bar for all
            heads, stated in the title; default: each head its own scale and colour bar.
        vmax: top of a shared colour scale (implies ``shared_scale``); larger weights are drawn in
            the top colour and the title gives the largest.
        clip: a percentile of the non-zero weights: a scale whose largest weight is over twice it
            tops at it instead (a few outlying weights would leave the rest of the map dark); larger
            weights are drawn in the top colour, the colour bar has an arrow and the panel title
            gives the largest. None: every scale tops at its largest weight.
        model: the model's name (its folder) for the title.
        tss: 0-based offset of the TSS in ``maps.seq`` (DNA; default ``maps.tss`` where set): positions
            count bp from it and a dashed line marks it. Without it, bp from the first base.
        span: (start, end) 0-based cells (letters or tokens) to show, end excluded; positions keep
            their values in the whole sequence.
    """
    if not 0 <= layer < maps.num_layers:
        raise ValueError(f"layer must be in 0..{maps.num_layers - 1}, got {layer}")
    heads = list(range(maps.num_heads)) if heads is None else list(heads)
    if not heads or not all(0 <= head < maps.num_heads for head in heads):
        raise ValueError(f"heads must be in 0..{maps.num_heads - 1}, got {heads}")
    return _draw(maps, [(layer, head) for head in heads], letters=letters, shared_scale=shared_scale, vmax=vmax,
                 clip=clip, model=model, tss=tss, span=span, columns=columns, heading=f"layer {layer}", what="head")


def plot_layers(maps, head: int, *, letters: bool = False, columns: int | None = None, shared_scale: bool = False,
                vmax: float | None = None, clip: float | None = CLIP_PERCENTILE, model: str | None = None,
                tss: int | None = None, span: tuple[int, int] | None = None):
    """One head's map in every layer, equal square panels side by side (arguments as :func:`plot_heads`)."""
    if not 0 <= head < maps.num_heads:
        raise ValueError(f"head must be in 0..{maps.num_heads - 1}, got {head}")
    return _draw(maps, [(layer, head) for layer in range(maps.num_layers)], letters=letters,
                 shared_scale=shared_scale, vmax=vmax, clip=clip, model=model, tss=tss, span=span, columns=columns,
                 heading=f"head {head} in every layer", what="layer")
