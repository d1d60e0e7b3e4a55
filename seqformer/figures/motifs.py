"""A discovered motif's logo above its best database match, aligned column by column.

Axes: w positions of the discovered motif, v positions of the match, 4 bases (A C G T).

The top panel is the motif's contribution weight matrix (CWM: mean contribution per position and
base, signed; a negative pattern's letters stand below zero), drawn by :func:`~.logo.plot_logo`.
The bottom panel is the match's information-content logo (letter height ``p * IC`` bits, IC against
a uniform background, at most 2 bits), already oriented as it was matched (a reverse-complemented
match is passed reverse-complemented). Both share one x axis in the motif's coordinates
(1..w): the match's column ``j`` (0-based) faces motif position ``j - offset + 1``, so a Tomtom
``offset`` (motif column ``i`` faces match column ``i + offset``) places it directly.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from seqformer.figures.logo import coordinate_axis, fit_title, plot_logo, plot_width
from seqformer.figures.style import figure, style

POSITION_LABEL = "position in motif (bp)"


def information_heights(ppm: np.ndarray, background: float = 0.25) -> np.ndarray:
    """(v, 4) letter heights of an information-content logo of a (v, 4) PPM: ``p * sum_b p log2(p / bg)``."""
    ppm = np.asarray(ppm, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        bits = np.where(ppm > 0, ppm * np.log2(ppm / background), 0.0).sum(axis=1)
    return ppm * bits[:, None]


def plot_motif(cwm: np.ndarray, *, title: str = "", match_ppm: np.ndarray | None = None, match_offset: int = 0,
               match_title: str = "", cwm_label: str = "contribution") -> Figure:
    """The CWM logo of a motif, above its match's information logo when ``match_ppm`` is given.

    Args:
        cwm: (w, 4) the motif's contribution weight matrix, A C G T.
        title: the top panel's title (the motif's name, seqlets, sign).
        match_ppm: (v, 4) PPM of the match, oriented as matched; None draws the CWM alone.
        match_offset: motif column ``i`` faces match column ``i + match_offset`` (module docstring).
        match_title: the bottom panel's title (the match's id, name, orientation, p and q).
        cwm_label: the CWM's y label, with units where the attributions have them.

    Returns:
        The Figure (nothing is saved).
    """
    cwm = np.asarray(cwm, dtype=float)
    positions = np.arange(1, len(cwm) + 1)
    first, last = 1, len(cwm)
    if match_ppm is not None:
        match_positions = np.arange(len(match_ppm)) - int(match_offset) + 1
        first, last = min(first, int(match_positions[0])), max(last, int(match_positions[-1]))
    width = plot_width(last - first + 1, least=5.0, most=10.0)
    with style():
        fig = figure(width, 2.3 if match_ppm is None else 4.2)
        top = fig.add_subplot(2 if match_ppm is not None else 1, 1, 1)
        plot_logo(cwm, positions, ax=top, ylabel=cwm_label, xlabel=POSITION_LABEL)
        axes = [top]
        if match_ppm is not None:
            bottom = fig.add_subplot(2, 1, 2)
            plot_logo(information_heights(match_ppm), match_positions, ax=bottom, ylabel="information (bits)",
                      xlabel=POSITION_LABEL)
            bottom.set_ylim(0.0, 2.05)
            axes.append(bottom)
        for ax, text in zip(axes, (title, match_title)):
            coordinate_axis(ax, first, last, POSITION_LABEL)
            if text:
                ax.set_title(fit_title(text, width - 1.0), loc="left")
    return fig
