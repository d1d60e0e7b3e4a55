"""Interactive (plotly) views of attention maps too long for a static image (512 tokens and more).

Axes: N layers, H heads, L tokens, n letters; one view is the (q, k) map of one layer and head.
``maps`` is any object with the fields of :class:`seqformer.analysis.attention.AttentionMaps`
(see :mod:`seqformer.figures.attention`). plotly is the optional extra ``interactive``
(``pip install 'seqformer[interactive]'``); it is imported only when a view is made.

Hovering over a cell shows the query and the key (token or letter, and its position: bp from the
TSS or the sequence's first base, or the residue number) and the weight. The conventions of the
static maps hold: viridis from 0 to the largest weight (or a stated ``vmax``) with a labelled
colour bar, NaN cells grey, queries down and keys across, thinned position ticks, a dashed line at
the TSS, and a title naming the model, input, layer and head.
"""

from __future__ import annotations

import numpy as np

from seqformer.figures.attention import CellAxis, cell_axis, fit_ticks
from seqformer.figures.style import NAN_COLOUR, SEQUENTIAL

HOVER = "query: %{y}<br>key: %{x}<br>weight: %{z:.4g}<extra></extra>"
SIDE_PX = 640  # the map's side in pixels


def _plotly():
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise ModuleNotFoundError("the interactive attention view needs plotly, the optional extra 'interactive': "
                                  "pip install 'seqformer[interactive]'") from None
    return go


def _ticks(axis: CellAxis, labels: list[str]) -> dict:
    ticks = fit_ticks(axis, SIDE_PX * 0.75, along_width=True)  # plotly draws at 1 px = 0.75 pt
    where = [int(round(loc)) for loc, _ in ticks]
    return {"tickmode": "array", "tickvals": [labels[i] for i in where], "ticktext": [text for _, text in ticks]}


def interactive_map(maps, layer: int, head: int, *, letters: bool = False, model: str | None = None,
                    tss: int | None = None, span: tuple[int, int] | None = None, vmax: float | None = None):
    """A plotly Figure of one layer and head's map, with query, key (position and token) and weight on hover.

    Args:
        maps: one sequence's maps.
        layer, head: 0-based.
        letters: over letters (bases, residues) instead of tokens.
        model: the model's name (its folder) for the title.
        tss: 0-based offset of the TSS in ``maps.seq`` (DNA; default ``maps.tss`` where set).
        span: (start, end) cells to show, end excluded.
        vmax: top of the colour scale (default the largest weight); larger weights take the top colour.

    The x and y values are the cells' hover labels (``ACG at −249 bp from TSS``, ``K10``,
    ``[CLS]``), so the hover template shows them; ticks show positions only.
    """
    go = _plotly()
    if not (0 <= layer < maps.num_layers and 0 <= head < maps.num_heads):
        raise ValueError(f"layer must be in 0..{maps.num_layers - 1} and head in 0..{maps.num_heads - 1}, "
                         f"got {layer} and {head}")
    tss = getattr(maps, "tss", None) if tss is None else tss
    axis = cell_axis(maps, letters, tss, span)
    start = span[0] if span is not None else 0
    grid = np.asarray((maps.letters() if letters else maps.probs)[layer, head], dtype=np.float32)
    grid = grid[start:start + len(axis), start:start + len(axis)]
    labels = [axis.hover_text(cell) for cell in range(len(axis))]
    largest = float(np.nanmax(grid)) if np.isfinite(grid).any() else 0.0
    top = vmax if vmax is not None else (largest or 1.0)
    unit = "tokens" if not letters else ("bases" if axis.dna else "residues")
    title = ", ".join(part for part in (model, maps.name or "sequence") if part)
    title = f"{title}: {maps.kind} attention between {unit}, layer {layer}, head {head}"
    if vmax is not None and largest > vmax:
        title += f" (colour 0 to {vmax:.3g}; larger weights, up to {largest:.3g}, in the top colour)"
    heatmap = go.Heatmap(z=grid, x=labels, y=labels, zmin=0.0, zmax=top, colorscale=SEQUENTIAL.capitalize(),
                         hovertemplate=HOVER, hoverongaps=False,
                         colorbar={"title": {"text": "attention weight", "side": "right"}})
    fig = go.Figure(heatmap)
    fig.update_layout(title={"text": title, "font": {"size": 14}}, width=SIDE_PX + 220, height=SIDE_PX + 160,
                      plot_bgcolor=NAN_COLOUR, font={"size": 12}, margin={"l": 90, "r": 40, "t": 70, "b": 80})
    fig.update_xaxes(title=axis.label("key"), type="category", constrain="domain", **_ticks(axis, labels))
    fig.update_yaxes(title=axis.label("query"), type="category", autorange="reversed", scaleanchor="x",
                     constrain="domain", **_ticks(axis, labels))
    if axis.tss and np.nanmin(axis.positions) <= 0 <= np.nanmax(axis.positions):
        where = axis.locate(0.0)
        line = {"color": "white", "width": 1, "dash": "dash"}
        fig.add_shape(type="line", x0=where, x1=where, y0=-0.5, y1=len(axis) - 0.5, line=line)
        fig.add_shape(type="line", y0=where, y1=where, x0=-0.5, x1=len(axis) - 0.5, line=line)
    return fig
