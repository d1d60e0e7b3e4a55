"""Saturation mutagenesis equals scoring each mutant directly; the heatmap is a Figure; CLI files and errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import cli_error, cli_ok
from variants_helpers import WINDOW, copy_fixtures, tiny_classifier

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
    assert ax.get_title() == "t" and [t.get_text() for t in ax.get_yticklabels()] == list(BASES)


def read_matrix(path):
    return pd.read_csv(path, sep="\t", index_col="position")


def test_cli_region_and_fasta(files, tmp_path):
    root, seq = files
    cli_ok("mutagenesis", "--model", root / "clf", "--genome", root / "genome.fa", "--region", f"chr1:11-{10 + WINDOW}",
           "--out", tmp_path / "region")
    cli_ok("mutagenesis", "--model", root / "clf", "--fasta", root / "seqs.fa", "--record", "second",
           "--out", tmp_path / "record", "--metric", "delta_logit")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "record.delta_logit.tsv", "record.delta_p.tsv", "record.png",
        "region.delta_logit.tsv", "region.delta_p.tsv", "region.png"]
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
    line = cli_error("mutagenesis", "--model", model, *source, "--out", tmp_path / "m", *extra)
    assert message in line
    assert list(tmp_path.iterdir()) == []
