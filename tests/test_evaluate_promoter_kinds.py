"""Promoter windows against each kind of background (seqformer.evaluation.windows.metrics_by_background and
`seqformer evaluate promoter`'s by_background): kinds from the names' bg-KIND: prefix, AUROC/AUPRC as sklearn."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import cli_ok
from sklearn.metrics import average_precision_score, roc_auc_score
from test_scan_eval import promoter_folder
from variants_helpers import tiny_classifier

from seqformer.evaluation.windows import (PromoterEvaluation, WindowEvaluation, background_kind, binary_metrics,
                                          metrics_by_background)

NAMES = ["TSS_1", "TSS_2", "TSS_3", "bg-random:c:1-300", "bg-random:c:301-600", "bg-gc:c:601-900",
         "bg-gc:c:901-1200", "c:1201-1500", "bg-flank-x:c:1-2", "bg-:odd"]
LABELS = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
MODEL = np.array([0.9, 0.8, 0.3, 0.1, 0.2, 0.85, 0.7, 0.95, 0.5, 0.05])
BASELINE = np.array([0.6, 0.5, 0.4, 0.45, 0.3, 0.2, 0.1, 0.35, 0.7, 0.5])


def test_background_kind_is_the_name_prefix():
    assert [background_kind(n) for n in NAMES] == ["unlabelled"] * 3 + ["random", "random", "gc", "gc",
                                                                           "unlabelled", "flank-x", "unlabelled"]


def test_by_background_is_sklearn_on_the_positives_and_one_kind_of_negatives():
    result = metrics_by_background(LABELS, {"model": MODEL, "baseline": BASELINE}, NAMES)
    assert list(result) == ["random", "gc", "flank-x", "unlabelled"]  # known kinds first, absent ones absent
    members = {"random": [3, 4], "gc": [5, 6], "flank-x": [8], "unlabelled": [7, 9]}
    for kind, negatives in members.items():
        keep = [0, 1, 2, *negatives]
        assert (result[kind]["positive"], result[kind]["negative"]) == (3, len(negatives))
        for name, scores in (("model", MODEL), ("baseline", BASELINE)):
            assert result[kind]["metrics"][name] == {
                "auroc": pytest.approx(roc_auc_score(LABELS[keep], scores[keep])),
                "auprc": pytest.approx(average_precision_score(LABELS[keep], scores[keep]))}
    # by hand: every positive (0.9, 0.8, 0.3) above both random windows (0.1, 0.2)
    assert result["random"]["metrics"]["model"]["auroc"] == 1.0
    assert result["gc"]["metrics"]["model"]["auroc"] == pytest.approx(3 / 6)  # 0.9 > both, 0.8 > 0.7 only


def test_names_without_a_prefix_are_one_unlabelled_kind_equal_to_the_whole_set():
    result = metrics_by_background(LABELS, {"model": MODEL}, [f"c:{i}" for i in range(len(LABELS))])
    assert list(result) == ["unlabelled"]
    assert result["unlabelled"]["metrics"]["model"]["auroc"] == pytest.approx(roc_auc_score(LABELS, MODEL))
    assert metrics_by_background(np.zeros(3), {"model": np.ones(3)}, ["a", "b", "c"]) == {}


def test_promoter_evaluation_carries_by_background_into_metrics_json():
    metrics, curves = {}, {}
    for name, scores in (("model", MODEL), ("baseline", BASELINE)):
        metrics[name], curves[name] = binary_metrics(LABELS, scores)
    kinds = metrics_by_background(LABELS, {"model": MODEL, "baseline": BASELINE}, NAMES)
    windows = WindowEvaluation(("promoter",), {"promoter": metrics}, {"promoter": curves},
                               {"promoter": {"positive": 3, "negative": 7}}, {"k": 4, "C": {"promoter": 1.0}},
                               "data", "model", "both", {"promoter": kinds})
    out = PromoterEvaluation.from_windows(windows).to_dict()
    assert out["by_background"]["gc"] == {"counts": {"promoter": 3, "background": 2},
                                          "metrics": kinds["gc"]["metrics"]}
    assert list(out["by_background"]) == ["random", "gc", "flank-x", "unlabelled"]
    old = WindowEvaluation(("promoter",), {"promoter": metrics}, {"promoter": curves},
                           {"promoter": {"positive": 3, "negative": 7}}, {"k": 4, "C": {"promoter": 1.0}}, "d", "m")
    assert PromoterEvaluation.from_windows(old).to_dict()["by_background"] == {}


def test_evaluate_promoter_reports_each_background_kind(tmp_path, data_dir):
    test_names = ["TSS_a", "TSS_b", "TSS_c", "bg-random:r1", "bg-random:r2", "bg-gc:g1", "bg-gc:g2", "bg-gc:g3",
                  "plain"]
    data = promoter_folder(tmp_path / "data", data_dir, test_names)
    tiny_classifier(window=100).save_pretrained(tmp_path / "model")
    out = tmp_path / "report"
    result = json.loads(cli_ok("evaluate", "promoter", "--data", data, "--model", tmp_path / "model", "--out", out,
                               "--json", "--device", "cpu"))
    assert json.loads((out / "metrics.json").read_text()) == result
    kinds = result["by_background"]
    assert list(kinds) == ["random", "gc", "unlabelled"]  # no flank windows: no flank entry
    assert [kinds[k]["counts"] for k in kinds] == [{"promoter": 3, "background": n} for n in (2, 3, 1)]
    for entry in kinds.values():
        assert sorted(entry["metrics"]) == ["4-mer logistic regression", "model"]
        for scores in entry["metrics"].values():
            assert sorted(scores) == ["auprc", "auroc"] and 0 <= scores["auroc"] <= 1
    table = cli_ok("evaluate", "promoter", "--data", data, "--model", tmp_path / "model", "--device", "cpu")
    assert "random genome" in table and "GC-matched" in table and "unlabelled" in table and "TSS flanks" not in table


def test_windows_at_islands_overlap_and_contig_checks():
    import pandas as pd

    from seqformer.errors import InputError
    from seqformer.evaluation.islands import windows_at_islands

    rows = pd.DataFrame({"chrom": ["c", "c", "c", ".", "d"], "start": [0, 100, 300, 0, 0],
                         "end": [100, 200, 400, 50, 100]})
    islands = pd.DataFrame({"chrom": ["c", "c", "e"], "start": [99, 400, 0], "end": [101, 500, 100]})
    # [99, 101) overlaps the first two windows; [400, 500) only touches [300, 400); no island on d
    assert windows_at_islands(rows, islands).tolist() == [True, True, False, False, False]
    with pytest.raises(InputError, match="contig 'c' not in cgi.bed"):
        windows_at_islands(rows.iloc[:3], islands.assign(chrom="chr1"), "cgi.bed")
    with pytest.raises(InputError, match="has no interval"):
        windows_at_islands(rows, islands.iloc[:0])


def test_evaluate_promoter_splits_promoters_by_island(tmp_path, data_dir):
    from helpers import cli_error

    test_names = ["TSS_a", "TSS_b", "TSS_c", "bg-random:r1", "bg-random:r2", "bg-gc:g1", "bg-gc:g2"]
    data = promoter_folder(tmp_path / "data", data_dir, test_names)
    tiny_classifier(window=100).save_pretrained(tmp_path / "model")
    # test windows start at 150 + 400 i: islands overlap TSS_a [150, 250), TSS_c [950, 1050) and r1 [1350, 1450)
    (tmp_path / "cgi.bed").write_text("chr20\t200\t210\nchr20\t1000\t1001\nchr20\t1400\t1500\n")
    result = json.loads(cli_ok("evaluate", "promoter", "--data", data, "--model", tmp_path / "model", "--json",
                               "--device", "cpu", "--cpg-islands", tmp_path / "cgi.bed"))
    split = result["by_cpg_island"]
    assert list(split) == ["at_islands", "elsewhere"]
    assert [split[s][k]["counts"] for s in split for k in ("random", "gc")] == [
        {"promoter": 2, "background": 2}] * 2 + [{"promoter": 1, "background": 2}] * 2
    # a background's AUROC is the mean over promoters, so the strata average back to the whole, weighted 2:1
    for kind in ("random", "gc"):
        for name, whole in result["by_background"][kind]["metrics"].items():
            parts = [split[s][kind]["metrics"][name]["auroc"] for s in ("at_islands", "elsewhere")]
            assert whole["auroc"] == pytest.approx((2 * parts[0] + parts[1]) / 3)
    table = cli_ok("evaluate", "promoter", "--data", data, "--model", tmp_path / "model", "--device", "cpu",
                   "--cpg-islands", tmp_path / "cgi.bed")
    assert "overlapping a CpG island" in table and "at islands" in table and "elsewhere" in table
    without = json.loads(cli_ok("evaluate", "promoter", "--data", data, "--model", tmp_path / "model", "--json",
                                "--device", "cpu"))
    assert "by_cpg_island" not in without and without["by_background"] == result["by_background"]
    (tmp_path / "cgi20.bed").write_text("20\t200\t210\n")
    line = cli_error("evaluate", "promoter", "--data", data, "--model", tmp_path / "model", "--device", "cpu",
                     "--cpg-islands", tmp_path / "cgi20.bed", "--out", tmp_path / "report")
    assert "contig 'chr20' not in cgi20.bed" in line and not (tmp_path / "report").exists()
