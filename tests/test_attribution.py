"""Per-base attributions: the one-hot path equals the ids forward (every k-mer layout), grad × input
against finite differences, ISM against editing the string, the two exactly related on a model
linear in the one-hot input, integrated gradients' completeness, strand symmetry; the CLI's files
(npz, bigWig, bedGraph) and its bad-input errors."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch
from helpers import cli_error, cli_ok

from seqformer.analysis.attribution import (
    BEDGRAPH_FILE,
    BIGWIG_FILE,
    NPZ_FILE,
    OneHotPath,
    attribute,
    centre_channels,
    onehot,
)
from seqformer.io import reverse_complement
from seqformer.models import EncoderConfig
from seqformer.models.classifier import ClassifierConfig, SequenceClassifier
from seqformer.tokenizers import KmerTokenizer, ProteinTokenizer

WINDOW = 20
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
NT_SPECIALS = {"pad": "<pad>", "unk": "<unk>", "cls": "<cls>", "mask": "<mask>"}


def atcg(k: int) -> list[str]:
    """k-mers in DNABERT's order (A T C G), unlike the canonical A C G T."""
    return ["".join(p) for p in itertools.product("ATCG", repeat=k)]


TOKENIZERS = {
    "k1": lambda: KmerTokenizer(1, 1),
    "k3": lambda: KmerTokenizer(3, 1),
    "k3-stride3": lambda: KmerTokenizer(3, 3),  # 20 bases: a trailing [UNK] for the last 2
    "k3-dnabert-vocab": lambda: KmerTokenizer(3, 1, vocab=BERT_SPECIALS + atcg(3)),
    "k3-nt-bases": lambda: KmerTokenizer(3, 3, leftover="bases", framing="cls", special_tokens=NT_SPECIALS,
                                         vocab=["<unk>", "<pad>", "<mask>", "<cls>", *atcg(3), *"ATCGN"]),
}


def spread(model: torch.nn.Module, seed: int, std: float = 0.5) -> torch.nn.Module:
    """Every weight re-drawn with ``std``, so outputs differ clearly between sequences."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)
    return model.eval()


def classifier(tokenizer=None, labels=("promoter",), seed: int = 0, **encoder) -> SequenceClassifier:
    """A 1-layer, width-16 classifier over ``tokenizer`` (default 3-mers, stride 1)."""
    tokenizer = tokenizer or KmerTokenizer(3, 1)
    config = EncoderConfig.for_tokenizer(tokenizer, **{"hidden_size": 16, "num_layers": 1, "num_heads": 2,
                                                       "ffn_size": 32, "max_length": 64, **encoder})
    model = SequenceClassifier(ClassifierConfig(config, tuple(labels), window=WINDOW, head_dropout=0.0),
                               tokenizer=tokenizer)
    return spread(model, seed)


def windows(count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), WINDOW)) for _ in range(count)]


def ids_logits(model, seqs) -> torch.Tensor:
    batch = model.tokenizer.batch_encode(list(seqs))
    with torch.no_grad():
        return model(batch.input_ids, batch.attention_mask).logits  # (B, T)


def path_logits(model, seqs, x=None) -> torch.Tensor:
    path = OneHotPath(model)
    x = torch.from_numpy(onehot(seqs)).to(next(model.parameters()).dtype) if x is None else x
    with torch.no_grad():
        return path.logits(x, path.layout(seqs))


# --- the one-hot path --------------------------------------------------------------------------

def test_onehot_rows():
    x = onehot(["ACGTN", "tgcaR"])
    assert x.dtype == np.float32 and x.shape == (2, 5, 4)
    assert x[0].argmax(-1)[:4].tolist() == [0, 1, 2, 3] and x[1].argmax(-1)[:4].tolist() == [3, 2, 1, 0]
    assert x[:, 4].sum() == 0 and x[:, :4].sum() == 8


@pytest.mark.parametrize("name", sorted(TOKENIZERS))
def test_onehot_forward_equals_ids_forward(name):
    model = classifier(TOKENIZERS[name](), labels=("a", "b"))
    seqs = windows(3)
    seqs.append(seqs[0][:7] + "N" + seqs[0][8:])  # an N: its k-mers stay [UNK], as the ids have them
    torch.testing.assert_close(path_logits(model, seqs), ids_logits(model, seqs), atol=1e-5, rtol=1e-5)
    path = OneHotPath(model)
    layout = path.layout(seqs)
    made = layout.widths > 0  # the tokens made from the one-hot input are exactly the tokenizer's k-mers
    kmer_ids = path.kmer_ids(model.tokenizer.k)
    assert made.sum() > 0 and set(layout.input_ids[made].tolist()) <= set(kmer_ids.tolist()) | set(
        path.kmer_ids(1).tolist() if name == "k3-nt-bases" else [])
    assert not made[:, 0].any()  # [CLS] keeps its row


def test_onehot_forward_through_every_embedding_option():
    """Scale, learned positions, embedding norm and token dropout apply to inputs_embeds as to ids."""
    tok = KmerTokenizer(3, 1)
    model = classifier(tok, position="learned", position_offset=2, embedding_norm=True, embedding_scale=2.0,
                       token_dropout=True, mask_id=tok.mask_id)
    seqs = windows(2)
    torch.testing.assert_close(path_logits(model, seqs), ids_logits(model, seqs), atol=1e-5, rtol=1e-5)
    batch = tok.batch_encode(seqs)
    embeds = model.encoder.embed(batch.input_ids)
    with torch.no_grad():
        by_ids = model.encoder(batch.input_ids, batch.attention_mask).last_hidden_state
        both = model.encoder(batch.input_ids, batch.attention_mask, inputs_embeds=embeds).last_hidden_state
        alone = model.encoder(attention_mask=batch.attention_mask, inputs_embeds=embeds).last_hidden_state
    torch.testing.assert_close(both, by_ids)
    assert not torch.allclose(alone, by_ids, atol=1e-3)  # without ids, token dropout (x 0.88 here) is skipped
    with pytest.raises(ValueError, match="input_ids or inputs_embeds"):
        model.encoder()
    with pytest.raises(ValueError, match="inputs_embeds must be"):
        model.encoder(inputs_embeds=embeds[..., :4])


# --- the methods -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["k3", "k3-stride3"])
def test_gradient_equals_finite_differences(name):
    model = copy.deepcopy(classifier(TOKENIZERS[name]())).double()
    seq = windows(1, seed=3)[0]
    result = attribute(model, [seq], method="grad_x_input", strands="plus")
    x = torch.from_numpy(onehot([seq])).double()[0]  # (n, 4)
    h = 1e-4
    steps = torch.eye(WINDOW * 4, dtype=torch.float64).view(-1, WINDOW, 4) * h  # (4n, n, 4) one channel each
    up = path_logits(model, [seq] * len(steps), x + steps)[:, 0]
    down = path_logits(model, [seq] * len(steps), x - steps)[:, 0]
    numeric = ((up - down) / (2 * h)).view(WINDOW, 4).numpy()
    np.testing.assert_allclose(result.hypothetical[0], numeric, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(result.scores[0], (numeric * x.numpy()).sum(-1), rtol=1e-5, atol=1e-9)
    assert np.abs(numeric).max() > 1e-3
    assert result.logits[0] == pytest.approx(float(ids_logits(model, [seq])[0, 0]), rel=1e-6)


@pytest.mark.parametrize("strands", ["plus", "both"])
def test_ism_equals_editing_the_string(strands):
    model = classifier(labels=("open", "bound"))
    seq = windows(1, seed=5)[0]
    seq = seq[:4] + "N" + seq[5:]  # at an N all four bases are substitutions
    result = attribute(model, [seq], target="bound", method="ism", strands=strands, batch_size=7)

    def logit(s: str) -> float:
        value = float(ids_logits(model, [s])[0, 1])
        return (value + float(ids_logits(model, [reverse_complement(s)])[0, 1])) / 2 if strands == "both" else value

    table = np.array([[logit(seq[:i] + base + seq[i + 1:]) for base in "ACGT"] for i in range(WINDOW)])
    expected = table - table.mean(1, keepdims=True)
    np.testing.assert_allclose(result.hypothetical[0], expected, atol=1e-5)
    observed = ["ACGT".index(b) if b != "N" else None for b in seq]
    np.testing.assert_allclose(result.scores[0], [0 if b is None else expected[i, b] for i, b in enumerate(observed)],
                               atol=1e-5)
    assert result.scores[0, 4] == 0 and result.logits[0] == pytest.approx(logit(seq), abs=1e-5)
    assert result.target == "bound" and result.method == "ism" and np.abs(expected).max() > 1e-2


def test_gradient_and_ism_agree_exactly_on_a_model_linear_in_the_onehot():
    """Blocks zeroed (identity), no final norm: the logit is a sum over tokens of head·E[k-mer], linear
    in each base's row given the others, so ISM = the gradient centred over the 4 bases."""
    model = classifier(final_norm=False, seed=2)
    with torch.no_grad():
        for parameter in model.encoder.blocks.parameters():
            parameter.zero_()
    seqs = windows(2, seed=7)
    for strands in ("plus", "both"):
        gradient = attribute(model, seqs, method="grad_x_input", strands=strands)
        ism = attribute(model, seqs, method="ism", strands=strands)
        np.testing.assert_allclose(centre_channels(gradient.hypothetical), ism.hypothetical, atol=1e-5)
        np.testing.assert_allclose(gradient.scores - gradient.hypothetical.mean(-1), ism.scores, atol=1e-5)
        np.testing.assert_allclose(gradient.logits, ism.logits, atol=1e-5)
        assert np.abs(ism.hypothetical).max() > 0.05
    curved = classifier(seed=2)  # the same with its blocks: the two differ by the model's curvature
    gradient, ism = (attribute(curved, seqs, method=m, strands="plus") for m in ("grad_x_input", "ism"))
    assert np.abs(centre_channels(gradient.hypothetical) - ism.hypothetical).max() > 1e-3


def test_integrated_gradients_completeness():
    from captum.attr import IntegratedGradients

    model = classifier(seed=4)
    seqs = windows(3, seed=9)
    result = attribute(model, seqs, method="integrated_gradients", strands="plus", n_steps=32, batch_size=2)
    path = OneHotPath(model)
    layout = path.layout(seqs)
    x = torch.from_numpy(onehot(seqs))
    with torch.no_grad():
        change = (path.logits(x, layout) - path.logits(torch.zeros_like(x), layout))[:, 0].double().numpy()

    def forward(inputs, *tensors):
        return path.logits(inputs, type(layout)(*tensors))[:, 0]

    attributions, delta = IntegratedGradients(forward).attribute(
        x, baselines=torch.zeros_like(x), n_steps=32, return_convergence_delta=True,
        additional_forward_args=(layout.input_ids, layout.attention_mask, layout.starts, layout.widths))
    np.testing.assert_allclose(result.scores, attributions.sum(-1).detach().numpy(), atol=1e-6)
    totals = result.scores.sum(1)
    assert np.all(np.abs(totals - change) <= np.abs(delta.detach().numpy()) + 1e-5)
    assert np.all(np.abs(totals - change) < 1e-2 * np.abs(change))  # and that delta is small
    np.testing.assert_allclose(result.scores, (result.hypothetical * result.onehot).sum(-1), atol=1e-6)
    assert (result.hypothetical * (1 - result.onehot)).any()  # gradients at the bases not there too


@pytest.mark.parametrize("method", ["grad_x_input", "ism", "integrated_gradients"])
def test_both_strands_map_onto_each_other(method):
    model = classifier(seed=6)
    seq = windows(1, seed=11)[0]
    forward, reverse = (attribute(model, [s], method=method, n_steps=8) for s in (seq, reverse_complement(seq)))
    np.testing.assert_allclose(reverse.hypothetical[0], forward.hypothetical[0, ::-1, ::-1], atol=1e-6)
    np.testing.assert_allclose(reverse.scores[0], forward.scores[0, ::-1], atol=1e-6)
    assert reverse.logits[0] == pytest.approx(forward.logits[0], abs=1e-6)
    palindrome = seq[:10] + reverse_complement(seq[:10])
    both = attribute(model, [palindrome], method=method, n_steps=8)
    np.testing.assert_allclose(both.hypothetical[0], both.hypothetical[0, ::-1, ::-1], atol=1e-6)
    plus = attribute(model, [palindrome], method=method, strands="plus", n_steps=8)
    assert not np.allclose(plus.hypothetical[0], plus.hypothetical[0, ::-1, ::-1], atol=1e-4)


def test_library_errors():
    from seqformer.errors import InputError

    model = classifier(labels=("a", "b"))
    with pytest.raises(InputError, match=r"no output 'c'; its labels are \['a', 'b'\]"):
        attribute(model, windows(1), target="c")
    with pytest.raises(InputError, match="one length"):
        attribute(model, [windows(1)[0], "ACGT"])
    with pytest.raises(InputError, match="method must be one of"):
        attribute(model, windows(1), method="saliency")
    assert attribute(model, windows(1)).target == "a"  # the first label by default
    protein = ProteinTokenizer()
    encoder = EncoderConfig.for_tokenizer(protein, hidden_size=16, num_layers=1, num_heads=2, ffn_size=32)
    with pytest.raises(InputError, match="k-mer tokenizer"):
        attribute(SequenceClassifier(ClassifierConfig(encoder, ("x",)), tokenizer=protein), ["MKV"])


# --- the CLI -----------------------------------------------------------------------------------

GENOME = {"chr1": "".join(np.random.default_rng(1).choice(list("ACGT"), 80)),
          "chr2": "".join(np.random.default_rng(2).choice(list("ACGT"), 40))}
# chr1 10-30 as it is; chr1 20-40 overlapping it; chr1 40-50 on -, 10 bases, centred on the genome to
# 35-55; chr2 0-30, 30 bases, cropped to 5-25.
BED = "track name=x\nchr1\t10\t30\t.\t0\t+\nchr1\t20\t40\t.\t0\t+\nchr1\t40\t50\t.\t0\t-\nchr2\t0\t30\t.\t0\t.\n"
EXPECTED = [("chr1", 10, "+"), ("chr1", 20, "+"), ("chr1", 35, "-"), ("chr2", 5, "+")]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("attribute")
    (root / "genome.fa").write_text("".join(f">{c}\n{s}\n" for c, s in GENOME.items()))
    (root / "windows.bed").write_text(BED)
    classifier(labels=("open", "bound")).save_pretrained(root / "clf")
    return root


def test_cli_bed_writes_npz_bigwig_and_bedgraph(files, tmp_path):
    import pyBigWig

    out = tmp_path / "attr"
    cli_ok("attribute", "--model", files / "clf", "--genome", files / "genome.fa", "--bed", files / "windows.bed",
           "--out", out, "--target", "bound", "--quiet")
    data = np.load(out / NPZ_FILE)
    seqs = [GENOME[c][s:s + WINDOW] if strand == "+" else reverse_complement(GENOME[c][s:s + WINDOW])
            for c, s, strand in EXPECTED]
    expected = attribute(classifier(labels=("open", "bound")), seqs, target="bound")
    assert data["names"].tolist() == ["chr1:11-30", "chr1:21-40", "chr1:36-55(-)", "chr2:6-25"]
    assert data["chrom"].tolist() == [c for c, _, _ in EXPECTED] and data["start"].dtype == np.int64
    assert data["start"].tolist() == [s for _, s, _ in EXPECTED] and data["strand"].tolist() == ["+", "+", "-", "+"]
    assert str(data["target"]) == "bound" and str(data["method"]) == "grad_x_input"
    for key in ("onehot", "hypothetical", "scores"):
        assert data[key].dtype == np.float32
        np.testing.assert_allclose(data[key], getattr(expected, key), atol=1e-6)
    assert data["onehot"].shape == (4, WINDOW, 4) and data["scores"].shape == (4, WINDOW)
    np.testing.assert_array_equal(data["onehot"], onehot(seqs))

    track = {c: np.zeros(len(s)) for c, s in GENOME.items()}  # per-base mean over covering windows
    count = {c: np.zeros(len(s)) for c, s in GENOME.items()}
    for (c, s, strand), scores in zip(EXPECTED, data["scores"].astype(np.float64)):
        track[c][s:s + WINDOW] += scores[::-1] if strand == "-" else scores
        count[c][s:s + WINDOW] += 1
    with pyBigWig.open(str(out / BIGWIG_FILE)) as bw:
        assert bw.chroms() == {c: len(s) for c, s in GENOME.items()}
        for c in GENOME:
            covered = count[c] > 0
            values = np.array(bw.values(c, 0, len(GENOME[c])))
            np.testing.assert_allclose(values[covered], (track[c][covered] / count[c][covered]).astype(np.float32),
                                       rtol=1e-6)
            assert np.isnan(values[~covered]).all()
    lines = (out / BEDGRAPH_FILE).read_text().splitlines()
    assert lines[0].startswith("track type=bedGraph")
    per_base = {}
    for line in lines[1:]:
        c, s, e, v = line.split("\t")
        per_base |= {(c, p): float(v) for p in range(int(s), int(e))}
    assert len(per_base) == int(count["chr1"].astype(bool).sum() + count["chr2"].astype(bool).sum())
    assert per_base["chr1", 36] == pytest.approx(track["chr1"][36] / 2, rel=1e-6)  # two windows there


def test_cli_fasta_ism_plus(files, tmp_path):
    seqs = windows(2, seed=13)
    (tmp_path / "seqs.fa").write_text(f">one\n{seqs[0]}\n>two\n{seqs[1]}\n")
    out = tmp_path / "attr"
    stdout = cli_ok("attribute", "--model", files / "clf", "--fasta", tmp_path / "seqs.fa", "--out", out,
                    "--method", "ism", "--strands", "plus", "--quiet")
    assert "2 windows" in stdout and sorted(p.name for p in out.iterdir()) == [NPZ_FILE]
    data = np.load(out / NPZ_FILE)
    assert data["names"].tolist() == ["one", "two"] and "chrom" not in data
    expected = attribute(classifier(labels=("open", "bound")), seqs, method="ism", strands="plus")
    np.testing.assert_allclose(data["hypothetical"], expected.hypothetical, atol=1e-6)
    assert str(data["target"]) == "open"  # the first label by default


@pytest.mark.parametrize("case, message", [
    ("target", "no output 'nope'; its labels are ['open', 'bound']"),
    ("empty bed", "no intervals"),
    ("off the contig", "line 2: the interval chr2:36-40 has 5 bases and the model's window is 20"),
    ("short record", "record 'short': the record has 19 bases and the model's window is 20"),
    ("protein", "k-mer tokenizer"),
    ("method", "--method must be one of grad_x_input, ism, integrated_gradients"),
    ("both inputs", "give either --genome with --bed, or --fasta"),
])
def test_cli_errors(files, tmp_path, case, message):
    source = ["--genome", files / "genome.fa", "--bed", files / "windows.bed"]
    model, extra = files / "clf", []
    if case == "target":
        extra = ["--target", "nope"]
    elif case == "empty bed":
        (tmp_path / "empty.bed").write_text("# nothing\n")
        source[-1] = tmp_path / "empty.bed"
    elif case == "off the contig":
        (tmp_path / "edge.bed").write_text("chr1\t10\t30\nchr2\t35\t40\n")
        source[-1] = tmp_path / "edge.bed"
    elif case == "short record":
        (tmp_path / "seqs.fa").write_text(f">fine\n{'A' * WINDOW}\n>short\n{'A' * (WINDOW - 1)}\n")
        source = ["--fasta", tmp_path / "seqs.fa"]
    elif case == "protein":
        protein = ProteinTokenizer()
        encoder = EncoderConfig.for_tokenizer(protein, hidden_size=16, num_layers=1, num_heads=2, ffn_size=32)
        SequenceClassifier(ClassifierConfig(encoder, ("x",)), tokenizer=protein).save_pretrained(tmp_path / "prot")
        model = tmp_path / "prot"
    elif case == "method":
        extra = ["--method", "saliency"]
    elif case == "both inputs":
        source += ["--fasta", files / "genome.fa"]
    line = cli_error("attribute", "--model", model, *source, "--out", tmp_path / "out", *extra)
    assert message in line
    assert not (tmp_path / "out").exists()
