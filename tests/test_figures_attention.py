"""Attention-map figures to the figure standard (tests/figure_checks.py), and the interactive (plotly) view."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from figure_checks import check_figure
from test_analysis_attention import tiny_encoder

from seqformer.analysis import AttentionMaps, sequence_attention
from seqformer.figures.attention import cell_axis, fit_ticks, plot_heads, plot_layers, scale_top
from seqformer.tokenizers import KmerTokenizer

RNG = np.random.default_rng(0)
PROTEIN = "".join(RNG.choice(list("ACDEFGHIKLMNPQRSTVWY"), 120))  # 120 residues
DNA = "".join(RNG.choice(list("ACGT"), 300))  # 300 bases: 298 3-mers + [CLS] + [SEP] = 300 tokens


@pytest.fixture(scope="module")
def protein():
    return sequence_attention(tiny_encoder("dense", max_length=256), PROTEIN, "P12345")


@pytest.fixture(scope="module")
def dna():
    model = tiny_encoder("bigbird", tokenizer=KmerTokenizer(k=3, stride=1), max_length=512,
                         attention_options={"block_size": 16, "num_random_blocks": 1})
    return sequence_attention(model, DNA, "chr20:1001-1300", tss=249)


def data_axes(fig):
    return [ax for ax in fig.axes if ax.images]


def suptitle(fig):
    return fig.get_suptitle().replace("\n", " ")


def tick_texts(ax, axis="x"):
    return [t.get_text() for t in (ax.get_xticklabels() if axis == "x" else ax.get_yticklabels())]


def test_maps_know_their_alphabet_and_tss(dna, protein):
    assert (dna.alphabet, dna.tss, len(dna.tokens)) == ("dna", 249, 300)
    assert (protein.alphabet, protein.tss) == ("protein", None)


@pytest.mark.parametrize("letters", [True, False])
@pytest.mark.parametrize("shared", [False, True])
def test_dna_heads_meet_the_standard_with_tss_positions(dna, letters, shared):
    fig = plot_heads(dna, 1, letters=letters, shared_scale=shared, model="tiny_bigbird")
    check_figure(fig)  # colour bars, labels, sizes, nothing clipped, no overlapping ticks
    axes = data_axes(fig)
    assert len(axes) == 2
    ax = axes[0]
    assert ax.get_title() == "layer 1, head 0" or ax.get_title().startswith("layer 1, head 0 (largest")
    assert "tiny_bigbird" in suptitle(fig) and "chr20:1001-1300" in suptitle(fig)
    assert ax.get_xlabel().startswith("key") and ax.get_ylabel().startswith("query") and "bp from TSS" in ax.get_xlabel()
    xs = tick_texts(ax)
    assert "TSS" in xs and "\u2212200" in xs and all(text not in xs for text in ("0", "-200"))
    assert len(ax.lines) == 2  # the TSS marked across and down
    bars = [image.colorbar for a in axes for image in a.images if image.colorbar is not None]
    assert len(bars) == (1 if shared else 2) and all(bar.ax.get_ylabel() == "attention weight" for bar in bars)
    if shared:
        assert "One colour scale for all heads, 0 to" in suptitle(fig)
    if not letters:
        assert xs[0] == "[CLS]" and xs[-1] == "[SEP]"


def test_dna_without_tss_counts_from_the_first_base(dna):
    plain = AttentionMaps(dna.name, dna.seq, dna.tokens, dna.spans, dna.probs, dna.kind)  # no alphabet, no TSS
    fig = plot_heads(plain, 0)
    check_figure(fig)
    ax = data_axes(fig)[0]
    assert ax.get_xlabel() == "key position (bp from start)" and not ax.lines
    assert tick_texts(ax)[:3] == ["0", "50", "100"]


@pytest.mark.parametrize("shared", [False, True])
def test_protein_heads_show_residue_letters_numbered_every_ten(protein, shared):
    fig = plot_heads(protein, 0, shared_scale=shared)
    check_figure(fig)
    ax = data_axes(fig)[0]
    assert ax.get_xlabel() == "key position (residue)" and ax.get_ylabel() == "query position (residue)"
    ys = tick_texts(ax, "y")
    assert ys[0] == f"{PROTEIN[0]}1" and ys[1] == f"{PROTEIN[9]}10" and ys[-1] == f"{PROTEIN[119]}120"
    assert tick_texts(ax) == ys  # x labels read upwards, so that one every 10 fits as well


def test_short_protein_labels_every_residue():
    model = tiny_encoder("dense")
    maps = sequence_attention(model, PROTEIN[:12], "short")
    fig = plot_heads(maps, 0, heads=[1])
    check_figure(fig)
    ys = tick_texts(data_axes(fig)[0], "y")
    assert ys == [f"{PROTEIN[0]}1", *PROTEIN[1:9], f"{PROTEIN[9]}10", *PROTEIN[10:12]]


def test_layers_are_equal_panels(protein, dna):
    for fig in (plot_layers(protein, 1, letters=True), plot_layers(dna, 0, model="m"),
                plot_layers(dna, 0, shared_scale=True)):
        check_figure(fig)
        fig.canvas.draw()
        boxes = [ax.get_window_extent() for ax in data_axes(fig)]
        assert len(boxes) == 2
        assert abs(boxes[0].width - boxes[1].width) < 1 and abs(boxes[0].height - boxes[1].height) < 1
        assert abs(boxes[0].width - boxes[0].height) < 1  # square maps
        assert abs(boxes[0].y0 - boxes[1].y0) < 1
    heads = plot_heads(protein, 1, columns=1)  # one column, two rows
    heads.canvas.draw()
    a, b = (ax.get_window_extent() for ax in data_axes(heads))
    assert abs(a.width - b.width) < 1 and abs(a.height - b.height) < 1


def test_scales_per_head_shared_and_capped(protein):
    one, two = protein.letters()[1, :2]
    fig = plot_heads(protein, 1, heads=[0, 1], clip=None)
    images = [ax.images[0] for ax in data_axes(fig)]
    assert [image.norm.vmax for image in images] == pytest.approx([one.max(), two.max()])
    fig = plot_heads(protein, 1, heads=[0, 1], shared_scale=True, clip=None)
    images = [ax.images[0] for ax in data_axes(fig)]
    assert images[0].norm is images[1].norm and images[0].norm.vmax == pytest.approx(max(one.max(), two.max()))
    capped = plot_heads(protein, 1, heads=[0, 1], vmax=one.max() / 2)  # a stated cap: saturation is said
    check_figure(capped)
    assert f"0 to {one.max() / 2:.3g}" in suptitle(capped) and "in the top colour" in suptitle(capped)
    assert data_axes(capped)[0].images[0].colorbar.extend == "max"


def test_outlying_weights_top_the_scale_at_a_percentile():
    grid = np.full((50, 50), 0.01)
    grid[0, 0] = 0.9  # one weight far above the rest
    assert scale_top(grid, 99.5) == pytest.approx(0.01) and scale_top(grid, None) == 0.9
    grid[0, 0] = 0.015  # not an outlier: the scale goes to it
    assert scale_top(grid, 99.5) == 0.015
    assert scale_top(np.zeros((3, 3)), 99.5) == 1.0 and scale_top(np.full((2, 2), np.nan), None) == 1.0
    probs = np.full((1, 1, 42, 42), 1 / 42, dtype=np.float32)
    probs[0, 0, 2, 3] = 0.9
    spans = np.array([[-1, -1], *[[i, i + 1] for i in range(40)], [-1, -1]])
    maps = AttentionMaps("x", "ACDE" * 10, ("[CLS]", *"ACDE" * 10, "[SEP]"), spans, probs, "dense")
    fig = plot_heads(maps, 0, letters=False)
    check_figure(fig)
    ax = data_axes(fig)[0]
    assert ax.get_title() == "layer 0, head 0 (largest 0.9)" and ax.images[0].colorbar.extend == "max"


def test_nan_cells_are_grey_not_a_colour_of_the_scale(protein):
    from seqformer.figures.style import NAN_COLOUR

    fig = plot_heads(protein, 0, heads=[0])
    colours = data_axes(fig)[0].images[0].get_cmap()
    assert colours.get_bad()[:3] == pytest.approx(tuple(int(NAN_COLOUR[i:i + 2], 16) / 255 for i in (1, 3, 5)))


def test_ticks_fit_the_panel_and_zoom_keeps_positions(dna):
    axis = cell_axis(dna, letters=True, tss=249)
    wide = fit_ticks(axis, 600.0, along_width=True)
    narrow = fit_ticks(axis, 150.0, along_width=True)
    assert len(wide) > len(narrow) >= 3
    fig = plot_heads(dna, 0, span=(219, 269))  # 30 bases before the TSS to 19 after
    check_figure(fig)
    ax = data_axes(fig)[0]
    assert ax.images[0].get_array().shape == (50, 50)
    assert tick_texts(ax)[:2] == ["\u221230", "\u221220"] and "TSS" in tick_texts(ax)
    with pytest.raises(ValueError, match="span"):
        plot_heads(dna, 0, span=(10, 5))
    residues = AttentionMaps("p", "MKV", ("[CLS]", "M", "K", "V", "[SEP]"),
                             np.array([[-1, -1], [0, 1], [1, 2], [2, 3], [-1, -1]]), np.zeros((1, 1, 5, 5)), "dense",
                             "protein")
    with pytest.raises(ValueError, match="tss is for DNA"):
        plot_heads(residues, 0, tss=1)


def test_interactive_view_hovers_position_token_and_weight(dna, protein):
    pytest.importorskip("plotly")
    from seqformer.figures.interactive import interactive_map

    fig = interactive_map(dna, 1, 0, model="tiny_bigbird")
    trace = fig.data[0]
    assert trace.type == "heatmap" and len(trace.x) == len(trace.y) == 300
    assert trace.x[0] == "[CLS]" and trace.x[1] == f"{DNA[:3]} at \u2212249 bp from TSS"
    assert trace.x[250] == f"{DNA[249:252]} at TSS"
    for part in ("query: %{y}", "key: %{x}", "weight: %{z"):
        assert part in trace.hovertemplate
    np.testing.assert_allclose(np.asarray(trace.z), dna.probs[1, 0], rtol=1e-6)
    assert fig.layout.xaxis.title.text == "key token start (bp from TSS)"
    assert "TSS" in fig.layout.xaxis.ticktext and fig.layout.yaxis.autorange == "reversed"
    assert trace.colorbar.title.text == "attention weight" and len(fig.layout.shapes) == 2
    assert "tiny_bigbird" in fig.layout.title.text and "layer 1, head 0" in fig.layout.title.text
    residues = interactive_map(protein, 0, 1, letters=True).data[0]
    assert residues.x[0] == f"{PROTEIN[0]}1" and residues.x[9] == f"{PROTEIN[9]}10"


def test_interactive_view_without_plotly_says_how_to_install_it(dna, monkeypatch):
    from seqformer.figures.interactive import interactive_map

    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    monkeypatch.setitem(sys.modules, "plotly", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'seqformer\[interactive\]'"):
        interactive_map(dna, 0, 0)
