"""Saturation mutagenesis equals scoring each mutant directly; the heatmap and logo (reference bases,
coordinates, TSS, the figure standard); CLI files and errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from figure_checks import check_figure
from helpers import cli_error, cli_ok
from variants_helpers import WINDOW, copy_fixtures, tiny_classifier

from seqformer.figures.mutagenesis import plot_mutagenesis_logo, reference_importance
from seqformer.io import Genome, reverse_complement
from seqformer.predict.scorer import classifier_probs
from seqformer.variants.effect import logit
from seqformer.variants.mutagenesis import BASES, plot_mutagenesis, saturation_mutagenesis


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = copy_fixtures(tmp_path_factory.mktemp("mutagenesis"))
    tiny_classifier().save_pretrained(root / "clf")
    tiny_classifier(("open", "bound")).save_pretrained(root / "clf2")
    with Genome(root / "genome.fa") as genome:
        seq = genome.fetch("chr1", 10, 10 + WINDOW)
    (root / "seqs.fa").write_text(f">first\n{'A' * WINDOW}\n>second\n{seq}\n")
    return root, seq


def test_matches_direct_mutants(files):
    _, seq = files
    model = tiny_classifier(("open", "bound"))
    seq = seq[:7] + "N" + seq[8:]  # an N position: all four bases are mutations there
    result = saturation_mutagenesis(model, seq, "bound", batch_size=7)

    mutants = {(i, b): seq[:i] + base + seq[i + 1:] for i in range(WINDOW) for b, base in enumerate(BASES)
               if base != seq[i]}
    seqs = [seq, *mutants.values()]
    probs = classifier_probs(model, seqs + [reverse_complement(s) for s in seqs])[:, 1]  # one batch, by hand
    p = dict(zip([None, *mutants], (probs[:len(seqs)] + probs[len(seqs):]) / 2))

    assert result.p_ref == pytest.approx(p[None], rel=1e-6)
    delta_p, delta_logit = result.matrix("delta_p"), result.matrix("delta_logit")
    assert delta_p.shape == (WINDOW, 4) and list(delta_p.columns) == list(BASES)
    assert delta_p.index[0] == 1 and delta_p.index.name == "position"
    for i in range(WINDOW):
        for b, base in enumerate(BASES):
            if base == seq[i]:
                assert delta_p.iloc[i, b] == 0 and delta_logit.iloc[i, b] == 0
                continue
            assert delta_p.iloc[i, b] == pytest.approx(p[i, b] - p[None], abs=1e-6)
            assert delta_logit.iloc[i, b] == pytest.approx(logit(p[i, b]) - logit(p[None]), abs=1e-4)
    assert (delta_p.iloc[7] != 0).all()
    assert np.abs(delta_p.to_numpy()).max() > 1e-3


def test_plot_returns_a_figure_without_side_effects(files, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    monkeypatch.chdir(tmp_path)
    matrix = pd.DataFrame(np.arange(WINDOW * 4, dtype=float).reshape(WINDOW, 4) - 40, columns=list(BASES),
                          index=pd.RangeIndex(1, WINDOW + 1, name="position"))
    figure = plot_mutagenesis(matrix, title="t")
    assert isinstance(figure, Figure) and plt.get_fignums() == [] and list(tmp_path.iterdir()) == []
    ax = figure.axes[0]
    assert ax.get_title(loc="left") == "t" and [t.get_text() for t in ax.get_yticklabels()] == list(BASES)
    assert ax.get_xlabel() == "position in window (bp)" and ax.get_ylabel() == "mutant base"
    image = ax.images[0]
    assert image.norm.vmin == -image.norm.vmax == -float(np.abs(matrix.to_numpy()).max())  # centred on 0
    assert image.colorbar.ax.get_ylabel() == "Δp (probability)\nmutant − reference"
    check_figure(figure)


# A hand-made window: 6 bases from chr20:1,000,001, an N at the 4th; effects -1 at mutations of the
# 2nd base, +0.5 at the 5th's, small elsewhere.
REF = "ACGNTA"
START = 1_000_001
TINY = np.array([[0.0, 0.1, 0.1, 0.1],
                 [-1.0, 0.0, -1.0, -1.0],
                 [0.0, 0.0, 0.0, 0.0],
                 [0.2, 0.2, 0.2, 0.2],
                 [0.5, 0.5, 0.5, 0.0],
                 [0.0, -0.3, 0.0, 0.3]])


def test_heatmap_marks_reference_bases_coordinates_and_tss():
    matrix = pd.DataFrame(TINY, columns=list(BASES))
    fig = plot_mutagenesis(matrix, ref=REF, start=START, chrom="chr20", tss=START + 2, title="promoter: Δlogit",
                           metric="delta_logit")
    check_figure(fig)
    ax = fig.axes[0]
    dots = [c for c in ax.collections if c.get_label() == "reference base"]
    assert len(dots) == 1
    expected = [(START + i, BASES.index(base)) for i, base in enumerate(REF) if base != "N"]
    assert [tuple(xy) for xy in dots[0].get_offsets()] == expected  # no dot at the N
    image = ax.images[0]
    left, right, bottom, top = image.get_extent()
    assert (left, right) == (START - 0.5, START + len(REF) - 0.5) and ax.get_xlim() == (left, right)
    assert (top, bottom) == (-0.5, 3.5)  # row 0 (A) on top, cell centres at 0..3 like the y ticks
    np.testing.assert_array_equal(image.get_array(), TINY.T)
    assert ax.get_xlabel() == "chr20 position (bp)"
    ticks = [(t.get_position()[0], t.get_text()) for t in ax.get_xticklabels() if left <= t.get_position()[0] <= right]
    assert len(ticks) >= 2 and all(text == f"{int(x):,}" and x == int(x) for x, text in ticks)  # genomic, as given
    assert any(line.get_xdata()[0] == START + 2 for line in ax.lines)
    assert [t.get_text() for t in ax.child_axes[0].get_xticklabels()] == ["TSS"]
    assert ax.child_axes[0].get_xticks().tolist() == [START + 2]
    assert image.colorbar.ax.get_ylabel() == "Δlogit (log-odds)\nmutant − reference"


def test_reference_importance_and_its_logo():
    importance = reference_importance(pd.DataFrame(TINY, columns=list(BASES)), REF)
    expected = np.zeros((6, 4))
    expected[0, 0] = -0.1       # A: mutations average +0.1, so A holds the score down
    expected[1, 1] = 1.0        # C: every mutation costs 1
    expected[4, 3] = -0.5       # T: mutations raise the score by 0.5
    expected[5, 0] = 0.0        # A: -0.3 and +0.3 cancel
    np.testing.assert_allclose(importance, expected, atol=1e-12)  # row 3 (N) and the G row (all 0) draw nothing
    fig = plot_mutagenesis_logo(TINY, REF, start=START, chrom="chr20", tss=START + 1, title="t")
    check_figure(fig)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "chr20 position (bp)" and "Δp" in ax.get_ylabel()
    letters = sorted((round((box.x0 + box.x1) / 2), round(box.y0, 9), round(box.y1, 9))
                     for box in (p.get_path().get_extents() for p in ax.patches))
    assert letters == [(START, -0.1, 0.0), (START + 1, 0.0, 1.0), (START + 4, -0.5, 0.0)]
    assert [t.get_text() for t in ax.child_axes[0].get_xticklabels()] == ["TSS"]


def test_plot_checks_its_input():
    with pytest.raises(ValueError, match="reference has 3 bases"):
        plot_mutagenesis(TINY, ref="ACG")
    with pytest.raises(ValueError, match="outside"):
        plot_mutagenesis(TINY, ref=REF, start=START, chrom="chr20", tss=START + 6)


def test_300_base_figures_meet_the_standard():
    rng = np.random.default_rng(0)
    ref = "".join(rng.choice(list(BASES), 300))
    values = rng.normal(0, 0.05, (300, 4))
    values[np.arange(300), [BASES.index(b) for b in ref]] = 0
    title = "promoter: Δp of every single-base substitution in chr20:68,064-68,363 (reference p = 0.912)"
    for plot in (plot_mutagenesis, plot_mutagenesis_logo):
        fig = plot(values, ref=ref, start=68_064, chrom="chr20", tss=68_313, title=title)
        check_figure(fig)
        ax = fig.axes[0]
        low, high = ax.get_xlim()
        assert (low, high) == (68_063.5, 68_363.5)
        assert 3 <= len([t for t in ax.get_xticks() if low <= t <= high]) <= 12


def read_matrix(path):
    return pd.read_csv(path, sep="\t", index_col="position")


def test_cli_region_and_fasta(files, tmp_path):
    import json

    root, seq = files
    out = cli_ok("mutagenesis", "--model", root / "clf", "--genome", root / "genome.fa", "--region",
                 f"chr1:11-{10 + WINDOW}", "--out", tmp_path / "region", "--tss", "15")
    cli_ok("mutagenesis", "--model", root / "clf", "--fasta", root / "seqs.fa", "--record", "second",
           "--out", tmp_path / "record", "--metric", "delta_logit", "--tss", str(WINDOW))
    names = ["delta_logit.tsv", "delta_p.tsv", "logo.png", "logo.svg", "png", "svg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.{kind}" for name in ("record", "region")
                                                          for kind in names]
    assert sorted(json.loads(out)["files"]) == sorted(str(tmp_path / f"region.{kind}") for kind in names)
    for name in ("region", "record"):
        for kind in ("png", "logo.png"):
            assert (tmp_path / f"{name}.{kind}").read_bytes()[:4] == b"\x89PNG"
        for kind in ("svg", "logo.svg"):
            assert b"<svg" in (tmp_path / f"{name}.{kind}").read_bytes()[:1000]
    expected = saturation_mutagenesis(tiny_classifier(), seq)
    for name in ("region", "record"):
        for metric in ("delta_p", "delta_logit"):
            table = read_matrix(tmp_path / f"{name}.{metric}.tsv")
            assert "".join(table["ref"]) == seq
            np.testing.assert_allclose(table[list(BASES)], expected.matrix(metric), rtol=1e-5, atol=1e-6)
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("case, message", [
    ("wrong_length", f"the sequence has 30 bases; the model's window is {WINDOW}"),
    ("several_targets", "the model has 2 targets; choose one with --target"),
    ("unknown_target", "the model has no output 'x'"),
    ("no_record", "seqs.fa: no record 'third'"),
    ("both_sources", "give either --genome with --region, or --fasta"),
    ("bad_metric", "--metric must be one of delta_p, delta_logit"),
    ("tss_outside_region", "the TSS 31 lies outside chr1:11-30"),
    ("tss_outside_window", f"the TSS {WINDOW + 1} lies outside the window 1-{WINDOW}"),
])
def test_cli_errors(files, tmp_path, case, message):
    root, _ = files
    source = ["--fasta", root / "seqs.fa"]
    model = root / "clf"
    extra = []
    if case == "wrong_length":
        source = ["--genome", root / "genome.fa", "--region", "chr1:1-30"]
    elif case == "several_targets":
        model = root / "clf2"
    elif case == "unknown_target":
        extra = ["--target", "x"]
    elif case == "no_record":
        extra = ["--record", "third"]
    elif case == "both_sources":
        source += ["--genome", root / "genome.fa", "--region", "chr1:1-20"]
    elif case == "bad_metric":
        extra = ["--metric", "p"]
    elif case == "tss_outside_region":
        source = ["--genome", root / "genome.fa", "--region", f"chr1:11-{10 + WINDOW}"]
        extra = ["--tss", "31"]
    elif case == "tss_outside_window":
        extra = ["--tss", str(WINDOW + 1)]
    line = cli_error("mutagenesis", "--model", model, *source, "--out", tmp_path / "m", *extra)
    assert message in line
    assert list(tmp_path.iterdir()) == []
