"""Tokenizer layouts that reproduce other projects' vocabularies: DNABERT, ESM-2, Nucleotide Transformer v1.

Expected ids are computed independently here (``vocab.index`` of each token, or a plain-Python
reference of the Nucleotide Transformer's rules), and checked against fair-esm's alphabet and
transformers' EsmTokenizer where those are installed.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from seqformer.data.masking import MaskingCollator, MaskingConfig, mask_tokens
from seqformer.tokenizers import KmerTokenizer, ProteinTokenizer, Tokenizer, TokenizerFileError, load_tokenizer
from seqformer.tokenizers.base import CLS_ID, MASK_ID, PAD_ID, SEP_ID, SPECIAL_TOKENS, UNK_ID

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# fair-esm's Alphabet.from_architecture("ESM-1b") (ESM-2 too): I before D
ESM_VOCAB = ("<cls> <pad> <eos> <unk> L A G V S E R T I D P K Q N F Y M H W C X B U Z O . - <null_1> "
             "<mask>").split()
ESM_SPECIALS = {"pad": "<pad>", "unk": "<unk>", "cls": "<cls>", "sep": "<eos>", "mask": "<mask>"}
NT_SPECIALS = {"pad": "<pad>", "unk": "<unk>", "cls": "<cls>", "mask": "<mask>"}


def atcg_kmers(k: int) -> list[str]:
    return ["".join(p) for p in itertools.product("ATCG", repeat=k)]


def dnabert(k: int) -> KmerTokenizer:
    return KmerTokenizer(k, 1, vocab=BERT_SPECIALS + atcg_kmers(k))


def esm() -> ProteinTokenizer:
    return ProteinTokenizer(vocab=ESM_VOCAB, special_tokens=ESM_SPECIALS)


def nt_vocab(k: int = 6) -> list[str]:
    return ["<unk>", "<pad>", "<mask>", "<cls>"] + atcg_kmers(k) + list("ATCGN")


def nucleotide_transformer(k: int = 6) -> KmerTokenizer:
    return KmerTokenizer(k, k, leftover="bases", vocab=nt_vocab(k), special_tokens=NT_SPECIALS, framing="cls")


def nt_reference(seq: str, k: int) -> list[tuple[str, int, int]]:
    """(token, start, end) by the Nucleotide Transformer's rules, one letter at a time."""
    out, run = [], ""
    seq = seq.upper()

    def flush(end: int) -> None:
        start = end - len(run)
        full = len(run) - len(run) % k
        out.extend((run[i : i + k], start + i, start + i + k) for i in range(0, full, k))
        out.extend((run[i], start + i, start + i + 1) for i in range(full, len(run)))

    for i, letter in enumerate(seq):
        if letter in "ACGT":
            run += letter
        else:
            flush(i)
            run = ""
            out.append(("N", i, i + 1))
    flush(len(seq))
    return out


# --- DNABERT ---------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [3, 6])
def test_dnabert_exact_ids(k):
    tok, vocab = dnabert(k), BERT_SPECIALS + atcg_kmers(k)
    seq = "ACGTTGCAAGTCNAGGCT"
    expected = [2] + [vocab.index(seq[i : i + k]) if "N" not in seq[i : i + k] else 1
                      for i in range(len(seq) - k + 1)] + [3]
    assert tok.encode(seq).tolist() == expected
    assert tok.encode(seq.lower()).tolist() == expected
    assert tok.vocab == tuple(vocab) and tok.vocab_size == 5 + 4**k
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    assert tok.body_ids.tolist() == list(range(5, 5 + 4**k))


def test_dnabert_hand_written_ids():
    # A=0 T=1 C=2 G=3: ACG = 5 + 0*16 + 2*4 + 3 = 16, CGT = 5 + 2*16 + 3*4 + 1 = 50, GTN = [UNK]
    assert dnabert(3).encode("ACGTN").tolist() == [2, 16, 50, 1, 3]
    assert dnabert(3).token_to_id("TTT") == 5 + 21 and dnabert(3).id_to_token(16) == "ACG"


@pytest.mark.parametrize("k", [3, 6])
def test_dnabert_decode_and_save_load(tmp_path, k):
    tok = dnabert(k)
    seq = "ACGTTGCAAGTCAGGCT"
    assert tok.decode(tok.encode(seq)) == seq
    masked = tok.encode(seq)
    masked[1] = tok.mask_id  # the first k-mer: its first base is covered by no other
    assert tok.decode(masked) == "N" + seq[1:]
    path = tok.save(tmp_path)
    data = json.loads(path.read_text())
    assert data["special_tokens"] == dict(zip(["pad", "unk", "cls", "sep", "mask"], BERT_SPECIALS))
    assert (data["framing"], data["leftover"], data["vocab"]) == ("cls-sep", "unk", list(tok.vocab))
    loaded = load_tokenizer(tmp_path)
    assert loaded == tok and hash(loaded) == hash(tok) and loaded != KmerTokenizer(k)
    assert loaded.encode(seq).tolist() == tok.encode(seq).tolist()


# --- ESM-2 -----------------------------------------------------------------------------------
def test_esm_exact_ids():
    tok = esm()
    expected = [0] + [ESM_VOCAB.index(letter) for letter in "MKTAYIAK"] + [2]
    assert expected == [0, 20, 15, 11, 5, 19, 12, 5, 15, 2]
    assert tok.encode("MKTAYIAK").tolist() == expected
    assert tok.encode("mktayiak*").tolist() == expected  # lowercase, trailing stop
    assert tok.encode("MK", add_special_tokens=False).tolist() == [20, 15]
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (1, 3, 0, 2, 32)
    assert tok.special_ids == (1, 3, 0, 2, 32) and tok.vocab_size == 33
    assert tok.token_spans(3).tolist() == [[-1, -1], [0, 1], [1, 2], [2, 3], [-1, -1]]


def test_esm_batch_padding_and_truncation():
    tok = esm()
    batch = tok.batch_encode(["MKTAYIAK", "MK"])
    assert batch.input_ids.tolist() == [[0, 20, 15, 11, 5, 19, 12, 5, 15, 2], [0, 20, 15, 2] + [1] * 6]
    assert batch.attention_mask.sum(1).tolist() == [10, 4]
    batch = tok.batch_encode(["MKTAYIAK"], max_length=4, truncation=True)
    assert batch.input_ids.tolist() == [[0, 20, 15, 2]]  # <eos> kept last


def test_esm_body_ids_and_decode():
    tok = esm()
    assert tok.body_ids.tolist() == list(range(4, 29))  # L .. O; not . - <null_1>
    ids = torch.tensor([[0, 4, 28, 29, 31, 32, 2, 1]])
    assert tok.is_body(ids).tolist() == [[False, True, True, False, False, False, False, False]]
    assert tok.is_body(ids.numpy()).tolist() == tok.is_body(ids).tolist()
    # specials skipped; <mask>, <unk> and the extras . - <null_1> decode as X
    assert tok.decode([0, 20, 15, 29, 30, 31, 32, 3, 2, 1, 1]) == "MKXXXXX"
    assert tok.decode(tok.encode("MKTAYIAKBZUOX")) == "MKTAYIAKBZUOX"


def test_esm_matches_fair_esm():
    esm_data = pytest.importorskip("esm.data")
    alphabet = esm_data.Alphabet.from_architecture("ESM-1b")
    assert alphabet.all_toks == ESM_VOCAB
    _, _, tokens = alphabet.get_batch_converter()([("a", "MKTAYIAK"), ("b", "MK")])
    assert esm().batch_encode(["MKTAYIAK", "MK"]).input_ids.tolist() == tokens.tolist()


def test_non_contiguous_body_ids():
    vocab = ESM_VOCAB[:10] + ["<null_0>"] + ESM_VOCAB[10:]  # an extra among the letters
    tok = ProteinTokenizer(vocab=vocab, special_tokens=ESM_SPECIALS)
    assert 10 not in tok.body_ids.tolist() and len(tok.body_ids) == 25
    ids = np.array([9, 10, 11])
    assert tok.is_body(ids).tolist() == [True, False, True]
    assert tok.is_body(torch.from_numpy(ids)).tolist() == [True, False, True]
    assert tok.decode([9, 10, 11]) == "EXR"


# --- Nucleotide Transformer v1 --------------------------------------------------------------
@pytest.mark.parametrize(
    ("seq", "tokens", "spans"),
    [
        ("ACGTACGTAC", ["ACGTAC", "G", "T", "A", "C"], [[0, 6], [6, 7], [7, 8], [8, 9], [9, 10]]),
        ("ACGTACNNACGTACG", ["ACGTAC", "N", "N", "ACGTAC", "G"], [[0, 6], [6, 7], [7, 8], [8, 14], [14, 15]]),
        ("acgtaRcgtacgtacgtt", ["A", "C", "G", "T", "A", "N", "CGTACG", "TACGTT"],
         [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6], [6, 12], [12, 18]]),
        ("NY", ["N", "N"], [[0, 1], [1, 2]]),
        ("", [], []),
    ],
)
def test_nucleotide_transformer_exact_ids_and_spans(seq, tokens, spans):
    tok, vocab = nucleotide_transformer(), nt_vocab()
    assert tok.vocab_size == 4105
    ids = [vocab.index(token) for token in tokens]
    assert tok.encode(seq).tolist() == [3] + ids  # <cls>, no end token
    assert tok.encode(seq, add_special_tokens=False).tolist() == ids
    assert tok.token_spans(seq).tolist() == [[-1, -1]] + spans
    assert tok.token_spans(seq, add_special_tokens=False).reshape(-1, 2).tolist() == spans
    assert tok.num_tokens(seq) == len(ids) + 1
    assert tok.decode(tok.encode(seq)) == "".join(tokens)


def test_nucleotide_transformer_ids_by_hand():
    tok = nucleotide_transformer()
    # ACGTAC in A=0 T=1 C=2 G=3 order: 4 + (0, 2, 3, 1, 0, 2) in base 4 = 4 + 722; A T C G N = 4100..4104
    assert tok.encode("ACGTACGTAC").tolist() == [3, 726, 4103, 4101, 4100, 4102]
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (1, 0, 3, None, 2)
    assert tok.special_ids == (1, 0, 3, 2) and tok.body_ids.tolist() == list(range(4, 4105))


@pytest.mark.parametrize("k", [2, 3, 6])
def test_nucleotide_transformer_matches_reference(k):
    tok, vocab = nucleotide_transformer(k), nt_vocab(k)
    rng = np.random.default_rng(k)
    for n in (0, 1, 5, 17, 64):
        seq = "".join(rng.choice(list("ACGTACGTACGTNRacgt"), size=n))
        expected = nt_reference(seq, k)
        assert tok.encode(seq, add_special_tokens=False).tolist() == [vocab.index(t) for t, _, _ in expected]
        assert tok.token_spans(seq, add_special_tokens=False).reshape(-1, 2).tolist() == \
            [[start, end] for _, start, end in expected]
        assert tok.decode(tok.encode(seq)) == "".join(t for t, _, _ in expected)


def test_nucleotide_transformer_lengths_framing_and_batches():
    tok = nucleotide_transformer()
    assert tok.num_tokens(14) == 1 + 2 + 2  # a length alone stands for A/C/G/T: 2 k-mers + 2 bases
    assert tok.token_spans(8).tolist() == [[-1, -1], [0, 6], [6, 7], [7, 8]]
    assert tok.num_tokens(0) == 1 and tok.num_tokens("ANNN") == 5
    batch = tok.batch_encode(["ACGTACGTAC", "A"], max_length=3, truncation=True)
    assert batch.input_ids.tolist() == [[3, 726, 4103], [3, 4100, 1]]  # no end token kept; <pad> = 1
    assert tok.batch_encode(["A"], max_length=2).input_ids.tolist() == [[3, 4100]]
    with pytest.raises(ValueError, match="max_length must leave room"):
        tok.batch_encode(["A"], max_length=1)
    masked = tok.encode("ACGTACGTAC")
    masked[1] = tok.mask_id
    assert tok.decode(masked) == "NNNNNN" + "GTAC"  # [MASK] decodes to k N's


def test_nucleotide_transformer_chunks():
    tok = nucleotide_transformer(3)
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGTACGTACGTN"), size=200))
    whole = tok.encode(seq, add_special_tokens=False).tolist()
    for chunk_size in (1, 3, 7, 30, 1000):
        bounds = tok.chunk_bounds(seq, chunk_size)
        assert bounds[0][0] == 0 and bounds[-1][1] == len(seq)
        assert all(end == start for (_, end), (start, _) in zip(bounds, bounds[1:]))
        parts = [tok.encode(seq[a:b], add_special_tokens=False).tolist() for a, b in bounds]
        assert sum(parts, []) == whole
        assert max(len(p) for p in parts) <= max(chunk_size // 3, 1)
    assert tok.chunk_bounds("", 30) == [] and tok.chunk_bounds(0, 30) == []
    with pytest.raises(ValueError, match="pass the sequence"):
        tok.chunk_bounds(200, 30)
    assert KmerTokenizer(3, 1).chunk_bounds("ACGTACG", 2) == KmerTokenizer(3, 1).chunk_bounds(7, 2)


def test_nucleotide_transformer_matches_transformers(tmp_path):
    transformers = pytest.importorskip("transformers")
    (tmp_path / "vocab.txt").write_text("\n".join(nt_vocab()) + "\n")
    hf = transformers.EsmTokenizer(str(tmp_path / "vocab.txt"), unk_token="<unk>", cls_token="<cls>",
                                   pad_token="<pad>", mask_token="<mask>", eos_token=None)
    tok = nucleotide_transformer()
    for seq in ("ACGTACGTAC", "ACGTACNNACGTACG", "ACGTANCGTACGTACGTTT", "TTTTTTTTTTTTA"):
        assert tok.encode(seq).tolist() == hf(seq)["input_ids"]


def test_canonical_vocab_with_bases():
    tok = KmerTokenizer(2, 2, leftover="bases")
    assert tok.vocab[:5] == SPECIAL_TOKENS and tok.vocab[5] == "AA" and tok.vocab[-5:] == tuple("ACGTN")
    assert tok.encode("ACGNT").tolist() == [2, 6, 23, 25, 24, 3]  # AC = 5 + 1, then A C G T N = 21..25
    assert tok.framing == "cls-sep" and tok.body_ids.tolist() == list(range(5, 26))
    assert tok.to_dict()["leftover"] == "bases" and Tokenizer.from_dict(tok.to_dict()) == tok
    assert repr(tok) == "KmerTokenizer(k=2, stride=2, leftover='bases')"


# --- the canonical layout and old files ------------------------------------------------------
OLD_KMER_JSON = ('{"type": "kmer", "version": 1, "k": 1, "stride": 1, "special_tokens": {"[PAD]": 0, '
                 '"[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}, "vocab": ["[PAD]", "[UNK]", "[CLS]", '
                 '"[SEP]", "[MASK]", "A", "C", "G", "T"]}')
OLD_PROTEIN_JSON = ('{"type": "protein", "version": 1, "special_tokens": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, '
                    '"[SEP]": 3, "[MASK]": 4}, "vocab": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "A", "C", '
                    '"D", "E", "F", "G", "H", "I", "K", "L", "M", "N", "P", "Q", "R", "S", "T", "V", "W", "Y", '
                    '"X", "B", "Z", "U", "O"]}')


@pytest.mark.parametrize(("text", "canonical", "seq", "ids"), [
    (OLD_KMER_JSON, KmerTokenizer(1), "ACGTN", [2, 5, 6, 7, 8, 1, 3]),
    (OLD_PROTEIN_JSON, ProteinTokenizer(), "MKV", [2, 15, 13, 22, 3]),
])
def test_old_tokenizer_json_loads_unchanged(tmp_path, text, canonical, seq, ids):
    (tmp_path / "tokenizer.json").write_text(text + "\n")
    loaded = load_tokenizer(tmp_path)
    assert loaded == canonical and hash(loaded) == hash(canonical)
    assert loaded.encode(seq).tolist() == canonical.encode(seq).tolist() == ids
    assert loaded.to_dict() == json.loads(text)  # written back in the same format


def test_canonical_attributes_equal_the_constants():
    for tok in (KmerTokenizer(3), KmerTokenizer(4, 4), ProteinTokenizer()):
        assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (PAD_ID, UNK_ID, CLS_ID, SEP_ID,
                                                                                 MASK_ID)
        assert tok.special_ids == (0, 1, 2, 3, 4) and tok.vocab[:5] == SPECIAL_TOKENS
        assert tok.body_ids.tolist() == list(range(5, tok.vocab_size))
        assert tok.is_canonical
    # a layout spelled out as the canonical one is the canonical tokenizer
    assert KmerTokenizer(2, vocab=list(KmerTokenizer(2).vocab)) == KmerTokenizer(2)
    spelled = ProteinTokenizer(vocab=list(ProteinTokenizer().vocab),
                               special_tokens=dict(zip(["pad", "unk", "cls", "sep", "mask"], SPECIAL_TOKENS)))
    assert spelled == ProteinTokenizer() and spelled.to_dict() == ProteinTokenizer().to_dict()


def test_layout_in_equality_and_model_config():
    from seqformer.models.config import EncoderConfig

    assert dnabert(3) != KmerTokenizer(3) and esm() != ProteinTokenizer()
    assert ProteinTokenizer(framing="cls") != ProteinTokenizer()
    assert nucleotide_transformer() == Tokenizer.from_dict(nucleotide_transformer().to_dict())
    config = EncoderConfig.for_tokenizer(nucleotide_transformer(), hidden_size=32, num_layers=2, num_heads=2,
                                         ffn_size=64)
    assert config.tokenizer == {"type": "kmer", "version": 1, "k": 6, "stride": 6, "leftover": "bases",
                                "framing": "cls"}
    assert (config.vocab_size, config.pad_id) == (4105, 1)


def test_framing_cls_on_canonical_vocab():
    tok = ProteinTokenizer(framing="cls")
    assert tok.encode("MK").tolist() == [2, 15, 13] and tok.sep_id is None
    assert tok.special_ids == (0, 1, 2, 4) and tok.decode([2, 15, 3, 13]) == "MXK"  # [SEP] is an unused extra
    assert tok.token_spans(2).tolist() == [[-1, -1], [0, 1], [1, 2]]
    assert tok.batch_encode(["MKV"], max_length=3, truncation=True).input_ids.tolist() == [[2, 15, 13]]


# --- bad layouts -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ProteinTokenizer(vocab=ESM_VOCAB[:-1], special_tokens=ESM_SPECIALS),
         "the mask token '<mask>' is not in vocab"),
        (lambda: ProteinTokenizer(vocab=[t for t in ESM_VOCAB if t != "W"], special_tokens=ESM_SPECIALS),
         "vocab lacks the token 'W'"),
        (lambda: ProteinTokenizer(vocab=ESM_VOCAB + ["A"], special_tokens=ESM_SPECIALS),
         r"holds the token 'A' twice \(ids 5 and 33\)"),
        (lambda: ProteinTokenizer(framing="sep"), "framing must be one of"),
        (lambda: ProteinTokenizer(vocab=ESM_VOCAB, special_tokens=ESM_SPECIALS, framing="cls"),
         "names a sep token '<eos>', but framing 'cls' has none"),
        (lambda: ProteinTokenizer(vocab=ESM_VOCAB, special_tokens={**ESM_SPECIALS, "bos": "<cls>"}),
         "unknown role 'bos'"),
        (lambda: ProteinTokenizer(vocab=ESM_VOCAB, special_tokens={k: v for k, v in ESM_SPECIALS.items()
                                                                   if k != "cls"}), "lacks the 'cls' role"),
        (lambda: ProteinTokenizer(vocab=ESM_VOCAB, special_tokens={**ESM_SPECIALS, "unk": "<pad>"}),
         "roles 'pad' and 'unk' share the token '<pad>'"),
        (lambda: ProteinTokenizer(vocab=ESM_VOCAB, special_tokens={**ESM_SPECIALS, "unk": "X"}),
         "the unk token 'X' is a sequence token"),
        (lambda: ProteinTokenizer(vocab="ACD", special_tokens=ESM_SPECIALS), "vocab must be a list"),
        (lambda: KmerTokenizer(3, 3, leftover="single"), "leftover must be one of"),
        (lambda: KmerTokenizer(3, 1, leftover="bases"), "needs non-overlapping k-mers"),
        (lambda: KmerTokenizer(1, 1, leftover="bases"), "k >= 2"),
        (lambda: KmerTokenizer(2, 2, leftover="bases", vocab=nt_vocab(2)[:-1], special_tokens=NT_SPECIALS,
                               framing="cls"), "vocab lacks the token 'N'"),
    ],
)
def test_bad_layouts(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["vocab"].remove("<mask>"), "the mask token '<mask>' is not in vocab"),
        (lambda d: d["vocab"].remove("M"), "vocab lacks the token 'M'"),
        (lambda d: d["vocab"].append("L"), "holds the token 'L' twice"),
        (lambda d: d.__setitem__("framing", "eos"), "framing must be one of"),
        (lambda d: d.__setitem__("special_tokens", {"pad": 1}), "the pad token must be a non-empty string"),
        (lambda d: d.__setitem__("special_tokens", {"<pad>": 1}), "special_tokens must map roles"),
        (lambda d: d.__setitem__("vocab", "LAGV"), "vocab must be a list"),
    ],
)
def test_bad_layout_files(tmp_path, edit, message):
    data = esm().to_dict()
    edit(data)
    (tmp_path / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(TokenizerFileError, match=message) as err:
        load_tokenizer(tmp_path)
    assert str(err.value).count("\n") == 0


# --- masking ---------------------------------------------------------------------------------
def test_masking_non_canonical_layout():
    for tok, seqs in [(esm(), ["MKTAYIAKQRQISFVKSHFSRQ", "MKV"]),
                      (nucleotide_transformer(2), ["ACGTACGNNACGTAC", "ACG"])]:
        encoded = tok.batch_encode(seqs)
        config = MaskingConfig(mask_prob=0.6, mask_token_prob=0.5, random_token_prob=0.5)
        batch = mask_tokens(encoded.input_ids, encoded.attention_mask, tokenizer=tok, span=1, config=config,
                            generator=torch.Generator().manual_seed(0), ignore_index=-100)
        selected = batch.labels != -100
        assert selected.any() and tok.is_body(encoded.input_ids[selected]).all()  # never a special
        assert (batch.input_ids[~selected] == encoded.input_ids[~selected]).all()
        replaced = selected & (batch.input_ids != tok.mask_id)
        assert replaced.any() and np.isin(batch.input_ids[replaced].numpy(), tok.body_ids).all()
        assert (batch.input_ids[selected & ~replaced] == tok.mask_id).all()
    collator = MaskingCollator(esm(), max_length=8, config=MaskingConfig(mask_prob=0.5), ignore_index=-100)
    batch = collator(["MKTAYIAKQRQ", "MK"], torch.Generator().manual_seed(1))
    assert batch.input_ids[1, 4:].tolist() == [1] * 4 and batch.input_ids[:, 0].tolist() == [0, 0]


# Recorded from mask_tokens(..., vocab_size=tok.vocab_size) before tokenizer layouts existed.
CANONICAL_MASKED = {
    "protein": ([[2, 4, 13, 21, 25, 4, 4, 5, 13, 18, 19, 18, 16, 4, 4, 22, 13, 3], [2, 8, 13, 8, 3] + [0] * 13],
                [[-100, 15, -100, -100, 5, 24, 12, -100, 13, -100, -100, -100, 12, 20, 9, 22, -100, -100],
                 [-100, 15, -100, 22] + [-100] * 14]),
    "kmer": ([[2, 5, 11, 20, 1, 1, 4, 11, 16, 20, 19, 4, 4, 3], [2, 12, 12, 17, 12, 3] + [0] * 8],
             [[-100, 6, -100, 16, -100, -100, 6, -100, -100, -100, -100, 14, 9, -100],
              [-100, 6, 11, 15, 16] + [-100] * 9]),
}


@pytest.mark.parametrize("use_tokenizer", [True, False])
def test_canonical_masking_unchanged(use_tokenizer):
    config = MaskingConfig(mask_prob=0.5, mask_token_prob=0.4, random_token_prob=0.4)
    cases = [("protein", ProteinTokenizer(), ["MKTAYIAKQRQISFVK", "MKV"], 1),
             ("kmer", KmerTokenizer(2, 1), ["ACGTNACGTTGCA", "ACGGT"], 2)]
    for name, tok, seqs, span in cases:
        encoded = tok.batch_encode(seqs)
        ids = {"tokenizer": tok} if use_tokenizer else {"vocab_size": tok.vocab_size}
        batch = mask_tokens(encoded.input_ids, encoded.attention_mask, span=span, config=config,
                            generator=torch.Generator().manual_seed(7), ignore_index=-100, **ids)
        assert (batch.input_ids.tolist(), batch.labels.tolist()) == CANONICAL_MASKED[name]
