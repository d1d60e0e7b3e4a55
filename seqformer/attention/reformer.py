"""Reformer LSH attention: shared-QK angular hashing, sort by bucket, chunked attention; exact on its set.

Axes: B batch, H heads, L tokens, D head width, R hash rounds (``n_hashes``), n buckets per round
(``n_buckets``), c sorted positions per chunk (``chunk_size``), nc chunks per round.

Shared QK: Reformer ties keys to queries, k̂_j = q_j / ‖q_j‖. This module normalises the ``k`` it
is given and buckets every position by its key; kinds with ``shared_qk = True`` get ``k = q`` from
the encoder (whose block then projects only Q and V), which is Reformer's attention exactly.

Each round r hashes k̂ with a random rotation W_r (D, n/2), a buffer per head drawn from (seed,
layer): bucket = argmax([k̂ W_r, −k̂ W_r]) (n = 1: one bucket). Positions are sorted by (bucket,
position), padding last; the sorted sequence is cut into chunks of c, and a query attends to the
keys of its own bucket in its own chunk and the previous one (no wrap-around from the first chunk
to the last, so appending padding never changes real outputs). Over all rounds a query attends to
P_i = ∪_r P_i^(r), each key once: a score is lowered by log N_ij (N_ij = rounds in which j is in
i's set) and the rounds are merged by their log-sum-exp, which is softmax over P_i exactly. A
query attends to itself only when P_i holds nothing else. Padded queries give zeros.

The output equals dense softmax attention of q against k̂ under the mask "j ∈ P_i" (self as above)
to fp32 rounding; with one bucket and one chunk covering the input that is full shared-QK
attention without self. Memory O(R·L·2c) for scores and masks; probabilities (B, H, L, L) only for
short inputs. Membership in P_i needs only every position's bucket and sorted chunk per round
(O(R·L)), so :meth:`ReformerLSHAttention.attention_rows` gives c query rows of the probabilities
at a time, as that dense reference, in O(R·c·L). Scores, sums and normalisers are computed in
fp32 under fp16/bf16.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from seqformer.attention.base import (Attention, AttentionOutput, check_inputs, check_rows, masked_softmax_rows,
                                      require_int, seeded_generator, working_dtype, zero_padded_queries)


@dataclass(frozen=True)
class ReformerLSHConfig:
    """Options of Reformer's LSH attention."""

    n_hashes: int = 2  # R: hash rounds (more rounds, fewer missed neighbours, R times the cost)
    n_buckets: int = 32  # n: buckets per round, even (angular LSH takes ±) or 1; about 2·L / chunk_size
    chunk_size: int = 64  # c: sorted positions per chunk; a chunk attends to itself and the previous chunk
    max_weights_length: int = 4096  # need_weights=True refuses longer inputs (it builds (B, H, L, L))

    def __post_init__(self) -> None:
        for name in ("n_hashes", "n_buckets", "chunk_size", "max_weights_length"):
            require_int("reformer-lsh", name, getattr(self, name), 1)
        if self.n_buckets > 1 and self.n_buckets % 2:
            raise ValueError(f"reformer-lsh n_buckets must be even (angular LSH takes the argmax over "
                             f"[xW, -xW]) or 1, got {self.n_buckets}")

    def check_encoder(self, *, num_heads: int, max_length: int) -> None:
        """ValueError for more buckets than tokens or chunks longer than the longest input."""
        if self.n_buckets > max_length:
            raise ValueError(f"reformer-lsh n_buckets {self.n_buckets} is larger than max_length {max_length}: "
                             "most buckets would be empty")
        if self.chunk_size > max_length:
            raise ValueError(f"reformer-lsh chunk_size {self.chunk_size} is larger than max_length {max_length}")


def _chunks(x: torch.Tensor, chunk: int) -> torch.Tensor:
    """(..., Lp, *rest) → (..., nc, c, *rest) with Lp = nc·c, for x of shape (B, H, R, Lp, ...)."""
    return x.view(*x.shape[:3], -1, chunk, *x.shape[4:])


def _with_previous(x: torch.Tensor, fill) -> torch.Tensor:
    """Chunks (B, H, R, nc, c, ...) → (B, H, R, nc, 2c, ...): the previous chunk, then the chunk itself."""
    previous = torch.cat([torch.full_like(x[:, :, :, :1], fill), x[:, :, :, :-1]], dim=3)
    return torch.cat([previous, x], dim=4)


class ReformerLSHAttention(Attention):
    """Multi-round LSH attention over shared query-keys (Reformer)."""

    returns_attention = True
    shared_qk = True

    def __init__(self, config: ReformerLSHConfig | None = None, *, num_heads: int, head_dim: int,
                 layer_index: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.config = config or ReformerLSHConfig()
        self.num_heads, self.head_dim, self.layer_index = num_heads, head_dim, layer_index
        c = self.config
        rotations = torch.randn(num_heads, head_dim, c.n_hashes, c.n_buckets // 2, dtype=torch.float64,
                                generator=seeded_generator("reformer-lsh", seed, layer_index))
        self.register_buffer("rotations", rotations.float())  # (H, D, R, n/2), saved with the model
        self._last_buckets: torch.Tensor | None = None  # (B, H, R, L) of the last forward pass
        self._replay_buckets: torch.Tensor | None = None  # buckets to reuse instead of hashing

    def last_choices(self) -> torch.Tensor | None:
        """The buckets (B, H, R, L) of the last forward pass (a reversible encoder's recomputation reuses them)."""
        return self._last_buckets

    def replay_choices(self, choices: torch.Tensor | None) -> None:
        self._replay_buckets = choices

    def extra_repr(self) -> str:
        c = self.config
        return f"n_hashes={c.n_hashes}, n_buckets={c.n_buckets}, chunk_size={c.chunk_size}"

    def buckets(self, keys: torch.Tensor) -> torch.Tensor:
        """Bucket (B, H, R, L) of every position in every round, from unit keys (B, H, L, D)."""
        batch, heads, length, _ = keys.shape
        if self.config.n_buckets == 1:
            return torch.zeros(batch, heads, self.config.n_hashes, length, dtype=torch.long, device=keys.device)
        rotated = torch.einsum("bhld,hdrn->bhrln", keys, self.rotations.to(keys.dtype))
        return torch.cat([rotated, -rotated], dim=-1).argmax(dim=-1)

    def forward(self, q, k, v, key_padding_mask=None, need_weights=False) -> AttentionOutput:
        check_inputs("reformer-lsh", q, key_padding_mask, num_heads=self.num_heads, head_dim=self.head_dim,
                     need_weights=need_weights, max_weights_length=self.config.max_weights_length)
        dtype = q.dtype
        real = None if key_padding_mask is None else key_padding_mask.bool()
        with torch.autocast(q.device.type, enabled=False):
            work = working_dtype(dtype)
            q, k, v = q.to(work), F.normalize(k.to(work), dim=-1), v.to(work)
            out, probs = self._attend(q, k, v, real, need_weights)
        out = zero_padded_queries(out, real).to(dtype)
        return AttentionOutput(out=out, probs=None if probs is None else probs.to(dtype))

    def _attend(self, q, k, v, real, need_weights):
        """q, k̂, v (B, H, L, D) → out (B, H, L, D) and, if asked, probs (B, H, L, L)."""
        batch, heads, length, dim = q.shape
        rounds, chunk, n = self.config.n_hashes, self.config.chunk_size, self.config.n_buckets
        device = q.device
        with torch.no_grad():
            bucket = self.buckets(k) if self._replay_buckets is None else self._replay_buckets  # (B, H, R, L)
            self._last_buckets = bucket
            if real is not None:
                bucket = bucket.masked_fill(~real[:, None, None, :], n)  # padding sorts last
            position = torch.arange(length, device=device)
            order = (bucket * length + position).argsort(dim=-1)  # (B, H, R, L) sorted slot -> position
            rank = order.argsort(dim=-1)  # position -> sorted slot
            pad = -length % chunk
            slot_pos = F.pad(order, (0, pad), value=length)  # (B, H, R, Lp); length = empty slot
            real_ext = torch.ones(batch, length + 1, dtype=torch.bool, device=device) if real is None \
                else F.pad(real, (0, 1), value=True)
            real_ext[:, length] = False
            slot_real = real_ext.gather(1, slot_pos.view(batch, -1)).view(slot_pos.shape)
            slot_bucket = F.pad(bucket.gather(-1, order), (0, pad), value=-1)
            query_pos, key_pos = _chunks(slot_pos, chunk), _with_previous(_chunks(slot_pos, chunk), length)
            same = _chunks(slot_bucket, chunk)[..., None] == _with_previous(_chunks(slot_bucket, chunk), -2)[..., None, :]
            allowed = same & _with_previous(_chunks(slot_real, chunk), False)[..., None, :] \
                & _chunks(slot_real, chunk)[..., None]  # (B, H, R, nc, c, 2c)
            is_self = query_pos[..., None] == key_pos[..., None, :]
            count = self._round_counts(bucket, rank // chunk, query_pos, key_pos, allowed, n)
            others = allowed & ~is_self
            has_other = others.any(-1).flatten(3)  # (B, H, R, Lp) per sorted slot
            any_other = torch.zeros(batch, heads, length + 1, dtype=torch.int32, device=device).scatter_add_(
                -1, slot_pos.flatten(2), has_other.flatten(2).int())[..., :length] > 0  # (B, H, L)
            lonely = ~any_other[:, :, None].expand(-1, -1, rounds, -1).gather(-1, order)  # (B, H, R, L) in sorted order
            lonely = _chunks(F.pad(lonely, (0, pad), value=False), chunk)
            allowed = others | (allowed & is_self & lonely[..., None])
            del others, is_self
            penalty = count.to(q.dtype).clamp_min_(1.0).log_().masked_fill_(~allowed, float("inf"))
            del count, allowed

        def sort(x):  # (B, H, L, D) → chunks of the sorted slots (B, H, R, nc, c, D)
            gathered = x[:, :, None].expand(-1, -1, rounds, -1, -1).gather(
                3, order[..., None].expand(-1, -1, -1, -1, dim))
            return _chunks(F.pad(gathered, (0, 0, 0, pad)), chunk)

        queries, keys, values = sort(q), _with_previous(sort(k), 0.0), _with_previous(sort(v), 0.0)
        scores = torch.matmul(queries, keys.transpose(-1, -2)).mul_(dim ** -0.5).sub_(penalty)  # (B, H, R, nc, c, 2c)
        del penalty
        row_max = scores.amax(-1, keepdim=True).clamp_min(torch.finfo(scores.dtype).min).detach()
        weights = (scores - row_max).exp_()
        del scores
        total = weights.sum(-1, keepdim=True)
        round_out = torch.matmul(weights, values) / total.clamp_min(torch.finfo(weights.dtype).tiny)
        round_lse = torch.where(total > 0, row_max + total.clamp_min(torch.finfo(weights.dtype).tiny).log(),
                                float("-inf"))  # (B, H, R, nc, c, 1)

        def unsort(x):  # chunks (B, H, R, nc, c, E) → original positions (B, H, R, L, E)
            flat = x.flatten(3, 4)[:, :, :, :length]
            return flat.gather(3, rank[..., None].expand(-1, -1, -1, -1, x.shape[-1]))

        lse = unsort(round_lse)  # (B, H, R, L, 1)
        share = torch.exp(lse - lse.amax(dim=2, keepdim=True).clamp_min(torch.finfo(lse.dtype).min).detach())
        share = share / share.sum(dim=2, keepdim=True).clamp_min(torch.finfo(lse.dtype).tiny)  # round weights
        out = (share * unsort(round_out)).sum(dim=2)
        probs = None
        if need_weights:
            round_share = torch.gather(share[..., 0], 3, order)  # in sorted order (B, H, R, L)
            round_share = _chunks(F.pad(round_share, (0, pad)), chunk)[..., None]
            p = (weights / total.clamp_min(torch.finfo(weights.dtype).tiny)) * round_share  # (B, H, R, nc, c, 2c)
            dense = q.new_zeros(batch, heads, length + 1, length + 1)
            rows = query_pos[..., None] * (length + 1) + key_pos[..., None, :]  # flat (query, key) index
            dense.view(batch, heads, -1).scatter_add_(-1, rows.flatten(2), p.flatten(2))
            probs = dense[:, :, :length, :length]
        return out, probs

    def attention_rows(self, q, k, key_padding_mask=None, *, start, stop) -> torch.Tensor:
        """Rows start:stop (B, H, c, L) of the need_weights probabilities: softmax of q·k̂ over each set P_i."""
        check_inputs("reformer-lsh", q, key_padding_mask, num_heads=self.num_heads, head_dim=self.head_dim)
        check_rows(q, start, stop)
        dtype = q.dtype
        real = None if key_padding_mask is None else key_padding_mask.bool()
        with torch.autocast(q.device.type, enabled=False):
            work = working_dtype(dtype)
            q, k = q.to(work), F.normalize(k.to(work), dim=-1)
            allowed = self.attention_sets(k, real, start, stop)
            probs = masked_softmax_rows(q[:, :, start:stop], k, allowed)
        return probs.to(dtype)

    @torch.no_grad()
    def attention_sets(self, k, real, start: int, stop: int) -> torch.Tensor:
        """Whether key j is in P_i (B, H, c, L) for queries i in start:stop, self as the module docstring says.

        k (B, H, L, D) unit keys; real (B, L) bool or None. j is in P_i when some round puts it in
        i's bucket and in i's sorted chunk or the one before; both real.
        """
        batch, heads, length, _ = k.shape
        chunk, n = self.config.chunk_size, self.config.n_buckets
        bucket = self.buckets(k) if self._replay_buckets is None else self._replay_buckets  # (B, H, R, L)
        if real is not None:
            bucket = bucket.masked_fill(~real[:, None, None, :], n)  # padding sorts last
        position = torch.arange(length, device=k.device)
        chunk_of = (bucket * length + position).argsort(dim=-1).argsort(dim=-1) // chunk  # (B, H, R, L)
        member = torch.zeros(batch, heads, stop - start, length, dtype=torch.bool, device=k.device)
        for r in range(bucket.shape[2]):
            gap = chunk_of[:, :, r, start:stop, None] - chunk_of[:, :, r, None, :]  # (B, H, c, L)
            member |= (bucket[:, :, r, start:stop, None] == bucket[:, :, r, None, :]) & (gap >= 0) & (gap <= 1)
        if real is not None:
            member &= real[:, None, start:stop, None] & real[:, None, None, :]
        is_self = position[start:stop, None] == position[None, :]  # (c, L)
        others = member & ~is_self
        lonely = ~others.any(-1, keepdim=True)  # P_i holds nothing else: i attends to itself
        return others | (member & is_self & lonely)

    @staticmethod
    def _round_counts(bucket, chunk_of, query_pos, key_pos, allowed, n_buckets):
        """N_ij (B, H, R, nc, c, 2c): rounds in which key j is in query i's set (same bucket, chunk window).

        bucket, chunk_of (B, H, R, L) per position; query_pos, key_pos (B, H, R, nc, c or 2c) with L
        for empty slots.
        """
        small = torch.int16 if max(bucket.shape[-1], n_buckets) + 2 < 2**15 else torch.int32  # fits every value
        bucket = F.pad(bucket, (0, 1), value=-1).to(small)  # empty slots (position L): no bucket, no chunk
        chunk_of = F.pad(chunk_of, (0, 1), value=-2).to(small)
        count = torch.zeros(allowed.shape, dtype=torch.int16, device=allowed.device)

        def at(table, r, pos):  # round r of table (B, H, R, L + 1) at positions pos (B, H, R, nc, m)
            rows = table[:, :, r:r + 1].expand(-1, -1, pos.shape[2], -1)
            return rows.gather(3, pos.flatten(3)).view(pos.shape)

        for r in range(bucket.shape[2]):
            gap = at(chunk_of, r, query_pos)[..., None] - at(chunk_of, r, key_pos)[..., None, :]
            same = at(bucket, r, query_pos)[..., None] == at(bucket, r, key_pos)[..., None, :]
            count += same & (gap >= 0) & (gap <= 1)
        return count
