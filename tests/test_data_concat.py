"""Concatenated protein windows (``data.concat``, ``pretrain --concat``): whole framed records back to back.

Canonical protein ids used below: [PAD] 0, [CLS] 2, [SEP] 3, A 5, C 6, D 7, E 8, F 9, G 10, H 11,
I 12, K 13, L 14, M 15, N 16, P 17, Q 18, R 19, S 20, W 23, Y 24.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import yaml
from helpers import cli_error, cli_ok

from seqformer.data import DataConfig, MaskingConfig, open_corpus
from seqformer.data.masking import MaskingCollator
from seqformer.data.protein import ConcatProteinRecords, ProteinRecords, is_validation_id
from seqformer.errors import InputError
from seqformer.models.mlm import IGNORE_INDEX
from seqformer.evaluation.mlm import masked_windows
from seqformer.tasks.mlm import MaskedLMTask
from seqformer.tokenizers import ProteinTokenizer
from seqformer.training.config import load_run_config

# p5 hashes lowest, so with a tiny val_fraction it is the one held-out record.
TINY = {"p1": "ACD", "p2": "EF", "p3": "GHIK", "p4": "LM", "p5": "NPQRS", "p6": "WY"}
CLS, SEP = 2, 3


def write_fasta(path, records: dict[str, str]) -> str:
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in records.items()))
    return str(path)


@pytest.fixture
def tiny(tmp_path):
    return write_fasta(tmp_path / "tiny.fa", TINY)


@pytest.fixture
def many(tmp_path):
    """60 records of 3 to 12 residues, each of one letter pair so that windows show which records they hold."""
    letters = "ACDEFGHIKLMNPQRSTVWY"
    rng = np.random.default_rng(7)
    records = {f"r{i}": (letters[i % 20] + letters[(i * 7 + 3) % 20]) * int(rng.integers(2, 7))
               for i in range(60)}
    return write_fasta(tmp_path / "many.fa", records)


def test_windows_hold_whole_framed_records_back_to_back(tiny):
    corpus = ConcatProteinRecords([tiny], 6, ProteinTokenizer(), 8, val_fraction=0.001, seed=0)
    assert corpus.train == ["ACD", "EF", "GHIK", "LM", "WY"]
    # Epoch 0 visits GHIK WY LM ACD EF, epoch 1 EF WY LM ACD GHIK (permutations seeded by (0, epoch)).
    assert list(np.random.default_rng([0, 0]).permutation(5)) == [2, 4, 3, 0, 1]
    assert list(np.random.default_rng([0, 1]).permutation(5)) == [1, 4, 3, 0, 2]
    windows = corpus.train_sequences(0, 0, 1, 4)
    assert [w.tolist() for w in windows] == [
        [CLS, 10, 11, 12, 13, SEP, CLS, 23],  # GHIK, then WY cut after its W; the next window starts at LM
        [CLS, 14, 15, SEP, CLS, 5, 6, 7],  # LM, then ACD cut before its [SEP]
        [CLS, 8, 9, SEP, CLS, 8, 9, SEP],  # EF (last of epoch 0), then EF (first of epoch 1): exactly 8
        [CLS, 23, 24, SEP, CLS, 14, 15, SEP],  # WY, LM: exactly 8
    ]
    assert all(w.dtype == np.int32 for w in windows)
    assert corpus.validation_sequences()[0].tolist() == [CLS, 16, 17, 18, 19, 20, SEP]  # NPQRS, short: the last
    assert corpus.describe() == {"train_records": 5, "train_residues": 13, "window_residues": 6,
                                 "validation_windows": 1, "window_tokens": 8}


def test_windows_are_full_and_start_at_a_record(many):
    tokenizer = ProteinTokenizer()
    corpus = ConcatProteinRecords([many], 10, tokenizer, 32, val_fraction=0.1, seed=3)
    for step in range(40):  # several epochs
        for window in corpus.train_sequences(step, 0, 1, 3):
            assert len(window) == 32 and window[0] == CLS
            assert not (window == tokenizer.pad_id).any()
            cls = np.flatnonzero(window == CLS)
            sep = np.flatnonzero(window == SEP)
            # Every record but the last is whole: [SEP] right before each following [CLS].
            assert list(sep) == [c - 1 for c in cls[1:]] + ([31] if window[-1] == SEP else [])


def test_long_records_are_cropped_at_a_seeded_offset(tmp_path):
    long = "ACDEFGHIKLMNPQRSTVWY" * 2
    path = write_fasta(tmp_path / "long.fa", {"p1": long, "p2": "EF", "p3": long, "p5": "NP"})
    tokenizer = ProteinTokenizer()
    corpus = ConcatProteinRecords([path], 8, tokenizer, 10, val_fraction=0.001, seed=1)
    offsets = set()
    for step in range(6):
        for window in corpus.train_sequences(step, 0, 1, 2):
            assert len(window) == 10
            body = tokenizer.decode(window[1:9])
            if window[3] != SEP:  # not EF first: a long record fills the window, [CLS] 8 residues [SEP]
                assert window[9] == SEP and body in long
                offsets.add(long.index(body))
    assert len(offsets) > 1
    again = ConcatProteinRecords([path], 8, tokenizer, 10, val_fraction=0.001, seed=1)
    assert [w.tolist() for w in again.train_sequences(4, 0, 1, 2)] == \
        [w.tolist() for w in corpus.train_sequences(4, 0, 1, 2)]


def test_a_step_depends_only_on_step_rank_and_seed(many):
    tokenizer = ProteinTokenizer()
    walked = ConcatProteinRecords([many], 10, tokenizer, 32, val_fraction=0.1, seed=3)
    for step in range(25):
        walked.train_sequences(step, 1, 2, 3)
    fresh = ConcatProteinRecords([many], 10, tokenizer, 32, val_fraction=0.1, seed=3)
    as_list = lambda ws: [w.tolist() for w in ws]  # noqa: E731
    assert as_list(fresh.train_sequences(24, 1, 2, 3)) == as_list(walked.train_sequences(24, 1, 2, 3))
    assert as_list(fresh.train_sequences(3, 0, 2, 3)) == as_list(walked.train_sequences(3, 0, 2, 3))
    other = ConcatProteinRecords([many], 10, tokenizer, 32, val_fraction=0.1, seed=4)
    assert as_list(other.train_sequences(3, 0, 2, 3)) != as_list(fresh.train_sequences(3, 0, 2, 3))


def test_ranks_take_disjoint_records(many):
    corpus = ConcatProteinRecords([many], 10, ProteinTokenizer(), 32, val_fraction=0.1, seed=3)
    corpus.train_sequences(0, 1, 2, 2)  # windows 0..3 of the stream
    bounds = [corpus._window_bounds(i) for i in range(4)]
    rank0 = {p for start, end in bounds[:2] for p in range(start, end)}
    rank1 = {p for start, end in bounds[2:] for p in range(start, end)}
    assert rank0 and rank1 and not rank0 & rank1
    assert max(rank1) < len(corpus.train)  # all of epoch 0: each record visited once
    assert [start for start, _ in bounds[1:]] == [end for _, end in bounds[:-1]]  # back to back


def test_validation_windows_join_validation_records(many):
    tokenizer = ProteinTokenizer()
    corpus = ConcatProteinRecords([many], 5, tokenizer, 16, val_fraction=0.3, val_windows=3, seed=0)
    records = [seq for name, seq in (entry.split("\n")[:2] for entry in open(many).read().split(">")[1:])
               if is_validation_id(name, 0.3)]
    windows, parts = [], []
    for seq in records:  # the rule, written out: whole framed records until 16 tokens, the crossing one cut
        parts += [CLS] + [int(i) for i in tokenizer.encode(seq[:5])[1:-1]] + [SEP]
        if len(parts) >= 16:
            windows.append(parts[:16])
            parts = []
    windows.append(parts)
    assert len(windows) > 3
    assert [w.tolist() for w in corpus.validation_sequences()] == windows[:3]
    # More windows asked for than the records fill: all of them, only the last one short.
    every = ConcatProteinRecords([many], 5, tokenizer, 16, val_fraction=0.3, val_windows=1000, seed=0)
    assert [w.tolist() for w in every.validation_sequences()] == windows
    assert 0 < len(windows[-1]) < 16


def test_non_concat_corpus_is_unchanged(tiny):
    config = DataConfig(fasta=(tiny,), alphabet="protein", max_length=8, val_fraction=0.001)
    corpus = open_corpus(config, ProteinTokenizer(), seed=0)
    assert type(corpus) is ProteinRecords and corpus.train_sequences(0, 0, 1, 2) == ["GHIK", "WY"]
    concat = open_corpus(replace(config, concat=True), ProteinTokenizer(), seed=0)
    assert isinstance(concat, ConcatProteinRecords) and concat.window == 6 and concat.max_length == 8


@pytest.mark.parametrize("mask_token_prob, random_token_prob", [(0.8, 0.1), (0.0, 1.0)])
def test_masking_never_touches_specials(many, mask_token_prob, random_token_prob):
    tokenizer = ProteinTokenizer()
    corpus = ConcatProteinRecords([many], 10, tokenizer, 32, val_fraction=0.1, seed=3)
    masking = MaskingConfig(mask_prob=0.5, mask_token_prob=mask_token_prob, random_token_prob=random_token_prob)
    task = MaskedLMTask(corpus, tokenizer, max_length=32, batch_size=4, masking=masking, seed=5)
    replaced = 0
    for step in range(10):
        originals = torch.as_tensor(np.stack(corpus.train_sequences(step, 0, 1, 4)), dtype=torch.int64)
        batch = task.train_batch(step, 0, 1)
        assert batch.input_ids.shape == (4, 32) and bool(batch.attention_mask.all())
        special = ~tokenizer.is_body(originals)
        assert bool((batch.labels[special] == IGNORE_INDEX).all())
        assert torch.equal(batch.input_ids[special], originals[special])  # [CLS] / [SEP] stay as they are
        selected = batch.labels != IGNORE_INDEX
        assert torch.equal(batch.labels[selected], originals[selected])
        changed = selected & (batch.input_ids != tokenizer.mask_id)
        assert bool(tokenizer.is_body(batch.input_ids[changed]).all())  # random replacements are body ids
        replaced += int((changed & (batch.input_ids != originals)).sum())
    assert replaced > (100 if random_token_prob == 1.0 else 5)


def test_collator_pads_id_windows():
    tokenizer = ProteinTokenizer()
    collator = MaskingCollator(tokenizer, 8, MaskingConfig(mask_prob=0.5), ignore_index=IGNORE_INDEX)
    batch = collator([np.array([2, 5, 6, 3], dtype=np.int32), np.array([2, 7, 8, 9, 3, 2], dtype=np.int32)],
                     torch.Generator().manual_seed(0), step=3)
    assert batch.step == 3
    assert batch.attention_mask.tolist() == [[True] * 4 + [False] * 2, [True] * 6]
    assert batch.input_ids[0, 4:].tolist() == [0, 0] and batch.labels[0, 4:].tolist() == [IGNORE_INDEX] * 2


def test_validation_of_id_windows_is_seeded_per_window(many):
    tokenizer = ProteinTokenizer()
    corpus = ConcatProteinRecords([many], 10, tokenizer, 32, val_fraction=0.3, val_windows=4, seed=0)
    whole = list(masked_windows(corpus.validation_sequences(), tokenizer, 32, MaskingConfig(), 1))
    halves = [list(masked_windows(corpus.validation_sequences(), tokenizer, 32, MaskingConfig(), 1,
                                     rank=r, world_size=2)) for r in (0, 1)]
    assert [torch.equal(a.labels, b.labels) for a, b in zip(whole[0::2], halves[0])] == [True, True]
    assert [torch.equal(a.labels, b.labels) for a, b in zip(whole[1::2], halves[1])] == [True, True]
    for window, ids in zip(whole, corpus.validation_sequences()):
        selected = window.labels[0] != IGNORE_INDEX
        assert bool(selected.any()) and bool((window.input_ids[0][selected] == tokenizer.mask_id).all())
        assert torch.equal(window.labels[0][selected], torch.as_tensor(ids, dtype=torch.int64)[selected])


def test_concat_is_protein_only():
    with pytest.raises(ValueError, match="concat"):
        DataConfig(alphabet="dna", concat=True)
    with pytest.raises(InputError, match="concat"):
        load_run_config(overrides={"data": {"concat": True}})


TINY_RUN = """\
data: {max_length: 32, val_windows: 2, val_fraction: 0.2}
model: {hidden_size: 32, num_layers: 2, num_heads: 2, ffn_size: 64, arch: dense}
train: {batch_size: 2, checkpoint_every: 2, eval_every: 2, threads: 1}
"""


def test_pretrain_concat_end_to_end(tmp_path, many, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(TINY_RUN)
    out = cli_ok("pretrain", "--fasta", many, "--alphabet", "protein", "--concat", "--out", "run",
                 "--config", "tiny.yaml", "--max-steps", "2", "--device", "cpu", "--quiet")
    assert out.startswith("step 2: loss ") and "val_loss" in out
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["data"]["concat"] is True and saved["data"]["alphabet"] == "protein"
    line = cli_error("pretrain", "--fasta", many, "--alphabet", "dna", "--concat", "--out", "dna",
                     "--config", "tiny.yaml", "--quiet")
    assert "concat (--concat) joins protein records" in line
