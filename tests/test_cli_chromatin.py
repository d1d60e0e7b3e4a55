"""Chromatin and TF-binding end to end through the CLI: data → finetune → evaluate → predict sequences."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score
from helpers import cli_error, cli_ok

from seqformer.data.shuffle import dinucleotide_counts
from seqformer.data.windows import load_window_splits, read_window_data
from seqformer.io import reverse_complement
from seqformer.models import EncoderConfig
from seqformer.models.classifier import ClassifierConfig, SequenceClassifier
from seqformer.predict.scorer import classifier_probs
from seqformer.predict.windows import fit_to_window
from seqformer.tasks.classification import ClassifierLoss, LabelledBatch, positive_weights

TINY = ["--hidden", "16", "--layers", "1", "--heads", "2", "--batch-size", "8", "--device", "cpu", "--quiet"]
rng = random.Random(11)
GENOME = "".join(rng.choice("ACGT") for _ in range(4000))


@pytest.fixture(scope="module")
def chromatin_data(tmp_path_factory):
    """A 4 kb genome, two peak files with peaks in every split, and its chromatin data folder."""
    root = tmp_path_factory.mktemp("chromatin")
    (root / "g.fa").write_text(f">chr1\n{GENOME}\n")
    a = [(s, s + 30) for s in range(40, 4000, 260)]
    b = [(s, s + 20) for s in range(140, 4000, 410)]
    (root / "CTCF.bed").write_text("".join(f"chr1\t{s}\t{e}\n" for s, e in a))
    (root / "BEAF.bed").write_text("".join(f"chr1\t{s}\t{e}\n" for s, e in b))
    cli_ok("data", "chromatin", "--fasta", root / "g.fa", "--peaks", root / "CTCF.bed", root / "BEAF.bed",
           "--out", root / "data", "--region", "chr1", "--window", "100", "--bin", "20", "--stride", "25",
           "--val-region", "chr1:2001-3000", "--test-region", "chr1:3001-4000")
    return root


def test_data_chromatin_cli(chromatin_data):
    data = read_window_data(chromatin_data / "data")
    assert data.targets == ("CTCF", "BEAF") and data.meta["task"] == "chromatin"
    table = data.table
    assert table["start"].tolist()[:3] == [0, 25, 50] and (table["end"] - table["start"] == 100).all()
    bins = [(s + 40, s + 60) for s in table["start"]]
    for target, peaks in (("CTCF", range(40, 4000, 260)), ("BEAF", range(140, 4000, 410))):
        width = 30 if target == "CTCF" else 20
        expected = [int(any(p < hi and p + width > lo for p in peaks)) for lo, hi in bins]
        assert table[target].tolist() == expected


def test_finetune_evaluate_predict_chromatin(chromatin_data, tmp_path):
    model_dir, eval_dir = tmp_path / "model", tmp_path / "eval"
    printed = cli_ok("finetune", "chromatin", "--data", chromatin_data / "data", "--out", model_dir,
                     "--max-steps", "2", *TINY)
    assert "best epoch 1 (step 2 of 2)" in printed
    model = SequenceClassifier.from_pretrained(model_dir)
    assert model.config.labels == ("CTCF", "BEAF") and model.config.window == 100
    assert model.tokenizer.k == 6 and model.tokenizer.stride == 1  # the chromatin defaults: overlapping 6-mers
    assert model.config.encoder.hidden_size == 16  # --hidden over the preset's 64
    summary = json.loads((model_dir / "finetune.json").read_text())
    train = load_window_splits(chromatin_data / "data", ["train"])["train"]
    assert summary["pos_weight"] == pytest.approx(dict(zip(("CTCF", "BEAF"), positive_weights(train.labels))))

    result = json.loads(cli_ok("evaluate", "chromatin", "--data", chromatin_data / "data", "--model", model_dir,
                               "--out", eval_dir, "--json", "--device", "cpu", "--baseline-k", "2"))
    assert sorted(p.name for p in eval_dir.iterdir()) == ["auprc.png", "auprc.svg", "auroc.png", "auroc.svg",
                                                          "metrics.json", "metrics.tsv"]  # two targets: bars, no curves
    assert json.loads((eval_dir / "metrics.json").read_text()) == result
    assert result["targets"] == ["CTCF", "BEAF"]
    assert sorted(result["metrics"]["CTCF"]) == ["2-mer logistic regression", "model"]
    values = [result["metrics"][t]["model"]["auroc"] for t in ("CTCF", "BEAF")]
    assert result["summary"]["auroc"]["model"]["mean"] == pytest.approx(np.mean(values))
    table = pd.read_csv(eval_dir / "metrics.tsv", sep="\t")
    assert len(table) == 4 and list(table.columns[:4]) == ["target", "predictor", "positives", "negatives"]
    assert "above the baseline on" in cli_ok("evaluate", "chromatin", "--data", chromatin_data / "data",
                                             "--model", model_dir, "--device", "cpu", "--baseline-k", "1")

    # the model reads each test window on both strands (default) or as given (--strands forward)
    test = load_window_splits(chromatin_data / "data", ["test"])["test"]
    plus = classifier_probs(model.eval(), test.seqs)
    minus = classifier_probs(model, [reverse_complement(s) for s in test.seqs])
    assert not np.allclose(plus, minus)
    forward = json.loads(cli_ok("evaluate", "chromatin", "--data", chromatin_data / "data", "--model", model_dir,
                                "--json", "--device", "cpu", "--baseline-k", "2", "--strands", "forward"))
    assert result["strands"] == "both" and forward["strands"] == "forward"
    for t, target in enumerate(("CTCF", "BEAF")):
        for scores, probs in ((result, (plus + minus) / 2), (forward, plus)):
            assert scores["metrics"][target]["model"]["auroc"] == pytest.approx(
                roc_auc_score(test.labels[:, t], probs[:, t]), abs=1e-9)
        assert forward["metrics"][target]["2-mer logistic regression"] == \
            result["metrics"][target]["2-mer logistic regression"]

    fasta = tmp_path / "q.fa"
    seqs = {"exact": GENOME[:100], "long": GENOME[:131], "short": GENOME[:41]}
    fasta.write_text("".join(f">{k} some description\n{v}\n" for k, v in seqs.items()))
    cli_ok("predict", "sequences", "--fasta", fasta, "--model", model_dir, "--out", tmp_path / "p.tsv",
           "--batch-size", "2")
    out = pd.read_csv(tmp_path / "p.tsv", sep="\t")
    assert list(out.columns) == ["id", "length", "fit", "CTCF", "BEAF"]
    assert out["fit"].tolist() == ["exact", "cropped", "padded"] and out["length"].tolist() == [100, 131, 41]
    expected = classifier_probs(model, [fit_to_window(s, 100) for s in seqs.values()])
    np.testing.assert_allclose(out[["CTCF", "BEAF"]].to_numpy(), expected, rtol=1e-4, atol=1e-6)


def test_task_presets_and_flags_over_them(tmp_path):
    """Fine-tuning configs: defaults < the task's presets < a --config file < flags."""
    from seqformer.errors import InputError
    from seqformer.tasks.window_tasks import task_config

    chromatin = task_config("chromatin")
    head = chromatin.finetune
    assert (head.kmer, head.kmer_stride, chromatin.model.hidden_size, head.pos_weight) == (6, 1, 64, True)
    flags = {"finetune": {"kmer_stride": 6, "pos_weight": False}, "model": {"hidden_size": 32}}
    assert task_config("chromatin", overrides=flags).finetune.kmer_stride == 6
    assert task_config("tf-binding").finetune.kmer == 6 and task_config("promoter").model.hidden_size == 128
    config_file = tmp_path / "finetune.yaml"
    config_file.write_text("model: {hidden_size: 48, num_layers: 3}\ntrain: {batch_size: 8}\n")
    merged = task_config("chromatin", config_file, {"model": {"num_layers": 1}})
    assert (merged.model.hidden_size, merged.model.num_layers, merged.train.batch_size) == (48, 1, 8)
    assert merged.finetune.pos_weight  # the preset, untouched by the file
    with pytest.raises(InputError, match="unknown config key 'finetune.width'"):
        task_config("promoter", overrides={"finetune": {"width": 3}})


def test_weighted_loss_is_bce_with_positive_weights():
    labels = np.array([[1, 0], [0, 0], [0, 1], [0, 0]])
    weights = positive_weights(labels)
    assert weights.tolist() == [3.0, 3.0]
    assert positive_weights(np.zeros((3, 1))).tolist() == [1.0]

    class Fixed(torch.nn.Module):
        loss = SequenceClassifier.loss  # the classifier's own loss, over fixed logits
        config = ClassifierConfig(EncoderConfig(vocab_size=10), ("a", "b"))

        def forward(self, input_ids, attention_mask):
            return type("Out", (), {"logits": torch.tensor([[0.5, -1.0], [2.0, 0.0], [-0.3, 1.5], [0.0, 0.1]])})

    batch = LabelledBatch(torch.zeros(4, 3, dtype=torch.long), torch.ones(4, 3, dtype=torch.bool),
                          torch.tensor(labels, dtype=torch.float32))
    loss = ClassifierLoss(Fixed(), torch.tensor(weights, dtype=torch.float32))(batch)
    x, y = Fixed()(None, None).logits.double(), torch.tensor(labels, dtype=torch.float64)
    p = torch.sigmoid(x)
    expected = -(3.0 * y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)


@pytest.fixture(scope="module")
def tf_files(tmp_path_factory):
    """Peak sequences on chr1/chr2 (train), chr7 (val), chr8 (test), and a background genome chr20."""
    root = tmp_path_factory.mktemp("tf")
    r = random.Random(5)
    records = []
    for chrom, n in (("chr1", 6), ("chr2", 4), ("chr7", 3), ("chr8", 3)):
        for i in range(n):
            start = 1000 * i
            records.append((f"{chrom}:{start}-{start + 30}", "".join(r.choice("ACGT") for _ in range(30))))
    records.append(("chr2:90000-90010", "ACGTACGTAC"))  # shorter than the window: dropped
    (root / "peaks.fa").write_text("".join(f">{h}\n{s}\n" for h, s in records))
    (root / "g.fa").write_text(">chr20\n" + "".join(r.choice("ACGT") for _ in range(3000)) + "\n")
    return root


@pytest.mark.parametrize("background", ["gc-matched", "shuffled"])
def test_tf_binding_data_finetune_evaluate(tf_files, tmp_path, background):
    data_dir = tmp_path / "data"
    printed = cli_ok("data", "tf-binding", "--peaks", tf_files / "peaks.fa", "--genome", tf_files / "g.fa",
                     "--background", background, "--name", "TF", "--out", data_dir, "--min-distance", "0",
                     "--window", "30")
    assert "1 peaks shorter than window" in printed
    data = read_window_data(data_dir)
    assert data.meta["task"] == "tf-binding" and data.targets == ("TF",) and data.window == 30
    splits = load_window_splits(data_dir)
    for name, positives in (("train", 10), ("val", 3), ("test", 3)):
        labels = splits[name].labels[:, 0]
        assert labels.sum() == positives and (labels == 0).sum() == positives
        assert all(len(s) == 30 for s in splits[name].seqs)
    if background == "shuffled":
        rows = splits["val"].rows
        pos = dict(zip(rows.loc[rows["TF"] == 1, "record"], np.array(splits["val"].seqs)[rows["TF"] == 1]))
        for record, seq in zip(rows.loc[rows["TF"] == 0, "record"], np.array(splits["val"].seqs)[rows["TF"] == 0]):
            assert dinucleotide_counts(seq) == dinucleotide_counts(pos[record]) and seq != pos[record]
        assert load_window_splits(data_dir)["val"].seqs == splits["val"].seqs  # redrawn the same
    else:
        background_rows = data.table[data.table["TF"] == 0]
        assert set(background_rows["chrom"]) == {"chr20"} and set(background_rows["source"]) == {"genome"}
        val = background_rows[background_rows["split"] == "val"]
        assert ((val["start"] >= 2400) & (val["end"] <= 2700)).all()  # second-to-last tenth of chr20
    model_dir = tmp_path / "model"
    cli_ok("finetune", "tf-binding", "--data", data_dir, "--out", model_dir, "--max-steps", "1", *TINY)
    result = json.loads(cli_ok("evaluate", "tf-binding", "--data", data_dir, "--model", model_dir, "--json",
                               "--out", tmp_path / "eval", "--device", "cpu"))
    assert result["counts"]["TF"] == {"positive": 3, "negative": 3}
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == [  # one target: its curves, no bar chart
        "metrics.json", "metrics.tsv", "pr.png", "pr.svg", "roc.png", "roc.svg"]


def test_errors(chromatin_data, tf_files, tmp_path):
    data = chromatin_data / "data"
    assert "not a promoter data folder: it was made for the 'chromatin' task" in cli_error(
        "finetune", "promoter", "--data", data, "--out", tmp_path / "m", *TINY)
    assert "TASK must be one of promoter, chromatin, tf-binding" in cli_error(
        "finetune", "enhancer", "--data", data, "--out", tmp_path / "m", *TINY)
    cli_ok("finetune", "chromatin", "--data", data, "--out", tmp_path / "m", "--max-steps", "1", *TINY)
    tf = tmp_path / "tf"
    cli_ok("data", "tf-binding", "--peaks", tf_files / "peaks.fa", "--background", "shuffled", "--out", tf,
           "--window", "30")
    cli_ok("finetune", "tf-binding", "--data", tf, "--out", tmp_path / "tfm", "--max-steps", "1", *TINY)
    assert "the model's outputs ['peaks'] are not the data's targets ['CTCF', 'BEAF']" in cli_error(
        "evaluate", "chromatin", "--data", data, "--model", tmp_path / "tfm", "--device", "cpu")
    assert "--strands must be both or forward, got 'reverse'" in cli_error(
        "evaluate", "tf-binding", "--data", tf, "--model", tmp_path / "tfm", "--strands", "reverse")
    assert "give --genome" in cli_error("data", "tf-binding", "--peaks", tf_files / "peaks.fa", "--out",
                                        tmp_path / "x")
    assert "no peak lies in the val split" in cli_error("data", "tf-binding", "--peaks", tf_files / "peaks.fa",
                                                        "--background", "shuffled", "--val-region", "chr1:6001-7000",
                                                        "--out", tmp_path / "x")
    (tmp_path / "bad.bed").write_text("chr9\t1\t5\n")
    assert "contig 'chr9' not in g.fa" in cli_error("data", "chromatin", "--fasta", chromatin_data / "g.fa",
                                                    "--peaks", tmp_path / "bad.bed", "--region", "chr1",
                                                    "--out", tmp_path / "x")
    assert not (tmp_path / "x").exists()
