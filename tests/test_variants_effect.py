"""Classifier variant scores equal the model run directly on the hand-built windows, both strands."""

from __future__ import annotations

import numpy as np
import pytest
from variants_helpers import WINDOW, copy_fixtures, tiny_classifier

from seqformer.io import Genome, reverse_complement
from seqformer.predict.scorer import classifier_probs
from seqformer.predict.scorer import predict_probs
from seqformer.variants.effect import EPS, Effects, logit, variant_effect
from seqformer.variants.windows import allele_windows


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    with Genome(copy_fixtures(tmp_path_factory.mktemp("effect")) / "genome.fa") as g:
        yield g


def direct(model, seqs):
    """(N, T) the mean of the model's probabilities for each of ``seqs`` and its reverse complement, one batch."""
    probs = classifier_probs(model, list(seqs) + [reverse_complement(s) for s in seqs])
    return (probs[:len(seqs)] + probs[len(seqs):]) / 2


def test_variant_effect_matches_direct(genome):
    model = tiny_classifier(("a", "b"))
    alleles = [("chr1", 49, "C", "A"), ("chr1", 59, "T", "TTT"), ("chr1", 69, "TCA", "T"), ("chr2", 28, "C", "A")]
    windows = [allele_windows(genome, *allele, WINDOW) for allele in alleles]
    effects = variant_effect(model, windows, batch_size=3)  # batches cutting across alleles and strands
    p_ref = direct(model, [w.ref for w in windows])
    p_alt = direct(model, [w.alt for w in windows])
    np.testing.assert_allclose(effects.p_ref, p_ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(effects.p_alt, p_alt, rtol=1e-6, atol=1e-7)
    assert effects.p_ref.shape == (4, 2)
    assert np.abs(effects.delta_p).min() > 1e-4  # the spread-out weights tell the alleles apart
    np.testing.assert_allclose(effects.delta_p, p_alt - p_ref, atol=1e-6)
    np.testing.assert_allclose(effects.delta_logit,
                               np.log(p_alt / (1 - p_alt)) - np.log(p_ref / (1 - p_ref)), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(effects.abs_logit_x_abs_p, np.abs(effects.delta_logit) * np.abs(effects.delta_p))


def test_strands_are_averaged_not_one_strand(genome):
    model = tiny_classifier()
    seq = allele_windows(genome, "chr1", 49, "C", "A", WINDOW).ref
    plus, minus = classifier_probs(model, [seq, reverse_complement(seq)])[:, 0]
    assert abs(plus - minus) > 1e-4
    assert predict_probs(model, [seq], strands="both")[0, 0] == pytest.approx((plus + minus) / 2, rel=1e-6)


def test_logit_is_clipped():
    effects = Effects(np.array([[0.0, 0.5]]), np.array([[1.0, 0.5]]))
    top = np.log((1 - EPS) / EPS)
    np.testing.assert_allclose(effects.delta_logit, [[2 * top, 0.0]])
    np.testing.assert_allclose(effects.delta_p, [[1.0, 0.0]])
    np.testing.assert_allclose(effects.abs_logit_x_abs_p, [[2 * top, 0.0]])
    assert logit(np.array([0.25]))[0] == pytest.approx(np.log(1 / 3))
    with pytest.raises(ValueError, match="unknown metric"):
        effects.metric("delta")
