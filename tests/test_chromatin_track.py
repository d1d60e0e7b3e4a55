"""Chromatin peak tracks: per-base targets from peak files on pre-cut records (merged, split, cut into pieces),
training draws, batches of pieces, window scores as the max over the central bin, and ``finetune
chromatin-track`` / ``evaluate chromatin`` with a track model end to end, with their errors."""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import cli_error, cli_ok

from seqformer.data.peak_track import (
    Piece,
    PieceSampler,
    Stretch,
    cut_pieces,
    merge_stretches,
    read_peak_track_data,
    token_positive_weights,
)
from seqformer.data.peaks import PeakCoverage, peak_targets
from seqformer.data.windows import load_window_splits, read_window_data
from seqformer.errors import InputError
from seqformer.evaluation.peak_track import bin_max
from seqformer.io import reverse_complement
from seqformer.models import load_model
from seqformer.models.token_classifier import TokenClassifier
from seqformer.predict.base_tracks import base_tracks
from seqformer.tasks.track import encode_tiles
from seqformer.tokenizers import KmerTokenizer

rng = random.Random(19)
CHR2L = "".join(rng.choice("ACGT") for _ in range(1200))
CHRX = "".join(rng.choice("ACGT") for _ in range(200))
CHRU = "".join(rng.choice("ACGT") for _ in range(200))
#: Biostrings-style records (1-based inclusive headers; _r: reverse complement of the interval)
RECORDS = [("a_up_f chr2L:1-200", CHR2L[0:200]),
           ("b_up_r chr2L:151-350", reverse_complement(CHR2L[150:350])),  # overlaps a
           ("c_up_f chr2L:351-550", CHR2L[350:550]),  # touches b: one segment [0, 550)
           ("d_up_r chr2L:601-800", reverse_complement(CHR2L[600:800])),
           ("e_up_f chr2L:801-1000", CHR2L[800:1000]),
           ("f_up_f chr2L:1001-1200", CHR2L[1000:1200]),  # d, e, f: one segment [600, 1200)
           ("x_up_f chrX:1-200", CHRX),  # held out
           ("u_up_f chrU:1-200", CHRU)]  # no peak in any file: unassayed
#: BED, 0-based half-open; A's first three peaks overlap or touch: one merged peak [10, 22)
PEAKS = {"A": [(10, 15), (13, 20), (20, 22), (300, 340), (450, 470), (640, 650), (930, 960), (1050, 1080),
               (1150, 1160)],
         "B": [(60, 70), (240, 245), (500, 510), (680, 690), (1095, 1100)]}
TINY = ["--hidden", "16", "--layers", "1", "--heads", "2", "--batch-size", "4", "--tile", "120", "--device", "cpu",
        "--quiet"]


def brute_targets(chrom: str, start: int, end: int) -> np.ndarray:
    """(N, 2) 1 where a base of [start, end) lies in a peak of A / B (the peaks as written, unmerged)."""
    if chrom != "chr2L":
        return np.zeros((end - start, 2), np.float32)
    return np.array([[float(any(s <= x < e for s, e in PEAKS[t])) for t in ("A", "B")] for x in range(start, end)],
                    np.float32).reshape(-1, 2)


@pytest.fixture(scope="module")
def chromatin(tmp_path_factory):
    """The pre-cut FASTA, the two peak files and their chromatin data folder (window 100, bin 20, stride 50)."""
    root = tmp_path_factory.mktemp("chromatin_track")
    (root / "up.fa").write_text("".join(f">{h}\n{s}\n" for h, s in RECORDS))
    for name, peaks in PEAKS.items():
        rows = [("chr2L", s, e) for s, e in peaks] + ([("chrX", 5, 50)] if name == "A" else [])
        (root / f"{name}.bed").write_text("".join(f"{c}\t{s}\t{e}\n" for c, s, e in rows))
    cli_ok("data", "chromatin", "--fasta", root / "up.fa", "--peaks", root / "A.bed", root / "B.bed",
           "--out", root / "data", "--window", "100", "--bin", "20", "--stride", "50", "--holdout-chrom", "chrX",
           "--val-region", "chr2L:401-700", "--test-region", "chr2L:901-1200")
    return root


# --- 1. per-base targets ---------------------------------------------------------------------------
def test_peak_targets_by_hand():
    peaks = pd.DataFrame({"chrom": ["c"] * 5 + ["d"], "start": [13, 10, 20, 30, 40, 0],
                          "end": [20, 15, 22, 31, 41, 5]})  # [10, 22) merged from three; 30 and 40 one base each
    coverage = PeakCoverage(peaks)
    #            bases 8..32 of c: 8 9 | 10..21 | 22..29 | 30 | 31 32
    expected = "00" + "1" * 12 + "0" * 8 + "1" + "00"
    assert "".join(str(int(b)) for b in coverage.mask("c", 8, 33)) == expected
    assert coverage.mask("c", 22, 30).sum() == 0 and coverage.mask("c", 21, 22).tolist() == [True]  # half-open
    assert coverage.mask("c", 41, 60).sum() == 0 and coverage.mask("e", 0, 9).sum() == 0
    other = PeakCoverage(peaks.iloc[[3]])
    both = peak_targets([coverage, other], "c", 8, 33)
    assert both.shape == (25, 2) and both.dtype == np.float32
    assert "".join(str(int(b)) for b in both[:, 0]) == expected and both[:, 1].tolist() == [0.0] * 22 + [1, 0, 0]
    np.testing.assert_array_equal(peak_targets([coverage, other], "c", 8, 33, "-"), both[::-1])
    with pytest.raises(ValueError, match="strand"):
        peak_targets([coverage], "c", 0, 5, ".")


def test_merge_stretches_and_cut_pieces():
    stretches = [Stretch("c", 10, "ACGTA"), Stretch("c", 0, "TTTTTTTTTT"), Stretch("c", 12, "GTAC"),
                 Stretch("c", 30, "AA"), Stretch("b", 0, "C")]
    merged = merge_stretches(stretches)
    assert [(s.chrom, s.start, s.end, s.seq) for s in merged] == [("b", 0, 1, "C"), ("c", 0, 16, "TTTTTTTTTTACGTAC"),
                                                                   ("c", 30, 32, "AA")]
    assert cut_pieces(0, 400, 120, 4) == [(0, 100), (100, 200), (200, 300), (300, 400)]
    assert cut_pieces(400, 550, 120, 4) == [(400, 476), (476, 550)]  # 19 tokens, then 18.5
    assert cut_pieces(5, 125, 120, 4) == [(5, 125)] and cut_pieces(0, 121, 120, 4) == [(0, 64), (64, 121)]
    with pytest.raises(ValueError, match="multiple"):
        cut_pieces(0, 10, 6, 4)


def test_pieces_of_a_data_folder(chromatin):
    data = read_window_data(chromatin / "data")
    track = read_peak_track_data(data, tile=120, k=4)
    assert track.targets == ("A", "B")
    where = {split: [(p.start, p.end) for p in pieces] for split, pieces in track.pieces.items()}
    # segments [0, 550) and [600, 1200) (chrX held out, chrU unassayed), cut at 400, 700 and 900, then in pieces
    assert where == {"train": [(0, 100), (100, 200), (200, 300), (300, 400), (700, 800), (800, 900)],
                     "val": [(400, 476), (476, 550), (600, 700)],
                     "test": [(900, 1000), (1000, 1100), (1100, 1200)]}
    assert track.counts["dropped"] == {"holdout_contigs": 1, "unassayed_contigs": 1, "only_n": 0}
    assert track.counts["segments"] == 2 and track.counts["test"] == {"pieces": 3, "bases": 300}
    for pieces in track.pieces.values():
        for p in pieces:
            assert p.chrom == "chr2L" and p.seq == CHR2L[p.start:p.end]  # minus records read back forward
            np.testing.assert_array_equal(track.targets_of(p), brute_targets(p.chrom, p.start, p.end))
            np.testing.assert_array_equal(track.targets_of(p, "-"), brute_targets(p.chrom, p.start, p.end)[::-1])
    assert track.positive_bases("val") == {"A": 30, "B": 20}
    assert track.positive_bases("train") == {"A": 12 + 40, "B": 10 + 5}
    # a track model's windows are the folder's: every test window's bin lies in the test pieces
    test = load_window_splits(data, ["test"])["test"].rows
    assert bin_max(track.pieces["test"], [np.zeros((len(p), 2)) for p in track.pieces["test"]], test["chrom"],
                   test["start"].to_numpy() + 40, test["start"].to_numpy() + 60).shape == (len(test), 2)


def test_pieces_of_a_genome_mode_folder(tmp_path):
    """``data chromatin --region``: the regions are the segments (overlapping ones merged)."""
    (tmp_path / "g.fa").write_text(f">chr2L\n{CHR2L}\n")
    (tmp_path / "A.bed").write_text("".join(f"chr2L\t{s}\t{e}\n" for s, e in PEAKS["A"]))
    cli_ok("data", "chromatin", "--fasta", tmp_path / "g.fa", "--peaks", tmp_path / "A.bed", "--out", tmp_path / "d",
           "--region", "chr2L:1-500", "--region", "chr2L:401-1000", "--window", "100", "--bin", "20", "--stride",
           "50", "--val-region", "chr2L:601-800", "--test-region", "chr2L:801-1000")
    track = read_peak_track_data(read_window_data(tmp_path / "d"), tile=400, k=4)
    where = {split: [(p.start, p.end) for p in pieces] for split, pieces in track.pieces.items()}
    assert where == {"train": [(0, 300), (300, 600)], "val": [(600, 800)], "test": [(800, 1000)]}
    assert all(p.seq == CHR2L[p.start:p.end] for pieces in track.pieces.values() for p in pieces)


# --- 2. draws and batches --------------------------------------------------------------------------
def test_piece_sampler_epochs_strands_and_weights(chromatin):
    track = read_peak_track_data(read_window_data(chromatin / "data"), tile=120, k=4)
    pieces = track.pieces["train"]  # 6 pieces, batches of 4: an epoch is 8 draws (2 refills)
    sampler = PieceSampler(track, pieces, 4, seed=3)
    assert sampler.tiles_per_epoch == 8
    drawn = [sampler.draw(i) for i in range(16)]
    for epoch in (0, 1):
        starts = [d[2][1] for d in drawn[8 * epoch:8 * epoch + 8]]
        assert sorted(set(starts)) == sorted(p.start for p in pieces)  # every piece in every epoch
    again = PieceSampler(track, pieces, 4, seed=3)
    for i in (9, 0, 15):  # a pure function of (seed, index)
        assert again.draw(i)[0] == drawn[i][0] and again.draw(i)[2] == drawn[i][2]
    assert {d[2][3] for d in drawn} == {"+", "-"}
    by_start = {p.start: p for p in pieces}
    for seq, targets, (chrom, start, end, strand) in drawn:
        piece = by_start[start]
        assert seq == (reverse_complement(piece.seq) if strand == "-" else piece.seq)
        np.testing.assert_array_equal(targets, brute_targets(chrom, start, end)[::-1 if strand == "-" else 1])
    assert {d[2][3] for d in (PieceSampler(track, pieces, 4, rc_augment=False).draw(i) for i in range(8))} == {"+"}
    # positive weights: n_negative / n_positive training tokens (4-mers; a token is positive if a base is)
    tokens = np.concatenate([brute_targets("chr2L", p.start, p.end).reshape(-1, 4, 2).max(axis=1) for p in pieces])
    expected = (len(tokens) - tokens.sum(axis=0)) / tokens.sum(axis=0)
    np.testing.assert_allclose(token_positive_weights(track, pieces, 4), expected)


def test_encode_tiles_of_several_lengths_and_targets():
    tokenizer = KmerTokenizer(2, 2)  # [CLS] 2-mers (a partial last one for odd lengths) [SEP] [PAD]...
    a = np.array([[0, 1], [1, 0], [0, 0], [0, 0], [0, 1]], np.float32)  # 5 bases -> 3 tokens
    b = np.array([[0, 0], [1, 1]], np.float32)  # 2 bases -> 1 token
    batch = encode_tiles(tokenizer, ["ACGTA", "AC"], [a, b])
    assert batch.labels.shape == (2, 5, 2)
    assert batch.labels[0].tolist() == [[0, 0], [1, 1], [0, 0], [0, 1], [0, 0]]
    assert batch.labels[1].tolist() == [[0, 0], [1, 1], [0, 0], [0, 0], [0, 0]]
    assert batch.token_mask.tolist() == [[False, True, True, True, False], [False, True, False, False, False]]
    assert batch.attention_mask.tolist() == [[True] * 5, [True, True, True, False, False]]
    one = encode_tiles(tokenizer, ["ACGT"], [np.array([0, 0, 1, 0], np.float32)])  # (N,) targets: T = 1
    assert one.labels[..., 0].tolist() == [[0, 0, 1, 0]]


# --- 3. tracks and window scores -------------------------------------------------------------------
def test_bin_max_by_hand():
    pieces = [Piece("c", 10, 14, "test", "ACGT"), Piece("c", 14, 20, "test", "ACGTAC"), Piece("d", 0, 3, "test", "AAA")]
    tracks = [np.array([[1, 9], [2, 8], [3, 7], [4, 6]], np.float32),
              np.array([[0, 5], [9, 0], [0, 0], [0, 0], [0, 0], [5, 1]], np.float32),
              np.array([[7, 7], [0, 0], [1, 1]], np.float32)]
    chroms = ["c", "c", "c", "d", "c"]
    lo, hi = np.array([10, 12, 16, 1, 19]), np.array([12, 16, 19, 3, 20])
    expected = [[2, 9], [9, 7], [0, 0], [1, 1], [5, 1]]  # [12, 16) spans two pieces
    np.testing.assert_array_equal(bin_max(pieces, tracks, chroms, lo, hi), expected)
    for bad in ((["c"], [18], [21]), (["c"], [8], [11]), (["e"], [0], [1])):
        with pytest.raises(InputError, match="do not lie in the data folder's test sequence"):
            bin_max(pieces, tracks, bad[0], np.array(bad[1]), np.array(bad[2]))


def test_base_tracks_average_the_strands_base_by_base(track_model):
    model = track_model
    seqs = ["ACGTTGCAAG", "TTGACCA"]  # 10 and 7 bases: the strands' 4-mers do not line up for 7
    both = base_tracks(model, seqs, strands="both", batch_size=1)
    forward = base_tracks(model, seqs, strands="forward")
    with torch.no_grad():
        for seq, b, f in zip(seqs, both, forward):
            per_base = []
            for s in (seq, reverse_complement(seq)):
                enc = model.tokenizer.batch_encode([s])
                probs = torch.sigmoid(model(enc.input_ids, enc.attention_mask).logits[0, 1:-1]).numpy()  # (n, T)
                per_base.append(np.repeat(probs, 4, axis=0)[:len(s)])
            np.testing.assert_allclose(f, per_base[0], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(b, (per_base[0] + per_base[1][::-1]) / 2, rtol=1e-5, atol=1e-6)
            assert b.shape == (len(seq), 2) and b.dtype == np.float32


# --- 4. fine-tuning and evaluation through the CLI -------------------------------------------------
@pytest.fixture(scope="module")
def trained(chromatin):
    model_dir = chromatin / "model"
    printed = cli_ok("finetune", "chromatin-track", "--data", chromatin / "data", "--out", model_dir,
                     "--max-steps", "3", *TINY)
    return model_dir, printed


@pytest.fixture(scope="module")
def track_model(trained):
    return load_model(trained[0], expect=TokenClassifier).eval()


def test_finetune_chromatin_track_cli(trained):
    model_dir, printed = trained
    assert "best epoch" in printed and "of 3)" in printed and "val_auprc" in printed
    assert sorted(p.name for p in model_dir.iterdir()) == ["config.json", "finetune.json", "finetune.yaml",
                                                           "metrics.csv", "model.safetensors", "tokenizer.json"]
    model = load_model(model_dir, expect=TokenClassifier)
    assert model.config.labels == ("A", "B") and model.config.tile == 120 and model.config.k == 4
    assert model.tokenizer.stride == 4 and model.config.encoder.hidden_size == 16
    record = json.loads((model_dir / "finetune.json").read_text())
    assert record["task"] == "chromatin-track" and record["steps"] == 3 and record["steps_per_epoch"] == 2
    assert record["pieces"]["train"] == {"pieces": 6, "bases": 600} and record["pieces"]["val"]["pieces"] == 3
    assert record["config"]["finetune"]["pos_weight"] and set(record["pos_weight"]) == {"A", "B"}
    assert sorted(record["validation"]) == ["val_auprc", "val_auroc", "val_loss"]


def test_evaluate_chromatin_with_a_track_model(chromatin, trained, track_model, tmp_path):
    from sklearn.metrics import average_precision_score, roc_auc_score

    model_dir, _ = trained
    eval_dir = tmp_path / "eval"
    result = json.loads(cli_ok("evaluate", "chromatin", "--data", chromatin / "data", "--model", model_dir,
                               "--out", eval_dir, "--json", "--device", "cpu", "--baseline-k", "2"))
    assert sorted(p.name for p in eval_dir.iterdir()) == ["auprc.png", "auprc.svg", "auroc.png", "auroc.svg",
                                                          "metrics.json", "metrics.tsv", "per_base.tsv"]
    assert result["strands"] == "both" and sorted(result["metrics"]["A"]) == ["2-mer logistic regression", "model"]
    # by hand: the track of the whole test range (both strands averaged), each window's max over its central bin
    test = load_window_splits(chromatin / "data", ["test"])["test"]
    full = np.full((1200, 2), np.nan)
    for start, end in ((900, 1000), (1000, 1100), (1100, 1200)):
        full[start:end] = base_tracks(track_model, [CHR2L[start:end]])[0]
    scores = np.array([full[s + 40:s + 60].max(axis=0) for s in test.rows["start"]])
    assert not np.isnan(scores).any() and len(scores) == 4
    for t, target in enumerate(("A", "B")):
        assert result["metrics"][target]["model"]["auroc"] == pytest.approx(
            roc_auc_score(test.labels[:, t], scores[:, t]), abs=1e-9)
        truth = brute_targets("chr2L", 900, 1200)[:, t]
        assert result["per_base"][target]["positive"] == truth.sum() and result["per_base"][target]["bases"] == 300
        assert result["per_base"][target]["auprc"] == pytest.approx(
            average_precision_score(truth, full[900:1200, t]), rel=1e-5)
    table = pd.read_csv(eval_dir / "per_base.tsv", sep="\t")
    assert table["target"].tolist() == ["A", "B"] and list(table.columns) == ["target", "positive", "bases", "auroc",
                                                                             "auprc"]
    forward = json.loads(cli_ok("evaluate", "chromatin", "--data", chromatin / "data", "--model", model_dir,
                                "--json", "--device", "cpu", "--baseline-k", "2", "--strands", "forward"))
    assert forward["strands"] == "forward" and forward["per_base"] != result["per_base"]
    printed = cli_ok("evaluate", "chromatin", "--data", chromatin / "data", "--model", model_dir, "--device", "cpu",
                     "--baseline-k", "2")
    assert "per base: 300 test bases" in printed and "positive bases" in printed


# --- 5. bad input -------------------------------------------------------------------------------------
def test_chromatin_track_errors(chromatin, trained, tmp_path):
    from conftest import DATA

    promoter = tmp_path / "promoter"
    cli_ok("data", "promoters", "--genome", DATA / "promoters" / "genome.fa", "--tss", DATA / "promoters" / "tss.bed",
           "--out", promoter, "--region", "chr20:1-6000", "--val-region", "chr20:2001-4000", "--test-region",
           "chr20:4001-6000", "--min-distance", "300", "--negatives-per-positive", "2")
    base = ["finetune", "chromatin-track", "--max-steps", "1", *TINY]
    line = cli_error(*base, "--data", promoter, "--out", tmp_path / "m1")
    assert "chromatin-track reads a chromatin data folder (seqformer data chromatin); this one was made for " \
           "'promoter'" in line

    # a folder whose peak file is gone: one line, exit 2, for training and for evaluation
    root = tmp_path / "moved"
    root.mkdir()
    for name in ("up.fa", "A.bed", "B.bed"):
        shutil.copy(chromatin / name, root / name)
    cli_ok("data", "chromatin", "--fasta", root / "up.fa", "--peaks", root / "A.bed", root / "B.bed",
           "--out", root / "data", "--window", "100", "--bin", "20", "--stride", "50", "--holdout-chrom", "chrX",
           "--val-region", "chr2L:401-700", "--test-region", "chr2L:901-1200")
    (root / "B.bed").unlink()
    line = cli_error(*base, "--data", root / "data", "--out", tmp_path / "m2")
    assert "the peak file of target 'B' is missing" in line and "B.bed" in line
    line = cli_error("evaluate", "chromatin", "--data", root / "data", "--model", trained[0], "--out",
                     tmp_path / "eval", "--device", "cpu")
    assert "the peak file of target 'B' is missing" in line
    line = cli_error(*base, "--data", chromatin / "data", "--out", tmp_path / "m3", "--context", "8")
    assert "--context apply to promoter-track only" in line
    line = cli_error(*base[:-5], "--data", chromatin / "data", "--out", tmp_path / "m4", "--tile", "122",
                     "--device", "cpu", "--quiet")
    assert "finetune.tile (122) must be a multiple of the model's k-mer length 4" in line
    assert not any((tmp_path / name).exists() for name in ("m1", "m2", "m3", "m4", "eval"))
