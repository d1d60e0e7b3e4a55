"""Masked-LM masking: rates on large samples, the k-mer span property exactly, specials never masked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqformer.data.masking import MaskingCollator, MaskingConfig, mask_tokens
from seqformer.models.mlm import IGNORE_INDEX
from seqformer.tokenizers import KmerTokenizer, ProteinTokenizer
from seqformer.tokenizers.base import CLS_ID, MASK_ID, PAD_ID, SEP_ID, UNK_ID


def random_dna(n: int, rng: np.random.Generator, n_runs: int = 0) -> str:
    """Random bases with ``n_runs`` runs of 1..8 N."""
    seq = np.array(list("ACGT"))[rng.integers(0, 4, n)]
    for _ in range(n_runs):
        start = int(rng.integers(0, n - 8))
        seq[start:start + int(rng.integers(1, 9))] = "N"
    return "".join(seq)


def large_batch(tokenizer, rows: int = 64, bases: int = 517, seed: int = 0):
    rng = np.random.default_rng(seed)
    seqs = [random_dna(int(rng.integers(bases // 2, bases)), rng, n_runs=2) for _ in range(rows)]
    return seqs, tokenizer.batch_encode(seqs)


def test_rates_80_10_10_and_15_percent_with_spans():
    tokenizer = KmerTokenizer(6, 1)
    _, encoded = large_batch(tokenizer)
    batch = mask_tokens(encoded.input_ids, encoded.attention_mask, vocab_size=tokenizer.vocab_size, span=6, ignore_index=IGNORE_INDEX,
                        config=MaskingConfig(), generator=torch.Generator().manual_seed(0))
    maskable = encoded.attention_mask & (encoded.input_ids > MASK_ID)
    selected = batch.labels != IGNORE_INDEX
    assert abs(selected.sum().item() / maskable.sum().item() - 0.15) < 0.015
    to_mask = (batch.input_ids == MASK_ID) & selected
    unchanged = (batch.input_ids == encoded.input_ids) & selected
    changed = selected & ~to_mask & ~unchanged
    n = selected.sum().item()
    assert abs(to_mask.sum().item() / n - 0.8) < 0.02
    assert abs(changed.sum().item() / n - 0.1) < 0.02
    assert abs(unchanged.sum().item() / n - 0.1) < 0.02
    assert (batch.input_ids[changed] > MASK_ID).all()  # random replacements are real tokens


def test_labels_and_specials():
    tokenizer = KmerTokenizer(3, 1)
    _, encoded = large_batch(tokenizer, rows=16, bases=60)
    batch = mask_tokens(encoded.input_ids, encoded.attention_mask, vocab_size=tokenizer.vocab_size, span=3, ignore_index=IGNORE_INDEX,
                        config=MaskingConfig(mask_prob=0.5), generator=torch.Generator().manual_seed(1))
    selected = batch.labels != IGNORE_INDEX
    assert torch.equal(batch.labels[selected], encoded.input_ids[selected])
    for special in (PAD_ID, UNK_ID, CLS_ID, SEP_ID):
        assert not selected[encoded.input_ids == special].any()
        assert (batch.input_ids[encoded.input_ids == special] == special).all()
    assert torch.equal(batch.input_ids[~selected], encoded.input_ids[~selected])
    assert torch.equal(batch.attention_mask, encoded.attention_mask)


@pytest.mark.parametrize("k", [3, 6])
def test_a_masked_kmer_cannot_be_read_off_its_neighbours(k):
    """Every selected k-mer covers a base that no unselected real k-mer covers (edges and N included)."""
    tokenizer = KmerTokenizer(k, 1)
    seqs, encoded = large_batch(tokenizer, rows=40, bases=120, seed=k)
    batch = mask_tokens(encoded.input_ids, encoded.attention_mask, vocab_size=tokenizer.vocab_size, span=k, ignore_index=IGNORE_INDEX,
                        config=MaskingConfig(mask_prob=0.2), generator=torch.Generator().manual_seed(k))
    checked = 0
    for row, seq in enumerate(seqs):
        spans = tokenizer.token_spans(len(seq))  # (L, 2) base offsets; specials (-1, -1)
        ids = encoded.input_ids[row, : len(spans)].numpy()
        selected = (batch.labels[row, : len(spans)] != IGNORE_INDEX).numpy()
        visible = np.zeros(len(seq), dtype=bool)  # bases spelled out by an unselected real k-mer
        for (start, end), token, chosen in zip(spans, ids, selected):
            if token > MASK_ID and not chosen:
                visible[start:end] = True
        for (start, end), chosen in zip(spans, selected):
            if chosen:
                assert not visible[start:end].all(), f"row {row}: k-mer at {start} is readable from neighbours"
                checked += 1
    assert checked > 300


def test_single_token_masking_would_leak_so_spans_are_k():
    assert MaskingConfig().span_for(KmerTokenizer(6, 1)) == 6
    assert MaskingConfig().span_for(KmerTokenizer(6, 6)) == 1  # non-overlapping: nothing to leak
    assert MaskingConfig().span_for(ProteinTokenizer()) == 1
    assert MaskingConfig(span=2).span_for(KmerTokenizer(6, 1)) == 2


def test_same_seed_same_masks_and_every_row_gets_a_label():
    tokenizer = ProteinTokenizer()
    collator = MaskingCollator(tokenizer, max_length=12, config=MaskingConfig(), ignore_index=IGNORE_INDEX)
    seqs = ["MKV", "ACDEFGHIKLMNPQRSTVWY", "W"]
    first = collator(seqs, torch.Generator().manual_seed(5))
    again = collator(seqs, torch.Generator().manual_seed(5))
    assert torch.equal(first.input_ids, again.input_ids) and torch.equal(first.labels, again.labels)
    assert first.input_ids.shape == (3, 12)  # the long one cut to max_length, [SEP] kept
    assert ((first.labels != IGNORE_INDEX).sum(1) >= 1).all()


def test_evaluation_masking_hides_every_answer():
    tokenizer = KmerTokenizer(3, 1)
    _, encoded = large_batch(tokenizer, rows=8, bases=80)
    batch = mask_tokens(encoded.input_ids, encoded.attention_mask, vocab_size=tokenizer.vocab_size, span=3, ignore_index=IGNORE_INDEX,
                        config=MaskingConfig().for_evaluation(), generator=torch.Generator().manual_seed(2))
    selected = batch.labels != IGNORE_INDEX
    assert (batch.input_ids[selected] == MASK_ID).all()


@pytest.mark.parametrize("fields", [{"mask_prob": 0}, {"mask_token_prob": 0.9, "random_token_prob": 0.2},
                                    {"span": 0}])
def test_bad_masking_config(fields):
    with pytest.raises(ValueError):
        MaskingConfig(**fields)
