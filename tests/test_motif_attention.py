"""Attention on motif instances against a position-matched control: instances, controls, shares, the figure.

The hand-made attention: in sequence s every query token attends evenly to the key tokens whose
3-mer lies inside the letters ``FOCUS[s]`` and nowhere else, so all letter attention falls inside
that range. With an instance covering that range, the share is exactly 1; its control (the same
interval in a sequence whose own focus lies elsewhere, or shifted off it) gets exactly 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from figure_checks import check_figure

import seqformer.analysis.motif_attention as motif_attention
from seqformer.analysis import letter_attention, sequence_attention
from seqformer.analysis.motif_attention import (CONTROL_COLUMNS, DEFAULT_SITES, INSTANCE_COLUMNS, MIN_SEQUENCES,
                                                RESULT_COLUMNS, attention_on_motifs, control_intervals,
                                                key_letter_mass, motif_instances, shares_on_motifs)
from seqformer.errors import InputError
from seqformer.figures.motif_attention import motif_attention_grid, plot_motif_attention
from seqformer.models import EncoderConfig
from seqformer.models.classifier import ClassifierConfig, SequenceClassifier
from seqformer.tokenizers import KmerTokenizer, ProteinTokenizer

SITE = "GATTACAGGC"  # not its own reverse complement
SITE_RC = "GCCTGTAATC"
LENGTH = 40
TOKENIZER = KmerTokenizer(k=3, stride=1)
SPANS = TOKENIZER.token_spans(LENGTH)  # (40, 2): [CLS], 38 3-mers, [SEP]


def _random(n: int, seed: int) -> str:
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), n))


def _site_ppm() -> np.ndarray:
    ppm = np.full((len(SITE), 4), 0.01)
    ppm[np.arange(len(SITE)), ["ACGT".index(base) for base in SITE]] = 0.97
    return ppm


def _model(tokenizer=TOKENIZER) -> SequenceClassifier:
    torch.manual_seed(0)
    encoder = EncoderConfig.for_tokenizer(tokenizer, hidden_size=32, num_layers=2, num_heads=2, ffn_size=64,
                                          max_length=64)
    return SequenceClassifier(ClassifierConfig(encoder=encoder, labels=("promoter",), window=LENGTH),
                              tokenizer=tokenizer).eval()


def _focused_probs(focus: tuple[int, int], layers: int = 2, heads: int = 2) -> np.ndarray:
    """(N, H, L, L): every query token attends evenly to the key tokens inside the letters ``focus``."""
    inside = (SPANS[:, 0] >= focus[0]) & (SPANS[:, 1] <= focus[1])
    row = inside / inside.sum()
    return np.broadcast_to(row, (layers, heads, len(SPANS), len(SPANS))).astype(np.float32)


# -- instances -------------------------------------------------------------------------------------------------


def test_instances_of_a_planted_ppm_are_found_exactly_on_both_strands():
    seqs = [_random(5, 0) + SITE + _random(25, 1),
            _random(20, 2) + SITE_RC + _random(10, 3),
            _random(35, 4) + SITE[:5],  # the site runs on into the next sequence: no instance in either
            SITE[5:] + _random(35, 5) + SITE_RC.lower(),
            _random(12, 6)]
    found = motif_instances(seqs, {"planted": _site_ppm()})
    assert list(found.columns) == INSTANCE_COLUMNS
    assert found[["seq_index", "motif", "start", "end", "strand"]].values.tolist() == [
        [0, "planted", 5, 15, "+"], [1, "planted", 20, 30, "-"], [3, "planted", 40, 50, "-"]]
    best = (_site_ppm() * DEFAULT_SITES + 0.025) / (DEFAULT_SITES + 0.1)  # FIMO's pseudocount over 20 sites
    score = np.log2(best.max(axis=1) + 1e-4).sum() + 2 * len(SITE)  # memelite's log2((p + 1e-4) / 0.25)
    np.testing.assert_allclose(found["score"], score, rtol=1e-6)
    assert (found["p_value"] < 1e-4).all()


def test_instances_refuse_bad_input():
    with pytest.raises(InputError, match="threshold"):
        motif_instances([SITE], {"planted": _site_ppm()}, threshold=1.5)
    with pytest.raises(InputError, match="PPM"):
        motif_instances([SITE], {"planted": np.ones((3, 5))})
    with pytest.raises(InputError, match="invalid DNA"):
        motif_instances(["ACGU"], {"planted": _site_ppm()})
    assert motif_instances(["ACGT" * 10], {"planted": _site_ppm()}).empty


# -- controls --------------------------------------------------------------------------------------------------


def _overlaps(starts, ends, start, end) -> bool:
    return bool(np.any((np.asarray(starts) < end) & (start < np.asarray(ends))))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_controls_never_overlap_an_instance_and_keep_each_length(seed):
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(12):
        for _ in range(rng.integers(0, 3)):
            start = int(rng.integers(0, LENGTH - 8))
            rows.append({"seq_index": index, "motif": "m", "start": start, "end": start + int(rng.integers(3, 9))})
    instances = pd.DataFrame(rows)
    controls = control_intervals(instances, [LENGTH] * 12, seed=seed)
    assert list(controls.columns) == CONTROL_COLUMNS and len(controls) == len(instances)
    assert set(controls["how"]) <= {"other", "shift"}
    np.testing.assert_array_equal(controls["control_end"] - controls["control_start"],
                                  controls["end"] - controls["start"])
    for row in controls.itertuples():
        theirs = instances[instances["seq_index"] == row.control_seq]
        assert not _overlaps(theirs["start"], theirs["end"], row.control_start, row.control_end)
        assert 0 <= row.control_start and row.control_end <= LENGTH
        if row.how == "other":
            assert row.control_seq != row.seq_index and row.control_start == row.start
    for _, group in controls.groupby("seq_index"):  # one placement per sequence: same sequence, same shift
        assert group["control_seq"].nunique() == 1 and (group["control_start"] - group["start"]).nunique() == 1
    pd.testing.assert_frame_equal(controls, control_intervals(instances, [LENGTH] * 12, seed=seed))


def test_controls_shift_within_the_sequence_when_no_other_one_is_free_and_give_up_when_nothing_is():
    same_place = pd.DataFrame({"seq_index": [0, 1, 2], "start": [10, 10, 10], "end": [16, 16, 16]})
    controls = control_intervals(same_place, [LENGTH] * 3, seed=0)
    assert (controls["how"] == "shift").all() and (controls["control_seq"] == controls["seq_index"]).all()
    for row in controls.itertuples():
        assert not _overlaps([10], [16], row.control_start, row.control_end)
    covered = pd.DataFrame({"seq_index": [0, 0], "start": [0, 15], "end": [20, 40]})
    assert control_intervals(covered, [LENGTH], seed=0)[["control_seq", "control_start", "how"]].values.tolist() \
        == [[-1, -1, "none"], [-1, -1, "none"]]
    with pytest.raises(InputError, match="does not lie inside"):
        control_intervals(pd.DataFrame({"seq_index": [0], "start": [35], "end": [41]}), [LENGTH])
    with pytest.raises(InputError, match="does not lie inside"):
        control_intervals(pd.DataFrame({"seq_index": [3], "start": [0], "end": [4]}), [LENGTH] * 3)


# -- shares ----------------------------------------------------------------------------------------------------


def test_key_letter_mass_is_the_letter_map_summed_over_queries():
    probs = np.random.default_rng(0).random((2, 3, len(SPANS), len(SPANS))).astype(np.float32)
    np.testing.assert_allclose(key_letter_mass(probs, SPANS, LENGTH), letter_attention(probs, SPANS, LENGTH).sum(-2),
                               rtol=1e-5)


FOCUS = [(2 + 6 * s, 8 + 6 * s) for s in range(6)]  # sequence s: attention on letters [2 + 6s, 8 + 6s)


def test_attention_inside_the_instances_has_share_one_and_control_zero():
    masses = [key_letter_mass(_focused_probs(focus), SPANS, LENGTH) for focus in FOCUS]
    instances = pd.DataFrame({"seq_index": range(6), "motif": "m", "start": [f[0] for f in FOCUS],
                              "end": [f[1] for f in FOCUS]})
    controls = control_intervals(instances, [LENGTH] * 6, seed=0)
    assert (controls["how"] == "other").all()
    table = shares_on_motifs(masses, controls)
    assert list(table.columns) == RESULT_COLUMNS
    assert table[["layer", "head"]].values.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert (table["sequences"] == 6).all()
    np.testing.assert_allclose(table["share"], 1.0, rtol=1e-12)
    np.testing.assert_allclose(table["control"], 0.0, atol=1e-12)
    assert np.isinf(table["ratio"]).all()
    np.testing.assert_allclose(table["coverage"], 6 / LENGTH)
    np.testing.assert_allclose(table["p_value"], 2 / 2 ** 6)  # exact signed-rank p: 6 of 6 differences positive
    np.testing.assert_allclose(table["q_value"], 2 / 2 ** 6)


def test_even_attention_gives_the_coverage_on_both_sides_and_p_one():
    masses = [np.ones((2, 2, LENGTH)) for _ in range(6)]
    instances = pd.DataFrame({"seq_index": [0, 1, 1, 2, 3, 4, 5], "start": [0, 3, 5, 30, 12, 20, 34],
                              "end": [4, 9, 11, 40, 20, 22, 39]})
    table = shares_on_motifs(masses, control_intervals(instances, [LENGTH] * 6, seed=3))
    coverage = np.mean([4, 8, 10, 8, 2, 5]) / LENGTH  # sequence 1's two instances overlap: letters 3..10 once
    np.testing.assert_allclose(table["share"], coverage)
    np.testing.assert_allclose(table["control"], coverage)
    np.testing.assert_allclose(table[["ratio", "p_value", "q_value"]], 1.0)
    np.testing.assert_allclose(table["coverage"], coverage)


def test_fewer_than_five_sequences_with_instances_are_undefined():
    masses = [key_letter_mass(_focused_probs(focus), SPANS, LENGTH) for focus in FOCUS]
    instances = pd.DataFrame({"seq_index": range(MIN_SEQUENCES - 1), "start": 2, "end": 8})
    table = shares_on_motifs(masses, control_intervals(instances, [LENGTH] * 6))
    assert len(table) == 4 and (table["sequences"] == MIN_SEQUENCES - 1).all()
    assert table[["share", "control", "ratio", "coverage", "p_value", "q_value"]].isna().all().all()
    seqs = [_random(LENGTH, s) for s in range(6)]
    out = attention_on_motifs(_model(), seqs, instances)
    assert out[["layer", "head"]].values.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert out["share"].isna().all() and (out["sequences"] == MIN_SEQUENCES - 1).all()


# -- the model path --------------------------------------------------------------------------------------------


def test_attention_on_motifs_reads_the_model_attention_per_sequence(monkeypatch):
    seqs = [_random(LENGTH, 10 + s) for s in range(7)]  # sequence 6 has no instance: a possible control
    focus = dict(zip(seqs, FOCUS + [(30, 36)]))

    def fake_probs(model, inputs):  # (B, N, H, L, L): each sequence's own focus
        return np.stack([_focused_probs(focus[TOKENIZER.decode(ids)]) for ids in inputs.input_ids])

    monkeypatch.setattr(motif_attention, "attention_probs", fake_probs)
    instances = pd.DataFrame({"seq_index": range(6), "motif": "m", "start": [f[0] for f in FOCUS],
                              "end": [f[1] for f in FOCUS]})
    table = attention_on_motifs(_model(), seqs, instances, batch_size=3, seed=1)
    np.testing.assert_allclose(table["share"], 1.0, rtol=1e-12)
    np.testing.assert_allclose(table["control"], 0.0, atol=1e-12)
    # every instance at one place in every sequence: no other sequence is free, so each control is shifted off it
    same = pd.DataFrame({"seq_index": range(6), "start": 2, "end": 8})
    focus = dict.fromkeys(seqs, (2, 8))
    assert (control_intervals(same, [LENGTH] * 6)["how"] == "shift").all()
    table = attention_on_motifs(_model(), seqs[:6], same)
    np.testing.assert_allclose(table["share"], 1.0, rtol=1e-12)
    np.testing.assert_allclose(table["control"], 0.0, atol=1e-12)


def test_attention_on_motifs_matches_the_dense_letter_maps():
    model = _model()
    seqs = [_random(LENGTH, 20 + s) for s in range(8)]
    instances = pd.DataFrame({"seq_index": [0, 1, 2, 3, 4, 5], "start": [0, 5, 10, 15, 20, 25],
                              "end": [6, 11, 16, 21, 26, 31]})
    table = attention_on_motifs(model, seqs, instances, batch_size=3, seed=4)
    masses = [sequence_attention(model, seq).letters().astype(np.float64).sum(-2) for seq in seqs]
    expected = shares_on_motifs(masses, control_intervals(instances, [LENGTH] * 8, seed=4))
    pd.testing.assert_frame_equal(table, expected, rtol=1e-5)
    assert (table["share"] > 0).all() and (table["control"] > 0).all()


def test_attention_on_motifs_refuses_protein_models_and_bad_instances():
    instances = pd.DataFrame({"seq_index": [0], "start": [0], "end": [4]})
    with pytest.raises(InputError, match="DNA model"):
        attention_on_motifs(_model(ProteinTokenizer()), ["ACDE"], instances)
    with pytest.raises(InputError, match="lacks column"):
        attention_on_motifs(_model(), ["ACGT" * 10], pd.DataFrame({"seq_index": [0]}))


# -- the figure ------------------------------------------------------------------------------------------------


def test_the_heatmap_is_centred_at_zero_and_stars_significant_heads():
    table = pd.DataFrame({"layer": [0, 0, 1, 1], "head": [0, 1, 0, 1], "share": [0.2, 0.1, 0.1, np.nan],
                          "control": [0.1, 0.1, 0.4, 0.1], "q_value": [0.01, 0.5, 0.04, np.nan]})
    np.testing.assert_allclose(motif_attention_grid(table), [[1.0, 0.0], [-2.0, np.nan]])
    fig = plot_motif_attention(table, title="tiny model")
    check_figure(fig)
    (ax,) = [ax for ax in fig.axes if ax.images]
    image = ax.images[0]
    assert image.norm.vmin == -2.0 and image.norm.vmax == 2.0
    assert "log2(share / control)" in image.colorbar.ax.get_ylabel()
    assert sorted((t.get_position(), t.get_text()) for t in ax.texts) == [((0, 0), "*"), ((0, 1), "*")]
    assert ax.get_xlabel() == "head" and ax.get_ylabel() == "layer"


def test_the_heatmap_of_an_undefined_table_is_grey_and_passes_the_checks():
    table = pd.DataFrame({"layer": np.repeat(range(4), 8), "head": np.tile(range(8), 4), "share": np.nan,
                          "control": np.nan, "q_value": np.nan})
    fig = plot_motif_attention(table)
    check_figure(fig)
    assert np.isnan(motif_attention_grid(table)).all() and not fig.axes[0].texts
