"""Run configs (YAML over defaults, flags over YAML, unknown keys named), the lr schedule and AdamW groups."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from seqformer.data import build_tokenizer
from seqformer.errors import InputError
from seqformer.training.config import RunConfig, load_run_config, write_run_config
from seqformer.training.flops import attended_keys, forward_flops_per_token
from seqformer.training.loop import build_optimizer, lr_factor
from seqformer.tasks.pretraining import build_model, run_config


def write(path, text: str):
    path.write_text(text)
    return path


def test_yaml_over_defaults_and_flags_over_yaml(tmp_path):
    path = write(tmp_path / "run.yaml", "data: {kmer: 4, regions: chr1}\noptim: {lr: 5e-4, betas: [0.9, 0.95]}\n"
                                        "train: {max_steps: 50, peak_tflops: 100}\n")
    config = load_run_config(path, {"train": {"max_steps": 7}})
    assert config.data.kmer == 4 and config.data.regions == ("chr1",)
    assert config.optim.lr == 5e-4 and config.optim.betas == (0.9, 0.95)  # YAML 1.1 reads 5e-4 as a string
    assert config.train.max_steps == 7 and config.train.peak_tflops == 100.0
    assert config.train.batch_size == RunConfig().train.batch_size
    write_run_config(config, tmp_path / "config.yaml")
    assert RunConfig.from_dict(yaml.safe_load((tmp_path / "config.yaml").read_text())) == config


@pytest.mark.parametrize("text, message", [
    ("train: {max_stepz: 3}", "unknown config key 'train.max_stepz'; keys of train: max_steps"),
    ("trainer: {max_steps: 3}", "unknown config section 'trainer'"),
    ("train: {max_steps: many}", "'train.max_steps' must be an int"),
    ("data: {alphabet: rna}", "alphabet must be one of"),
    ("model: {arch: linformer}", "arch must be one of"),
    ("- just a list", "must be a mapping"),
    ("train: {max_steps: [", "not valid YAML"),
])
def test_bad_config_files_name_the_key_and_file(tmp_path, text, message):
    path = write(tmp_path / "run.yaml", text)
    with pytest.raises(InputError, match=message) as err:
        load_run_config(path)
    assert "run.yaml" in str(err.value)


def test_run_folder_rules(tmp_path):
    (tmp_path / "run").mkdir()
    config = run_config(tmp_path / "run", overrides={"data": {"fasta": ["a.fa"]}})
    assert config.data.fasta == (str((Path.cwd() / "a.fa").resolve()),)  # absolute in config.yaml
    write_run_config(config, tmp_path / "run" / "config.yaml")
    with pytest.raises(InputError, match="already holds a run; pass --resume"):
        run_config(tmp_path / "run")
    with pytest.raises(InputError, match="no checkpoint"):
        run_config(tmp_path / "run", resume=True)


def test_warmup_then_cosine():
    optim = RunConfig().optim.__class__(warmup_steps=10, min_lr_ratio=0.1)
    factors = [lr_factor(step, optim, 110) for step in range(111)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == 1.0 and factors[10] == 1.0
    assert factors[60] == pytest.approx(0.55) and factors[110] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))


def test_adamw_decays_matrices_only():
    config = load_run_config(overrides={"data": {"kmer": 2}, "model": {"arch": "dense", "hidden_size": 16,
                                        "num_layers": 1, "num_heads": 2, "ffn_size": 32}})
    model = build_model(config, build_tokenizer(config.data))
    optimizer = build_optimizer(model, config.optim, torch.device("cpu"))
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"])
    assert model.encoder.embed.weight in no_decay["params"]
    assert sum(p.numel() for g in optimizer.param_groups for p in g["params"]) == \
        sum(p.numel() for p in model.parameters())


def test_flop_count_of_a_dense_layer():
    config = load_run_config(overrides={"data": {"kmer": 2}, "model": {"arch": "dense", "hidden_size": 16,
                                        "num_layers": 1, "num_heads": 2, "ffn_size": 32}})
    encoder = build_model(config, build_tokenizer(config.data)).config.encoder
    # 8·D² + 4·D·F + 4·L·D per layer, head 0.15·(2·D² + 2·D·V), V = 21
    expected = 8 * 256 + 4 * 16 * 32 + 4 * 100 * 16 + 0.15 * (2 * 256 + 2 * 16 * 21)
    assert forward_flops_per_token(encoder, 100, 0.15) == pytest.approx(expected)
    assert attended_keys("bigbird", {"block_size": 64}, 4096) == (2 + 3 + 3) * 64
    assert attended_keys("bigbird", {"block_size": 64}, 256) == 256
    assert attended_keys("longformer", {"window": 32}, 4096) == 65 and attended_keys("longformer", {}, 100) == 100
    assert attended_keys("reformer-lsh", {"chunk_size": 32, "n_hashes": 4}, 4096) == 2 * 32 * 4
    assert attended_keys("nystromformer", {"num_landmarks": 16}, 4096) == 16
    assert attended_keys("performer-relu", {"num_features": 128}, 4096) == 128


def test_memory_savers_reach_the_encoder_and_bad_values_are_refused():
    shape = {"arch": "dense", "hidden_size": 16, "num_layers": 2, "num_heads": 2, "ffn_size": 32}
    config = load_run_config(overrides={"data": {"kmer": 2},
                                        "model": {**shape, "reversible": True, "ffn_chunk_size": 8}})
    encoder = build_model(config, build_tokenizer(config.data)).config.encoder
    assert encoder.reversible is True and encoder.ffn_chunk_size == 8
    config = load_run_config(overrides={"data": {"kmer": 2}, "model": {**shape, "ffn_chunk_size": 0}})
    with pytest.raises(InputError, match="model: ffn_chunk_size must be None or a positive integer"):
        build_model(config, build_tokenizer(config.data))
