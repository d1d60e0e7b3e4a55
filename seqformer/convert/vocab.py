"""Source vocabularies: read one, say which seqformer tokenizer reproduces it, and build that tokenizer.

Axes: V vocabulary (token ids 0..V-1, in the source's order, which the converted weights keep).

Three kinds of vocabulary convert; anything else (a BPE, Unigram or natural-language WordPiece
vocabulary, e.g. GENA-LM's) is an :class:`InputError` naming the file, since seqformer's
tokenizers could not split text the way the source's tokenizer does:

==============  ==================================================  ===========================================
kind            tokens (any order)                                  tokenizer
==============  ==================================================  ===========================================
ESM protein     ``<cls> <pad> <eos> <unk> <mask>`` (and other        ``ProteinTokenizer``, ``<cls> ... <eos>``
                ``<...>``), single residue letters, ``.``, ``-``
NT v1 k-mers    ``<pad> <unk> <cls> <mask>`` (and other ``<...>``),  ``KmerTokenizer(k, stride=k,
                all 4**k k-mers, single bases A C G T (N)            leftover="bases")``, ``<cls> ...`` (no end)
DNABERT k-mers  ``[PAD] [UNK] [CLS] [SEP] [MASK]``, all 4**k k-mers  ``KmerTokenizer(k, stride=1)``,
                                                                    ``[CLS] ... [SEP]``
==============  ==================================================  ===========================================

A vocabulary comes from ``vocab.txt`` (one token per line, id = line number) or from a
``tokenizer.json`` whose model is WordPiece or WordLevel; fair-esm checkpoints carry none and use
:data:`ESM_ALPHABET`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqformer.errors import InputError

#: fair-esm's ESM-2 alphabet in id order (esm.data.Alphabet.from_architecture("ESM-1b").all_toks).
ESM_ALPHABET: tuple[str, ...] = (
    "<cls>", "<pad>", "<eos>", "<unk>", "L", "A", "G", "V", "S", "E", "R", "T", "I", "D", "P", "K", "Q", "N",
    "F", "Y", "M", "H", "W", "C", "X", "B", "U", "Z", "O", ".", "-", "<null_1>", "<mask>")
ESM_SPECIALS = {"pad": "<pad>", "unk": "<unk>", "cls": "<cls>", "sep": "<eos>", "mask": "<mask>"}
NT_SPECIALS = {"pad": "<pad>", "unk": "<unk>", "cls": "<cls>", "mask": "<mask>"}  # framing "cls": no end token
BERT_SPECIALS = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}
VOCAB_FILES = ("vocab.txt", "tokenizer.json")
SUPPORTED = ("seqformer converts ESM protein alphabets, Nucleotide Transformer v1 k-mers (<cls> + all 4**k "
             "k-mers + single bases) and DNABERT k-mers ([PAD] [UNK] [CLS] [SEP] [MASK] + all 4**k k-mers)")

_SPECIAL = re.compile(r"<[^<>\s]+>|\[[^\[\]\s]+\]")
_RESIDUES = set("ACDEFGHIKLMNPQRSTVWYXBZUO.-")
_BASES = set("ACGT")


@dataclass(frozen=True)
class Vocabulary:
    """A source vocabulary and the seqformer tokenizer that reproduces it."""

    tokens: tuple[str, ...]  # every token in source id order (id = index)
    kind: str  # "protein" (ESM), "nt" (Nucleotide Transformer v1 k-mers) or "dnabert" (overlapping k-mers)
    special_tokens: dict[str, str]  # role (pad, unk, cls, sep, mask) -> token
    path: Path | None = None  # the file it was read from (None: fair-esm's built-in alphabet), for errors
    k: int | None = None  # k-mer length (DNA kinds)
    framing: str = "cls-sep"  # "cls-sep" (<cls> ... <eos> / [CLS] ... [SEP]) or "cls" (NT: no end token)

    @property
    def size(self) -> int:
        """V: the number of tokens."""
        return len(self.tokens)

    def id_of(self, role: str) -> int:
        """The source id of a special role (pad, unk, cls, sep, mask)."""
        return self.tokens.index(self.special_tokens[role])

    def describe(self) -> str:
        """A few words for the summary line, e.g. "DNABERT 3-mers"."""
        return {"protein": "ESM protein alphabet", "nt": f"NT v1 {self.k}-mers",
                "dnabert": f"DNABERT {self.k}-mers"}[self.kind]

    def tokenizer(self) -> Any:
        """The seqformer tokenizer with exactly these ids (InputError naming the file if it cannot be built)."""
        from seqformer.tokenizers import KmerTokenizer, ProteinTokenizer

        specials = dict(self.special_tokens)
        try:
            if self.kind == "protein":
                return ProteinTokenizer(vocab=list(self.tokens), special_tokens=specials, framing=self.framing)
            stride, leftover = (self.k, "bases") if self.kind == "nt" else (1, "unk")
            return KmerTokenizer(self.k, stride, leftover=leftover, vocab=list(self.tokens),
                                 special_tokens=specials, framing=self.framing)
        except (TypeError, ValueError) as err:
            raise InputError(f"cannot build a seqformer tokenizer for this {self.describe()} vocabulary: {err}",
                             path=self.path) from err


def classify_vocabulary(tokens: list[str] | tuple[str, ...], path: Path | None = None) -> Vocabulary:
    """Which kind ``tokens`` (id order) is; InputError naming ``path`` for a vocabulary we cannot reproduce."""
    tokens = tuple(tokens)
    if len(set(tokens)) != len(tokens):
        repeated = sorted({t for t in tokens if tokens.count(t) > 1})[:5]
        raise InputError(f"vocabulary repeats tokens {repeated}", path=path)
    specials = {t for t in tokens if _SPECIAL.fullmatch(t)}
    body = [t for t in tokens if t not in specials]
    angle = {t for t in specials if t.startswith("<")}
    letters = {t for t in body if len(t) == 1}
    longer = [t for t in body if len(t) > 1]
    lengths = {len(t) for t in longer}

    if not longer and letters <= _RESIDUES and letters - _BASES - {"N"} and set(ESM_SPECIALS.values()) <= angle:
        return Vocabulary(tokens, "protein", dict(ESM_SPECIALS), path)
    if len(lengths) == 1 and _all_kmers(longer):
        k = lengths.pop()
        if set(NT_SPECIALS.values()) <= angle and _BASES <= letters <= _BASES | {"N"}:
            return Vocabulary(tokens, "nt", dict(NT_SPECIALS), path, k=k, framing="cls")
        if set(BERT_SPECIALS.values()) <= specials and not letters:
            return Vocabulary(tokens, "dnabert", dict(BERT_SPECIALS), path, k=k)
    if not longer and letters == _BASES and set(BERT_SPECIALS.values()) <= specials:  # 1-mers
        return Vocabulary(tokens, "dnabert", dict(BERT_SPECIALS), path, k=1)
    raise _unsupported(tokens, path)


def _all_kmers(kmers: list[str]) -> bool:
    """Whether ``kmers`` are exactly the 4**k distinct k-mers over A, C, G, T."""
    k = len(kmers[0]) if kmers else 0
    return bool(kmers) and len(kmers) == 4**k and all(len(t) == k and set(t) <= _BASES for t in kmers)


def _unsupported(tokens: tuple[str, ...], path: Path | None) -> InputError:
    """The error for a vocabulary no seqformer tokenizer reproduces."""
    sample = " ".join(tokens[:6])
    return InputError(f"unsupported vocabulary of {len(tokens)} tokens (starting {sample} ...): {SUPPORTED}; "
                     "a BPE, Unigram or text WordPiece vocabulary cannot be reproduced", path=path)


def read_vocab_file(path: Path) -> list[str]:
    """Tokens in id order from ``vocab.txt`` (a line each) or ``tokenizer.json`` (WordPiece / WordLevel)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"unreadable vocabulary: {err}", path=path) from None
    if path.suffix != ".json":
        return [line.strip() for line in text.splitlines() if line.strip()]
    try:
        data = json.loads(text)
        model = data["model"]
        kind = model.get("type")
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
        raise InputError(f"not a tokenizers tokenizer.json ({err})", path=path) from None
    if kind not in ("WordPiece", "WordLevel") or not isinstance(model.get("vocab"), dict):
        raise InputError(f"a {kind} tokenizer (model.type) cannot be reproduced: {SUPPORTED}", path=path)
    by_id = {int(i): token for token, i in model["vocab"].items()}
    for added in data.get("added_tokens") or []:
        by_id.setdefault(int(added["id"]), added["content"])
    if sorted(by_id) != list(range(len(by_id))):
        raise InputError("token ids are not 0..V-1 without gaps (model.vocab)", path=path)
    return [by_id[i] for i in range(len(by_id))]


def folder_vocabulary(folder: Path) -> Vocabulary:
    """The vocabulary of a Hugging Face model folder (vocab.txt, else tokenizer.json)."""
    for name in VOCAB_FILES:
        path = folder / name
        if path.is_file():
            return classify_vocabulary(read_vocab_file(path), path)
    others = sorted(p.name for p in folder.iterdir() if p.name.endswith((".model", "merges.txt", "vocab.json")))
    found = f"; found only {others}" if others else ""
    raise InputError(f"no vocabulary: expected vocab.txt or tokenizer.json{found}; {SUPPORTED}", path=folder)
