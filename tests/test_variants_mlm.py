"""Masked-LM log-likelihood ratios equal a naive per-allele computation (overlapping and non-overlapping k-mers)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from variants_helpers import copy_fixtures, tiny_mlm

from seqformer.io import Genome, reverse_complement
from seqformer.variants.mlm import allele_log_likelihood, masked_tokens, mlm_llr, mlm_window
from seqformer.variants.windows import allele_windows


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    with Genome(copy_fixtures(tmp_path_factory.mktemp("mlm")) / "genome.fa") as g:
        yield g


def naive_ll(model, seq, span):
    """Mask, one by one, every k-mer token holding a base of ``span``; full forward; sum log p(true token)."""
    k, stride = model.tokenizer.k, model.tokenizer.stride
    ids = model.tokenizer.encode(seq).tolist()
    masked = [1 + t for t in range(len(ids) - 2) if t * stride < span[1] and t * stride + k > span[0]]
    inputs = list(ids)
    for position in masked:
        inputs[position] = model.tokenizer.mask_id
    with torch.no_grad():
        logits = model(torch.tensor([inputs])).logits[0]  # (L, V), the LM head on every token
    logp = torch.log_softmax(logits.double(), dim=-1)
    return sum(logp[position, ids[position]].item() for position in masked), len(masked)


@pytest.mark.parametrize("k, stride", [(3, 1), (3, 3), (2, 1)])
def test_mlm_llr_matches_naive(genome, k, stride):
    model = tiny_mlm(k=k, stride=stride, max_length=10)
    window = mlm_window(model)
    assert model.tokenizer.num_tokens(window) <= 10 < model.tokenizer.num_tokens(window + 1)
    alleles = [("chr1", 49, "C", "A"), ("chr1", 59, "T", "TTT"), ("chr1", 69, "TCA", "T")]
    windows = [allele_windows(genome, *allele, window) for allele in alleles]
    expected = []
    for w in windows:
        strands = []
        for s in (w, w.reverse()):
            (ref, _), (alt, _) = naive_ll(model, s.ref, s.ref_span), naive_ll(model, s.alt, s.alt_span)
            strands.append(alt - ref)
        expected.append(np.mean(strands))
    np.testing.assert_allclose(mlm_llr(model, windows, batch_size=2), expected, rtol=1e-5, atol=1e-6)


def test_masked_token_counts():
    """An SNV masks k overlapping k-mers, or the one non-overlapping k-mer holding it; indels their span's."""
    overlapping = tiny_mlm(k=3).tokenizer
    assert masked_tokens(overlapping, 12, (5, 6)).nonzero()[0].tolist() == [4, 5, 6]  # k-mers at 3, 4, 5 (+[CLS])
    assert masked_tokens(overlapping, 12, (5, 8)).sum() == 5
    assert masked_tokens(overlapping, 12, (0, 1)).nonzero()[0].tolist() == [1]  # the window's first base
    separate = tiny_mlm(k=3, stride=3).tokenizer
    assert masked_tokens(separate, 12, (5, 6)).nonzero()[0].tolist() == [2]  # k-mer 3..6
    assert masked_tokens(separate, 12, (5, 7)).nonzero()[0].tolist() == [2, 3]


def test_unknown_true_token_is_nan():
    model = tiny_mlm(k=3, max_length=10)
    seq = "ACGTNACGTA"
    ll = allele_log_likelihood(model, [seq, seq, reverse_complement(seq)], [(4, 5), (9, 10), (9, 10)])
    assert np.isnan(ll[0]) and np.isfinite(ll[1:]).all()
    assert ll[1] == pytest.approx(naive_ll(model, seq, (9, 10))[0], rel=1e-5)
