"""Every verb takes a converted model: evaluate mlm, attention maps/blosum, embed, score-variants --mlm, finetune --init.

The sources are tiny random transformers models (an ESM-2-like protein model and a DNABERT-like 3-mer
model) saved here and converted with ``seqformer convert``; each verb runs on the converted folder
and its numbers are checked against the converted model itself where a verb computes something simple.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from helpers import cli_ok
from variants_helpers import copy_fixtures, tiny_classifier

from seqformer.convert import ESM_ALPHABET
from seqformer.models import MaskedLM, SequenceClassifier, load_model

transformers = pytest.importorskip("transformers")

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
PROTEINS = ">p1\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ\n>p2\nMVLSPADKTNVKAAWGKVG\n" \
           ">p3\nGSHMSLFDFFKNKGSAAATPLEHHHHHH\n"


@pytest.fixture(scope="module")
def esm_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("esm")
    config = transformers.EsmConfig(vocab_size=len(ESM_ALPHABET), pad_token_id=1, mask_token_id=32, token_dropout=True,
                                    position_embedding_type="rotary", max_position_embeddings=1026, **TINY)
    torch.manual_seed(0)
    source = transformers.EsmForMaskedLM(config)
    with torch.no_grad():  # off the near-uniform init, so heads attend differently
        for param in source.parameters():
            param.add_(0.3 * torch.randn(param.shape))
    source.save_pretrained(root / "hf")
    (root / "hf" / "vocab.txt").write_text("\n".join(ESM_ALPHABET) + "\n")
    cli_ok("convert", root / "hf", "--out", root / "model")
    (root / "proteins.fa").write_text(PROTEINS)
    return root


@pytest.fixture(scope="module")
def dnabert_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("dnabert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *("".join(p) for p in itertools.product("ATCG", repeat=3))]
    config = transformers.BertConfig(vocab_size=len(vocab), max_position_embeddings=512, **TINY)
    torch.manual_seed(1)
    transformers.BertForMaskedLM(config).save_pretrained(root / "hf")
    (root / "hf" / "vocab.txt").write_text("\n".join(vocab) + "\n")
    cli_ok("convert", root / "hf", "--out", root / "model")
    return root


def test_protein_verbs_run_on_a_converted_esm(esm_model, tmp_path):
    model_dir, fasta = esm_model / "model", esm_model / "proteins.fa"
    result = json.loads(cli_ok("evaluate", "mlm", "--model", model_dir, "--fasta", fasta, "--json", "--seed", "1"))
    assert result["masked"] > 0 and result["perplexity"] > 1 and result["max_length"] == 1026
    cli_ok("attention", "maps", "--model", model_dir, "--fasta", fasta, "--record", "p2", "--out", tmp_path / "maps",
           "--device", "cpu")
    assert any((tmp_path / "maps").iterdir())
    # a random model's attention is spread thin: low thresholds keep edges in every head, so r is defined
    for mode, keep in (("weighted", ["--min-head-weight", "1"]), ("provis", ["--min-head-edges", "1"])):
        cli_ok("attention", "blosum", "--model", model_dir, "--fasta", fasta, "--out", tmp_path / mode, "--mode", mode,
               "--threshold", "0.05", *keep, "--min-heads", "2", "--device", "cpu")
        summary = json.loads((tmp_path / mode / "summary.json").read_text())
        assert "pearson_r" in json.dumps(summary)
    cli_ok("embed", "--model", model_dir, "--fasta", fasta, "--out", tmp_path / "emb", "--logits", "--quiet")
    model = load_model(model_dir, expect=MaskedLM)
    ids = torch.as_tensor(model.tokenizer.encode("MVLSPADKTNVKAAWGKVG")[None]).long()
    assert ids[0, 0] == 0 and ids[0, -1] == 2  # ESM's <cls> ... <eos>
    with torch.no_grad():
        direct = model.encoder(ids)
    per_token = np.load(tmp_path / "emb" / "per_token.npz")
    np.testing.assert_allclose(per_token["p2/layer2"], direct.last_hidden_state[0, 1:-1].numpy(), atol=1e-5)


def test_dna_verbs_run_on_a_converted_dnabert(dnabert_model, data_dir, tmp_path):
    model_dir = dnabert_model / "model"
    (tmp_path / "variants").mkdir()
    files = copy_fixtures(tmp_path / "variants")
    tiny_classifier(("open",)).save_pretrained(files / "clf")
    cli_ok("score-variants", "--vcf", files / "variants.vcf", "--genome", files / "genome.fa", "--model", files / "clf",
           "--mlm", model_dir,
           "--out", tmp_path / "s.tsv", "--quiet", "--device", "cpu")
    lines = (tmp_path / "s.tsv").read_text().splitlines()
    assert "mlm_llr" in lines[0] and len(lines) > 2
    genome, tss = data_dir / "promoters" / "genome.fa", data_dir / "promoters" / "tss.bed"
    cli_ok("data", "promoters", "--genome", genome, "--tss", tss, "--out", tmp_path / "data", "--region",
           "chr20:1-6000", "--val-region", "chr20:2001-4000", "--test-region", "chr20:4001-6000",
           "--min-distance", "300", "--negatives-per-positive", "2")
    cli_ok("finetune", "promoter", "--data", tmp_path / "data", "--out", tmp_path / "clf", "--init", model_dir,
           "--max-steps", "1", "--batch-size", "4", "--device", "cpu", "--quiet", "--no-calibrate")
    classifier = load_model(tmp_path / "clf", expect=SequenceClassifier)
    mlm = load_model(model_dir, expect=MaskedLM)
    assert classifier.config.encoder.norm == "post" and classifier.tokenizer == mlm.tokenizer
