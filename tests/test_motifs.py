"""Motifs from attributions (modisco-lite), JASPAR matching (Tomtom), the FIMO enrichment baseline, `seqformer motifs`.

The fixture plants JASPAR motifs in random sequences: CTCF (MA0139) with attribution +1 at its
positions in the even sequences, REST (MA0138) with -1 in the odd ones, each site sampled from the
motif's PPM in a random orientation at a random position, small noise everywhere else. Discovery
must find a positive pattern matching CTCF and a negative one matching REST in the whole JASPAR
vertebrate collection.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from figure_checks import check_figure
from helpers import cli_error, cli_ok

from seqformer.analysis.motif_db import (MATCH_COLUMNS, benjamini_hochberg, jaspar_motifs, match_motifs,
                                         oriented_ppm)
from seqformer.analysis.motif_enrichment import (ENRICHMENT_COLUMNS, enrichment_baseline, scan_matrices,
                                                 sequences_hit)
from seqformer.analysis.motif_report import MOTIF_COLUMNS, meme_text, motif_figure, write_motif_report
from seqformer.analysis.motifs import (Motif, consensus, discover_motifs, load_attributions, motif_from_pattern,
                                       trim_bounds)
from seqformer.errors import InputError
from seqformer.figures.motifs import information_heights, plot_motif

N_SEQS, LENGTH = 400, 100
DISCOVERY = {"window": 15, "flank": 5, "leiden_runs": 4}  # seqlets of 25 bp fit 100-bp sequences
CTCF, REST = "MA0139", "MA0138"


def _rc(seq: str) -> str:
    return seq.translate(str.maketrans("ACGT", "TGCA"))[::-1]


@pytest.fixture(scope="module")
def jaspar():
    return jaspar_motifs(tax_group="vertebrates")


@pytest.fixture(scope="module")
def planted(jaspar):
    """(onehot, hypothetical, sequences) with CTCF (+1) planted in the even sequences, REST (-1) in the odd."""
    rng = np.random.default_rng(0)
    bases = rng.integers(0, 4, (N_SEQS, LENGTH))
    weight = rng.normal(0.0, 0.02, (N_SEQS, LENGTH))
    for i in range(N_SEQS):
        ppm, sign = (jaspar.ppm(CTCF), 1.0) if i % 2 == 0 else (jaspar.ppm(REST), -1.0)
        site = np.array([rng.choice(4, p=row) for row in ppm])
        if rng.random() < 0.5:
            site = 3 - site[::-1]
        start = rng.integers(0, LENGTH - len(site))
        bases[i, start:start + len(site)] = site
        weight[i, start:start + len(site)] = sign
    onehot = np.eye(4, dtype=np.float32)[bases]
    hypothetical = np.repeat(weight[:, :, None], 4, axis=2).astype(np.float32)
    seqs = ["".join("ACGT"[b] for b in row) for row in bases]
    return onehot, hypothetical, seqs


@pytest.fixture(scope="module")
def discovered(planted):
    onehot, hypothetical, _ = planted
    return discover_motifs(onehot, hypothetical, **DISCOVERY)


@pytest.fixture(scope="module")
def matched(discovered, jaspar):
    return match_motifs({motif.name: motif.ppm for motif in discovered}, jaspar, top=5)


def _write_npz(path: Path, onehot, hypothetical, replace: dict | None = None) -> Path:
    """An attributions.npz as `seqformer attribute` writes it; ``replace`` swaps arrays (None drops one)."""
    arrays = {"names": np.array([f"seq{i}" for i in range(len(onehot))]), "onehot": onehot,
              "hypothetical": hypothetical, "scores": (onehot * hypothetical).sum(axis=2),
              "target": np.array("promoter"), "method": np.array("synthetic")}
    arrays.update(replace or {})
    np.savez(path, **{key: value for key, value in arrays.items() if value is not None})
    return path


# -- discovery -----------------------------------------------------------------------------------------------------


def test_trim_bounds_keeps_positions_from_first_to_last_at_three_tenths_of_the_largest():
    cwm = np.zeros((8, 4))
    cwm[:, 0] = [0.1, 0.29, 0.3, 0.05, -1.0, 0.2, 0.31, 0.1]  # sum |cwm|: max 1.0 at 4
    assert trim_bounds(cwm) == (2, 7)
    assert trim_bounds(cwm, 0.5) == (4, 5)
    assert trim_bounds(np.zeros((3, 4))) == (0, 3)


def test_motif_from_pattern_trims_and_normalises():
    cwm = np.zeros((5, 4))
    cwm[1:4, 2] = [0.5, 1.0, 0.4]
    counts = np.array([[1, 1, 1, 1], [0, 0, 4, 0], [0, 2, 2, 0], [4, 0, 0, 0], [1, 1, 1, 1]], dtype=float)
    pattern = SimpleNamespace(contrib_scores=cwm, sequence=counts, seqlets=[object()] * 7)
    motif = motif_from_pattern(pattern, "pos_pattern_0", 1)
    assert (motif.start, motif.width, motif.n_seqlets, motif.consensus) == (1, 3, 7, "GCA")
    np.testing.assert_array_equal(motif.ppm, [[0, 0, 1, 0], [0, 0.5, 0.5, 0], [1, 0, 0, 0]])
    np.testing.assert_array_equal(motif.cwm, cwm[1:4])


def test_discovery_finds_the_planted_motifs_with_their_signs(discovered, matched):
    by_sign = {sign: [m for m in discovered if m.sign == sign] for sign in (1, -1)}
    assert by_sign[1] and by_sign[-1]
    assert [m.name for m in discovered] == [f"pos_pattern_{i}" for i in range(len(by_sign[1]))] + \
        [f"neg_pattern_{i}" for i in range(len(by_sign[-1]))]
    best = matched[matched["rank"] == 1].set_index("query")
    top_pos, top_neg = by_sign[1][0], by_sign[-1][0]  # the largest pattern of each sign
    assert best.loc[top_pos.name, "target_id"].startswith(CTCF + ".")
    assert best.loc[top_neg.name, "target_id"].startswith(REST + ".")
    assert best.loc[top_pos.name, "p_value"] < 1e-10 and best.loc[top_neg.name, "p_value"] < 1e-10
    for motif in (top_pos, top_neg):
        assert 50 <= motif.n_seqlets <= N_SEQS // 2
        np.testing.assert_allclose(motif.ppm.sum(axis=1), 1.0)
        assert motif.cwm.shape == motif.ppm.shape
        assert np.sign(motif.cwm.sum()) == motif.sign
    assert top_pos.width == 15 and top_neg.width == 20  # CTCF MA0139.2 and REST MA0138.3 widths


def test_the_offset_and_orientation_align_the_motif_on_its_match(discovered, matched, jaspar):
    """Where the match is informative (>= 1 bit), the motif's consensus is the match's, at the reported offset."""
    best = matched[matched["rank"] == 1].set_index("query")
    for motif in discovered:
        match = best.loc[motif.name]
        target_ppm = oriented_ppm(jaspar, match["target_id"], match["orientation"])
        target, bits = consensus(target_ppm), information_heights(target_ppm).sum(axis=1)
        facing = [(i, i + match["offset"]) for i in range(motif.width) if 0 <= i + match["offset"] < len(target)]
        assert len(facing) >= 0.8 * motif.width
        strong = [(i, j) for i, j in facing if bits[j] >= 1.0]
        assert len(strong) >= 5
        assert [motif.consensus[i] for i, _ in strong] == [target[j] for _, j in strong], (motif.name, match)


def test_discover_refuses_bad_arrays():
    onehot = np.eye(4, dtype=np.float32)[np.zeros((5, 41), dtype=int)]
    with pytest.raises(InputError, match="must agree"):
        discover_motifs(onehot, onehot[:, :30])
    with pytest.raises(InputError, match="all zero"):
        discover_motifs(onehot, np.zeros_like(onehot))
    with pytest.raises(InputError, match="shorter than one seqlet"):
        discover_motifs(onehot, onehot, window=22, flank=10)


# -- JASPAR and Tomtom -------------------------------------------------------------------------------------------


def test_jaspar_motifs_are_offline_ppms(jaspar):
    assert jaspar.release == "JASPAR2026" and jaspar.tax_group == "vertebrates" and len(jaspar) > 800
    assert jaspar.ids[jaspar.index(CTCF)] == "MA0139.2" and jaspar.names[jaspar.index(CTCF)] == "CTCF"
    assert jaspar.ppm(CTCF).shape == (15, 4)
    for ppm in jaspar.ppms[:50]:
        np.testing.assert_allclose(ppm.sum(axis=1), 1.0)
    assert jaspar_motifs(tax_group="vertebrates") is jaspar  # cached
    with pytest.raises(InputError, match="unknown JASPAR release"):
        jaspar_motifs(release="JASPAR1999")
    with pytest.raises(InputError, match="taxonomic group"):
        jaspar_motifs(tax_group="birds")


def test_benjamini_hochberg_by_hand():
    q = benjamini_hochberg(np.array([[0.01, 0.04, 0.03, 0.5]]))
    np.testing.assert_allclose(q, [[0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5]])


def test_a_jaspar_motif_matches_itself_first_in_both_orientations_and_at_its_offset(jaspar):
    queries = {}
    for motif_id in (CTCF, REST, "MA0035"):  # GATA1: a short one
        ppm = jaspar.ppm(motif_id)
        queries[motif_id] = ppm
        queries[motif_id + " rc"] = ppm[::-1, ::-1]
    queries["CTCF 3-12"] = jaspar.ppm(CTCF)[3:12]
    table = match_motifs(queries, jaspar, top=3)
    assert list(table.columns) == MATCH_COLUMNS and len(table) == 3 * len(queries)
    best = table[table["rank"] == 1].set_index("query")
    for motif_id in (CTCF, REST, "MA0035"):
        for name, orientation in ((motif_id, "+"), (motif_id + " rc", "-")):
            row = best.loc[name]
            assert row["target_id"] == jaspar.ids[jaspar.index(motif_id)]
            assert (row["orientation"], row["offset"], row["overlap"]) == (orientation, 0, len(jaspar.ppm(motif_id)))
            mine = table[table["query"] == name]
            assert row["p_value"] == mine["p_value"].min() and (mine["p_value"].diff().dropna() >= 0).all()
            assert row["e_value"] == pytest.approx(row["p_value"] * len(jaspar))
    part = best.loc["CTCF 3-12"]
    assert (part["target_id"], part["orientation"], part["offset"], part["overlap"]) == ("MA0139.2", "+", 3, 9)


def test_match_motifs_q_values_are_bh_over_all_targets(jaspar):
    small = jaspar.subset([jaspar.ids[i] for i in range(40)])
    table = match_motifs({"q": jaspar.ppm(CTCF)}, small, top=40)
    ps = table.sort_values("rank")["p_value"].to_numpy()
    np.testing.assert_allclose(table.sort_values("rank")["q_value"], benjamini_hochberg(ps))
    assert match_motifs({}, small).columns.tolist() == MATCH_COLUMNS
    with pytest.raises(InputError, match=r"\(w, 4\)"):
        match_motifs({"bad": np.ones((3, 5))}, small)


# -- report ------------------------------------------------------------------------------------------------------


def _read_meme(path: Path) -> dict[str, np.ndarray]:
    """name -> (w, 4) of a MEME minimal file, checking the header and each matrix line."""
    lines = path.read_text().splitlines()
    assert lines[0] == "MEME version 4" and "ALPHABET= ACGT" in lines and "strands: + -" in lines
    motifs, i = {}, 0
    while i < len(lines):
        if lines[i].startswith("MOTIF "):
            name = lines[i].split()[1]
            header = lines[i + 1].split()
            assert header[:3] == ["letter-probability", "matrix:", "alength="]
            width = int(header[header.index("w=") + 1])
            motifs[name] = np.array([[float(v) for v in lines[i + 2 + r].split()] for r in range(width)])
            i += 2 + width
        else:
            i += 1
    return motifs


def test_report_folder_files_and_meme_round_trip(tmp_path, discovered, matched, jaspar):
    files = write_motif_report(discovered, matched, tmp_path / "report", jaspar=jaspar)
    out = tmp_path / "report"
    names = [m.name for m in discovered]
    expected = {"motifs.tsv", "matches.tsv", "motifs.meme", "report.html"} | {f"{n}.{s}" for n in names
                                                                            for s in ("png", "svg")}
    assert {f.name for f in files} == expected == {f.name for f in out.iterdir()}
    table = pd.read_csv(out / "motifs.tsv", sep="\t")
    assert list(table.columns) == MOTIF_COLUMNS and table["name"].tolist() == names
    assert table["width"].tolist() == [m.width for m in discovered]
    assert table["consensus"].tolist() == [m.consensus for m in discovered]
    assert table["sign"].tolist() == ["+" if m.sign > 0 else "-" for m in discovered]
    matches = pd.read_csv(out / "matches.tsv", sep="\t")
    assert len(matches) == 5 * len(discovered) and matches["target_id"].tolist() == matched["target_id"].tolist()
    parsed = _read_meme(out / "motifs.meme")
    assert list(parsed) == names
    for motif in discovered:
        np.testing.assert_allclose(parsed[motif.name], motif.ppm, atol=5e-7)
    from memelite.io import read_meme

    theirs = read_meme(str(out / "motifs.meme"))
    assert [key.split()[0] for key in theirs] == names
    np.testing.assert_allclose(next(iter(theirs.values())).T, discovered[0].ppm, atol=5e-7)
    page = (out / "report.html").read_text()
    assert all(f'<img src="{n}.png"' in page for n in names) and page.count("<tr>") == len(names) + 1


def test_meme_text_is_exact():
    motif = Motif(name="m", sign=1, n_seqlets=3, ppm=np.array([[1.0, 0, 0, 0], [0, 0.5, 0.5, 0]]), cwm=np.zeros((2, 4)))
    assert meme_text([motif]).split("\n")[6:] == [
        "Background letter frequencies", "A 0.2500 C 0.2500 G 0.2500 T 0.2500", "",
        "MOTIF m AC", "letter-probability matrix: alength= 4 w= 2 nsites= 3 E= 0",
        "1.000000 0.000000 0.000000 0.000000", "0.000000 0.500000 0.500000 0.000000", ""]


def test_information_heights():
    heights = information_heights(np.array([[1.0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0, 0]]))
    np.testing.assert_allclose(heights, [[2, 0, 0, 0], [0, 0, 0, 0], [0.5, 0.5, 0, 0]])


def test_motif_figure_aligns_the_match_and_passes_the_checks(discovered, matched, jaspar):
    fig = motif_figure(discovered[0], matched, jaspar)
    check_figure(fig)
    top, bottom = fig.axes
    assert top.get_xlim() == bottom.get_xlim()
    assert "CTCF" in bottom.get_title(loc="left") and bottom.get_ylabel() == "information (bits)"
    cwm = np.zeros((6, 4))
    cwm[np.arange(6), [0, 1, 2, 3, 0, 1]] = -0.5
    match = np.full((10, 4), 0.1)
    match[np.arange(10), np.arange(10) % 4] = 0.7
    fig = plot_motif(cwm, title="neg", match_ppm=match, match_offset=3, match_title="m")
    check_figure(fig)
    assert fig.axes[0].get_xlim() == pytest.approx((-2.5, 7.5))  # match columns 0..9 at positions -2..7
    check_figure(plot_motif(cwm, title="alone"))


# -- enrichment baseline ---------------------------------------------------------------------------------------


def test_sequences_hit_counts_only_windows_inside_one_sequence(jaspar):
    matrices = scan_matrices(jaspar.subset([CTCF]))
    site = consensus(jaspar.ppm(CTCF))
    seqs = ["AAAA" + site[:8], site[8:] + "AAAA", site, "NNNN" + _rc(site) + "NN", "ACGT" * 10]
    np.testing.assert_array_equal(sequences_hit(seqs, matrices), [[False, False, True, True, False]])


def test_enrichment_ranks_the_planted_motif_first(planted, jaspar):
    _, _, seqs = planted
    rng = np.random.default_rng(1)
    background = ["".join("ACGT"[b] for b in row) for row in rng.integers(0, 4, (200, LENGTH))]
    table = enrichment_baseline(seqs[0::2], background, jaspar)
    assert list(table.columns) == ENRICHMENT_COLUMNS and len(table) == len(jaspar)
    first = table.iloc[0]
    assert first["motif_id"] == "MA0139.2" and first["positives"] == 200 and first["background"] == 200
    assert first["positives_fraction"] > 0.8 and first["background_fraction"] < 0.05
    assert first["p_value"] < 1e-40 and first["odds_ratio"] > 50
    assert (table["p_value"].diff().dropna() >= 0).all()


# -- CLI --------------------------------------------------------------------------------------------------------


def test_cli_discover_writes_the_report(tmp_path, planted):
    onehot, hypothetical, _ = planted
    folder = tmp_path / "attr"
    folder.mkdir()
    _write_npz(folder / "attributions.npz", onehot, hypothetical)
    out = tmp_path / "motifs"
    result = json.loads(cli_ok("motifs", "discover", "--attributions", folder, "--out", out, "--window", 15,
                               "--flank", 5, "--leiden-runs", 4, "--top", 3, "--quiet"))
    best = {m["name"]: m["best_match"] for m in result["motifs"]}
    assert best["pos_pattern_0"] == "MA0139.2" and best["neg_pattern_0"] == "MA0138.3"
    assert {"motifs.tsv", "matches.tsv", "motifs.meme", "report.html", "pos_pattern_0.png",
            "neg_pattern_0.svg"} <= {f.name for f in out.iterdir()}
    assert len(pd.read_csv(out / "matches.tsv", sep="\t")) == 3 * len(result["motifs"])


def test_cli_enrichment_writes_the_table(tmp_path, planted):
    _, _, seqs = planted
    rng = np.random.default_rng(2)
    (tmp_path / "pos.fa").write_text("".join(f">p{i}\n{s}\n" for i, s in enumerate(seqs[0::2][:100])))
    (tmp_path / "bg.fa").write_text("".join(f">b{i}\n{''.join('ACGT'[b] for b in row)}\n"
                                            for i, row in enumerate(rng.integers(0, 4, (100, LENGTH)))))
    result = json.loads(cli_ok("motifs", "enrichment", "--positives", tmp_path / "pos.fa", "--background",
                               tmp_path / "bg.fa", "--out", tmp_path / "enrichment.tsv"))
    assert result["top"]["motif_id"] == "MA0139.2" and result["positives"] == 100
    assert pd.read_csv(tmp_path / "enrichment.tsv", sep="\t")["motif_id"].iloc[0] == "MA0139.2"


def _bad_npz(tmp: Path, how: str) -> Path:
    rng = np.random.default_rng(3)
    onehot = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (60, 50))]
    noise = rng.normal(0, 0.01, onehot.shape).astype(np.float32)
    if how == "missing":
        return _write_npz(tmp / "a.npz", onehot, noise, {"hypothetical": None})
    if how == "shapes":
        return _write_npz(tmp / "a.npz", onehot, noise, {"hypothetical": noise[:, :40]})
    if how == "zero":
        return _write_npz(tmp / "a.npz", onehot, np.zeros_like(noise))
    return _write_npz(tmp / "a.npz", onehot, noise)  # "none found": 60 noise sequences give no metacluster


@pytest.mark.parametrize("how, message", [("missing", "missing array(s) hypothetical"),
                                          ("shapes", "must agree"), ("zero", "all zero"),
                                          ("none found", "no motifs found")])
def test_cli_discover_refuses_bad_attributions_in_one_line(tmp_path, how, message):
    path = _bad_npz(tmp_path, how)
    line = cli_error("motifs", "discover", "--attributions", path, "--out", tmp_path / "out", "--window", 11,
                     "--flank", 5, "--leiden-runs", 2, *(["--quiet"] if how == "none found" else []))
    assert message in line
    assert not (tmp_path / "out").exists()


def test_cli_refuses_bad_fasta_and_options_in_one_line(tmp_path):
    (tmp_path / "empty.fa").write_text("")
    (tmp_path / "ok.fa").write_text(">a\nACGTACGTACGT\n")
    line = cli_error("motifs", "enrichment", "--positives", tmp_path / "empty.fa", "--background",
                     tmp_path / "ok.fa", "--out", tmp_path / "e.tsv")
    assert "empty" in line and not (tmp_path / "e.tsv").exists()
    line = cli_error("motifs", "enrichment", "--positives", tmp_path / "ok.fa", "--background", tmp_path / "ok.fa",
                     "--out", tmp_path / "e.tsv", "--jaspar-tax-group", "birds")
    assert "--jaspar-tax-group" in line
    line = cli_error("motifs", "discover", "--attributions", tmp_path / "nothing", "--out", tmp_path / "o")
    assert "no such file" in line


def test_load_attributions_reads_a_folder_or_the_file(tmp_path, planted):
    onehot, hypothetical, _ = planted
    path = _write_npz(tmp_path / "attributions.npz", onehot[:3], hypothetical[:3])
    for where in (tmp_path, path):
        data = load_attributions(where)
        assert data.onehot.shape == (3, LENGTH, 4) and data.target == "promoter" and data.method == "synthetic"
        assert data.names.tolist() == ["seq0", "seq1", "seq2"]
