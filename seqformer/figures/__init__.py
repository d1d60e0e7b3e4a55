"""The plotting layer: every figure seqformer draws, to one set of conventions (:mod:`.style`).

Functions take data and return a matplotlib Figure; report writers and the CLI save them as PNG
and SVG (:func:`~seqformer.figures.style.save_figure`). Nothing here knows models or files.
"""

from seqformer.figures.style import colorbar, figure, save_figure, style

__all__ = ["colorbar", "figure", "save_figure", "style"]
