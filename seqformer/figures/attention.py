"""Figures of attention maps: heatmaps of heads with the sequence's letters or tokens on the axes.

Axes: N layers, H heads, q query and k key positions (tokens or letters). ``maps`` is any object
with the fields of :class:`seqformer.analysis.attention.AttentionMaps` (``probs`` (N, H, L, L),
``letters()`` (N, H, n, n), ``seq``, ``tokens``, ``name``, ``kind``, ``num_layers``, ``num_heads``).
"""

from __future__ import annotations

from typing import Sequence

from seqformer.figures.heatmap import heatmap as _heatmap


def plot_heads(maps, layer: int, *, heads: Sequence[int] | None = None, letters: bool = True,
               columns: int = 4, vmax: float | None = None):
    """Heatmaps of the heads of one layer (queries down, keys across), letters or tokens on the axes.

    Args:
        maps: one sequence's maps.
        layer: 0-based layer.
        heads: which heads (default all).
        letters: map to letters (:meth:`AttentionMaps.letters`) or show tokens.
        columns: heads per row of the grid.
        vmax: top of the colour scale (default: the largest weight shown).
    """
    from matplotlib.figure import Figure

    if not 0 <= layer < maps.num_layers:
        raise ValueError(f"layer must be in 0..{maps.num_layers - 1}, got {layer}")
    heads = list(range(maps.num_heads)) if heads is None else list(heads)
    values = (maps.letters() if letters else maps.probs)[layer, heads]  # (h, q, k)
    labels = list(maps.seq) if letters else list(maps.tokens)
    columns = min(columns, len(heads))
    rows = -(-len(heads) // columns)
    fig = Figure(figsize=(3.6 * columns + 0.8, 3.4 * rows + 0.6))
    axes = fig.subplots(rows, columns, squeeze=False)
    top = float(values.max()) if vmax is None else vmax
    for ax, head, grid in zip(axes.flat, heads, values):
        _heatmap(ax, grid, labels, labels, title=f"layer {layer} head {head}", cbar=False, cmap="viridis",
                 vmin=0.0, vmax=top or 1.0)
    for ax in axes.flat[len(heads):]:
        ax.set_visible(False)
    unit = "letters" if letters else "tokens"
    fig.suptitle(f"{maps.name or 'sequence'}: {maps.kind} attention over {unit} (queries down, keys across; "
                 f"colour 0-{top:.2g})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_layers(maps, head: int, *, letters: bool = False):
    """One head's map in every layer, side by side (the same colour scale)."""
    from matplotlib.figure import Figure

    values = (maps.letters() if letters else maps.probs)[:, head]  # (N, q, k)
    labels = list(maps.seq) if letters else list(maps.tokens)
    fig = Figure(figsize=(3.6 * maps.num_layers + 0.8, 4.0))
    axes = fig.subplots(1, maps.num_layers, squeeze=False)[0]
    top = float(values.max()) or 1.0
    for layer, (ax, grid) in enumerate(zip(axes, values)):
        _heatmap(ax, grid, labels, labels, title=f"layer {layer} head {head}", cbar=layer == len(axes) - 1,
                 cmap="viridis", vmin=0.0, vmax=top)
    fig.tight_layout()
    return fig
