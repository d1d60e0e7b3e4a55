"""Figures of attention against a substitution matrix: pair correlations beside the matrix on one
scale, and per-head enrichment over the background.

Axes: A = 20 amino acids, K' kept heads. ``comparisons`` map a panel label to objects with the
fields of :class:`seqformer.analysis.substitution.MatrixComparison` (``correlations`` (A, A),
``pearson_r``, ``r_interval``, ``undefined``, ``threshold``, ``heads_used``). Amino acids are drawn
in the order of ``groups`` (name, letters) with the group boundaries marked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.colors import Normalize

from seqformer.figures.style import DIVERGING, cmap, colorbar, figure, style

Z_LIMIT = 2.5  # the shared colour scale of the comparison: ±2.5 standard deviations


def _order(frame: pd.DataFrame, groups: Sequence[tuple[str, str]] | None, rows: bool = True) -> pd.DataFrame:
    if not groups:
        return frame
    letters = [letter for _, members in groups for letter in members]
    return frame.loc[letters, letters] if rows else frame.loc[:, letters]


def standardised(values: np.ndarray) -> np.ndarray:
    """(A, A) off-diagonal values as z-scores over the defined off-diagonal cells (diagonal and NaN stay NaN).

    Pearson r does not change under this, so panels on this scale compare as r does.
    """
    out = np.array(values, dtype=float)
    np.fill_diagonal(out, np.nan)
    finite = np.isfinite(out)
    if finite.sum() >= 2 and np.nanstd(out) > 0:
        out[finite] = (out[finite] - out[finite].mean()) / out[finite].std()
    else:
        out[:] = np.nan
    return out


def _mark_groups(ax, groups: Sequence[tuple[str, str]] | None, *, columns_only: bool = False,
                 rotation: float = 40) -> None:
    """Lines between physicochemical groups, and the group names along the top."""
    if not groups:
        return
    edge = 0
    for name, members in groups:
        centre = edge + len(members) / 2 - 0.5
        ax.text(centre, 1.01, name, transform=ax.get_xaxis_transform(), ha="left" if rotation else "center",
                va="bottom", rotation=rotation, fontsize=7)
        edge += len(members)
        if edge < sum(len(m) for _, m in groups):
            ax.axvline(edge - 0.5, color="black", linewidth=0.6)
            if not columns_only:
                ax.axhline(edge - 0.5, color="black", linewidth=0.6)


def _r_text(comparison) -> str:
    if comparison.pearson_r is None:
        return "r undefined"
    interval = getattr(comparison, "r_interval", None)
    ci = "" if interval is None else f" [{interval[0]:.2f}, {interval[1]:.2f}]"
    return f"r = {comparison.pearson_r:.3f}{ci}"


def plot_substitution_comparison(comparisons: Mapping[str, object], matrix: pd.DataFrame, *, matrix_name: str,
                                 groups: Sequence[tuple[str, str]] | None = None):
    """The pair correlations of each comparison, then the substitution matrix, on one z-score scale.

    Each panel shows its off-diagonal cells standardised (:func:`standardised`), so the model, its
    random control and the matrix share one colour bar; titles give r with its 95% bootstrap
    interval, or say why r is undefined (then the panel is left blank, never drawn as ±1). NaN
    cells (undefined pairs, the diagonal) are grey.
    """
    panels = []
    for label, comparison in comparisons.items():
        reason = getattr(comparison, "undefined", None)
        title = (f"{label}\nθ = {comparison.threshold:g}, {comparison.heads_used} heads kept\n"
                 f"{_r_text(comparison)} vs {matrix_name}")
        values = _order(comparison.correlations, groups).to_numpy(dtype=float)
        panels.append((standardised(values) if comparison.pearson_r is not None else np.full(values.shape, np.nan),
                       title, reason))
    ordered = _order(matrix, groups)
    panels.append((standardised(ordered.to_numpy(dtype=float)), f"{matrix_name}\noff-diagonal scores", None))
    letters = list(ordered.index)
    with style():
        fig = figure(3.3 * len(panels) + 1.0, 4.2)
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        image, scale = None, Normalize(-Z_LIMIT, Z_LIMIT)  # one norm: one stated scale for every panel
        for ax, (values, title, reason) in zip(axes, panels):
            image = ax.imshow(values, cmap=cmap(DIVERGING), norm=scale, interpolation="nearest")
            ax.set_xticks(range(len(letters)), letters, fontfamily="monospace")
            ax.set_yticks(range(len(letters)), letters, fontfamily="monospace")
            ax.set_xlabel("amino acid")
            ax.set_ylabel("amino acid")
            ax.set_title(title, fontsize=8, pad=26 if groups else 6)
            _mark_groups(ax, groups)
            if reason is not None:
                ax.text(0.5, 0.5, "undefined:\n" + reason.replace(" (", "\n("), transform=ax.transAxes, ha="center",
                        va="center", fontsize=7, wrap=True,
                        bbox={"facecolor": "white", "edgecolor": "grey", "boxstyle": "round"})
        colorbar(fig, image, list(axes), "z-score within panel (off-diagonal pairs)\ngrey: undefined", shrink=0.8)
    return fig


def plot_head_enrichment(enrichment: pd.DataFrame, background: pd.Series, *,
                         groups: Sequence[tuple[str, str]] | None = None, title: str = ""):
    """Each kept head's log2 enrichment of attention landing on each amino acid over the background.

    Args:
        enrichment: (K', A) log2(share / background), index (layer, head) (NaN: share 0, drawn grey).
        background: (A,) frequency of each amino acid among the residues, drawn as bars above.
        groups: (name, letters) in drawing order.
        title: the figure's title (e.g. the model and input).
    """
    frame = _order(enrichment, groups, rows=False)
    letters = list(frame.columns)
    heads = [f"{layer}.{head}" for layer, head in frame.index]
    values = frame.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    limit = max(float(np.abs(finite).max()) if finite.size else 1.0, 0.5)
    with style():
        fig = figure(6.4, max(3.2, 0.16 * len(heads) + 2.4))
        top, main = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1, max(3, len(heads) / 4)]}, sharex=True)
        top.bar(range(len(letters)), 100 * background.reindex(letters).to_numpy(dtype=float), color="#7f7f7f")
        top.set_ylabel("background\n(% of residues)")
        top.set_xlabel("")
        top.tick_params(labelbottom=False)
        fig.suptitle(title or "attention landing on each amino acid, per head, over the background", fontsize=9,
                     wrap=True)
        main.set_xticks(range(len(letters)), letters, fontfamily="monospace")
        main.set_xlabel("amino acid attended to (key)")
        main.set_ylabel("head (layer.head)")
        _mark_groups(top, groups, columns_only=True, rotation=0)
        for edge in np.cumsum([len(members) for _, members in groups or ()])[:-1]:
            main.axvline(edge - 0.5, color="black", linewidth=0.6)
        if not heads:
            main.set_xlim(-0.5, len(letters) - 0.5)
            main.set_yticks([])
            main.text(0.5, 0.5, "no head kept at this threshold", transform=main.transAxes, ha="center", va="center")
            return fig
        image = main.imshow(values, cmap=cmap(DIVERGING), vmin=-limit, vmax=limit, aspect="auto",
                            interpolation="nearest")
        step = max(1, -(-len(heads) // 30))
        main.set_yticks(range(0, len(heads), step), heads[::step])
        colorbar(fig, image, main, "log2(share / background frequency)\ngrey: share 0")
    return fig


def plot_head_shares(shares: pd.DataFrame):
    """Raw shares (K', A) of each kept head's attention landing on each amino acid (heads down).

    Prefer :func:`plot_head_enrichment`: raw shares mostly show how common each residue is.
    """
    values = shares.to_numpy(dtype=float)
    heads = [f"{layer}.{head}" for layer, head in shares.index]
    with style():
        fig = figure(6.4, max(2.8, 0.16 * len(heads) + 1.6))
        ax = fig.add_subplot()
        image = ax.imshow(values, cmap=cmap("viridis"), vmin=0.0, aspect="auto", interpolation="nearest")
        ax.set_xticks(range(shares.shape[1]), list(shares.columns), fontfamily="monospace")
        step = max(1, -(-len(heads) // 30))
        ax.set_yticks(range(0, len(heads), step), heads[::step])
        ax.set(xlabel="amino acid attended to (key)", ylabel="head (layer.head)",
               title="share of kept attention landing on each amino acid")
        colorbar(fig, image, ax, "share of the head's kept attention")
    return fig
