"""Token id layouts: which id each special role and each sequence token has.

Axes: V ids of the layout's vocabulary, C canonical ids. A tokenizer always encodes in canonical
ids: the five special tokens

    0 [PAD]   1 [UNK]   2 [CLS]   3 [SEP]   4 [MASK]

then its own tokens (letters, k-mers, single bases) from id 5 on, in the order of its ``_tokens``.
A layout takes another project's vocabulary instead, so that a converted model receives exactly
the ids it was trained with: ``vocab`` lists every token in that project's id order, and
``special_tokens`` names the token of each role (``pad``, ``unk``, ``cls``, ``sep``, ``mask``;
no ``sep`` for framing ``"cls"``). :func:`resolve_layout` checks one and builds the two lookup
arrays: canonical -> layout id (used after encoding) and layout id -> canonical (before decoding).
Tokens of the vocabulary that the tokenizer never emits (ESM's ``.`` or ``<null_1>``) are allowed;
they map to canonical [UNK], so they decode as the unknown letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: The special tokens of the canonical layout, in id order (ids 0..4).
SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(len(SPECIAL_TOKENS))
#: The roles of the special tokens, in canonical id order (keys of ``special_tokens``).
ROLES: tuple[str, ...] = ("pad", "unk", "cls", "sep", "mask")
#: How special tokens frame a sequence: ``[CLS] body [SEP]``, or ``[CLS] body`` with no end token.
FRAMINGS: tuple[str, ...] = ("cls-sep", "cls")
FIRST_BODY_ID = len(SPECIAL_TOKENS)  # canonical id of a tokenizer's first own token
IDS_DTYPE = np.int32  # token ids from encode(): 5 + 4**8 fits; batch_encode gives int64 tensors


@dataclass(frozen=True, eq=False)
class Layout:
    """A checked id layout (built by :func:`resolve_layout`)."""

    framing: str  # "cls-sep" or "cls"
    special_tokens: dict[str, str]  # role -> token, for the roles the framing uses
    role_ids: dict[str, int]  # role -> id
    body_ids: np.ndarray  # (n,) sorted int64 ids of the tokenizer's own tokens, all it emits for sequence
    vocab: tuple[str, ...] | None  # every token in id order; None: canonical, built by the tokenizer on use
    token_ids: dict[str, int] | None  # token -> id, with vocab
    to_source: np.ndarray | None  # (C,) IDS_DTYPE canonical id -> id; None: the ids are canonical
    from_source: np.ndarray | None  # (V,) int64 id -> canonical id (extras -> [UNK]); None: canonical
    vocab_arg: tuple[str, ...] | None  # the constructor's vocab, None when it is the canonical one
    specials_arg: dict[str, str] | None  # the constructor's special_tokens, None at the default names


def resolve_layout(tokens: list[str], vocab: Sequence[str] | None, special_tokens: dict[str, str] | None,
                   framing: str, kind: str) -> Layout:
    """Check a layout against a tokenizer's own tokens (ValueError naming the problem).

    Args:
        tokens: the tokenizer's own tokens in canonical order (ids 5, 6, ...).
        vocab: every token in the layout's id order; None = the canonical vocabulary.
        special_tokens: role -> token of ``vocab``; None = [PAD] [UNK] [CLS] [SEP] [MASK].
        framing: ``"cls-sep"`` or ``"cls"``.
        kind: the tokenizer's type name, for messages.
    """
    if framing not in FRAMINGS:
        raise ValueError(f"framing must be one of {FRAMINGS}, got {framing!r}")
    roles = ROLES if framing == "cls-sep" else tuple(r for r in ROLES if r != "sep")
    defaults = {role: SPECIAL_TOKENS[ROLES.index(role)] for role in roles}
    specials = defaults if special_tokens is None else _check_specials(special_tokens, roles, framing)
    specials_arg = None if specials == defaults else dict(specials)
    if vocab is None and specials_arg is None:  # the canonical layout: nothing to check or map
        return Layout(framing=framing, special_tokens=specials, role_ids={role: ROLES.index(role) for role in roles},
                      body_ids=np.arange(FIRST_BODY_ID, FIRST_BODY_ID + len(tokens), dtype=np.int64),
                      vocab=None, token_ids=None, to_source=None, from_source=None, vocab_arg=None,
                      specials_arg=None)
    canonical = list(SPECIAL_TOKENS) + tokens
    for role, token in specials.items():
        canonical[ROLES.index(role)] = token
    vocab = canonical if vocab is None else vocab
    index = _check_vocab(vocab, specials, tokens, kind)
    vocab = tuple(vocab)
    role_ids = {role: index[token] for role, token in specials.items()}
    if vocab == tuple(canonical):  # canonical ids, special tokens renamed
        return Layout(framing=framing, special_tokens=specials, role_ids=role_ids,
                      body_ids=np.arange(FIRST_BODY_ID, len(canonical), dtype=np.int64), vocab=vocab,
                      token_ids=index, to_source=None, from_source=None, vocab_arg=None, specials_arg=specials_arg)
    # canonical id -> id; the [SEP] slot of framing "cls" is never emitted
    to_source = np.array([role_ids.get(role, role_ids["unk"]) for role in ROLES]
                         + [index[token] for token in tokens], dtype=IDS_DTYPE)  # (C,)
    from_source = np.full(len(vocab), UNK_ID, dtype=np.int64)  # (V,) extras decode as [UNK]
    from_source[to_source[FIRST_BODY_ID:]] = np.arange(FIRST_BODY_ID, len(canonical))
    for role, i in role_ids.items():
        from_source[i] = ROLES.index(role)
    body_ids = np.sort(to_source[FIRST_BODY_ID:].astype(np.int64))
    return Layout(framing=framing, special_tokens=specials, role_ids=role_ids, body_ids=body_ids, vocab=vocab,
                  token_ids=index, to_source=to_source, from_source=from_source, vocab_arg=vocab,
                  specials_arg=specials_arg)


def _check_specials(special_tokens: object, roles: tuple[str, ...], framing: str) -> dict[str, str]:
    """``special_tokens`` checked against the roles the framing uses, in role order."""
    if not isinstance(special_tokens, dict):
        raise ValueError(f"special_tokens must be a dict of role -> token, got {special_tokens!r}")
    for role, token in special_tokens.items():
        if role == "sep" and "sep" not in roles:
            raise ValueError(f"special_tokens names a sep token {token!r}, but framing {framing!r} has none")
        if role not in roles:
            raise ValueError(f"special_tokens: unknown role {role!r}; roles are {', '.join(roles)}")
        if not isinstance(token, str) or not token:
            raise ValueError(f"special_tokens: the {role} token must be a non-empty string, got {token!r}")
    seen: dict[str, str] = {}
    for role in roles:
        if role not in special_tokens:
            raise ValueError(f"special_tokens lacks the {role!r} role")
        token = special_tokens[role]
        if token in seen:
            raise ValueError(f"special_tokens: roles {seen[token]!r} and {role!r} share the token {token!r}")
        seen[token] = role
    return {role: special_tokens[role] for role in roles}


def _check_vocab(vocab: object, specials: dict[str, str], tokens: list[str], kind: str) -> dict[str, int]:
    """token -> id of ``vocab``, once it holds every special and every token exactly once."""
    if isinstance(vocab, (str, bytes)) or not isinstance(vocab, (list, tuple)) \
            or not all(isinstance(token, str) for token in vocab):
        raise ValueError("vocab must be a list of token strings")
    index: dict[str, int] = {}
    for i, token in enumerate(vocab):
        if index.setdefault(token, i) != i:
            raise ValueError(f"vocab holds the token {token!r} twice (ids {index[token]} and {i})")
    body = set(tokens)
    for role, token in specials.items():
        if token not in index:
            raise ValueError(f"special_tokens: the {role} token {token!r} is not in vocab")
        if token in body:
            raise ValueError(f"special_tokens: the {role} token {token!r} is a sequence token")
    for token in tokens:
        if token not in index:
            raise ValueError(f"vocab lacks the token {token!r}, which this {kind} tokenizer emits")
    return index
