"""BigBird block-sparse attention (ITC: global + sliding window + random blocks), exact and linear in L.

Axes: B batch, H heads, L tokens, D head width; b tokens per block, nb blocks (L padded up to
nb·b), n real blocks of one sequence (ceil(real length / b)), k key-block slots per query block.

Every query block attends to a set of key blocks (nb x nb block mask per head):
- global blocks (the first, and with ``num_global_blocks=2`` the last *real* block) attend to
  every real key and are attended by every query;
- each other query block sees the w blocks of its window (clipped at the ends), the global
  blocks, and r random blocks drawn among the rest (never a duplicate of a window or global
  block, nor of each other; all candidates when fewer than r remain).

The pattern of a sequence depends only on its number of real blocks n (and the seed, layer and
head), so appending padding never changes real outputs; padded queries give zeros. Output equals
dense attention under the same token mask (:func:`masked_softmax_attention`) to fp32 rounding.
The gather backend works on the flat block view (N = B·H·nb, b, D): for a chunk of query blocks
it gathers their k key blocks (index_select into a reused buffer), runs batched matmuls
(c, b, D) x (c, D, k·b) with a 0/-inf bias (added only to chunks that hold a -inf: interior blocks
of an input that fills whole blocks hold none), and keeps only the log-sum-exp; backward recomputes
the probabilities (flash-style). The g global query blocks run the same kernel over all nb key
blocks (g·b x L). Time and memory are linear in L; nothing L x L is built unless probabilities
are asked for (short inputs only; :meth:`BigBirdAttention.attention_rows` gives c query rows of
them at a time, softmax under :meth:`BigBirdAttention.token_mask_rows`, in O(c·L)). On CUDA the
flex backend runs FlexAttention on a BlockMask built from the same block lists
(:mod:`seqformer.attention.flex`).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from seqformer.attention import flex as flex_backend
from seqformer.attention.base import Attention, AttentionOutput, check_inputs, check_rows, masked_softmax_rows

BACKENDS = ("auto", "gather", "flex")
_HALF = (torch.float16, torch.bfloat16)
CHUNK_ELEMENTS = 1 << 19  # scores per chunk of query blocks (2 MiB in fp32): buffers stay in cache


@dataclass(frozen=True)
class BigBirdAttentionConfig:
    """Options of BigBird (ITC) block-sparse attention."""

    block_size: int = 64  # b: tokens per block; inputs are padded internally to a multiple of b
    num_global_blocks: int = 2  # g: 2 = first and last real block are global, 1 = first only
    window_blocks: int = 3  # w: sliding window in blocks, odd (3 = left, self, right)
    num_random_blocks: int = 3  # r: random key blocks per query block, fixed per (seed, layer, head, n)
    backend: str = "auto"  # "auto" (flex on CUDA when importable, else gather), "gather" or "flex"
    max_weights_length: int = 4096  # need_weights=True refuses longer inputs (it builds (B, H, L, L))

    def __post_init__(self) -> None:
        for name, low in (("block_size", 1), ("num_global_blocks", 1), ("window_blocks", 1),
                          ("num_random_blocks", 0), ("max_weights_length", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"bigbird {name} must be an integer >= {low}, got {value!r}")
        if self.num_global_blocks not in (1, 2):
            raise ValueError("bigbird num_global_blocks must be 1 (first block) or 2 (first and last), "
                             f"got {self.num_global_blocks}")
        if self.window_blocks % 2 == 0:
            raise ValueError(f"bigbird window_blocks must be odd (centred on the query block), "
                             f"got {self.window_blocks}")
        if self.backend not in BACKENDS:
            raise ValueError(f"bigbird backend must be one of {BACKENDS}, got {self.backend!r}")

    @property
    def slots(self) -> int:
        """k: key-block slots of a non-global query block (global + window + random)."""
        return self.num_global_blocks + self.window_blocks + self.num_random_blocks


def _chunk_rows(block: int, keys: int) -> int:
    """Query blocks per chunk so that one chunk's scores (rows, b, k·b) hold ~CHUNK_ELEMENTS values."""
    return max(1, CHUNK_ELEMENTS // (block * keys))


def _chunk_scores(q, k, index, bias, key_buffer, score_buffer, masked: torch.Tensor):
    """Scaled masked scores (c, b, k·b) of query blocks q (c, b, D) over their gathered key blocks.

    ``masked`` (c,) bool: rows whose bias has a -inf. The bias is added only when one of them does
    (inputs that fill whole blocks have none), sparing a pass over the scores; q is scaled before the
    product (c·b·D values rather than c·b·k·b).
    """
    rows, _block, dim = q.shape
    keys = torch.index_select(k, 0, index.view(-1), out=key_buffer[: index.numel()]).view(rows, -1, dim)
    scores = torch.bmm(q * dim ** -0.5, keys.transpose(1, 2), out=score_buffer[:rows])
    if bool(masked.any()):
        scores.add_(bias)
    return scores, keys


class _BlockSparseAttention(torch.autograd.Function):
    """softmax(q kᵀ/√D + bias) v over gathered key blocks, in chunks of query blocks, flash-style.

    q (N, b, D) query blocks; k, v (N, b·D) flat key/value blocks; index (N, k) the key blocks of
    each query block; bias (N, 1, k·b) 0 or -inf (every row keeps one finite entry). Returns
    (N, b, D). Gathered keys and probabilities live in per-chunk buffers that are reused, and
    the backward pass recomputes them from the saved log-sum-exp: memory O(N·b·D), no big copies.
    """

    @staticmethod
    def forward(ctx, q, k, v, index, bias):
        rows, block, dim = q.shape
        step = _chunk_rows(block, index.shape[1] * block)
        key_buffer = q.new_empty(step * index.shape[1], block * dim)
        value_buffer = torch.empty_like(key_buffer)
        score_buffer = q.new_empty(step, block, index.shape[1] * block)
        out = torch.empty_like(q)
        lse = q.new_empty(rows, block, 1)
        masked = bias.ne(0).any(-1).view(-1)  # (N,) rows with a -inf in their bias
        for start in range(0, rows, step):
            part = slice(start, start + step)
            scores, _ = _chunk_scores(q[part], k, index[part], bias[part], key_buffer, score_buffer, masked[part])
            row_max = scores.amax(dim=-1, keepdim=True)
            probs = scores.sub_(row_max).exp_()  # unnormalised
            total = probs.sum(dim=-1, keepdim=True)
            values = torch.index_select(v, 0, index[part].reshape(-1), out=value_buffer[: index[part].numel()])
            torch.bmm(probs, values.view(probs.shape[0], -1, dim), out=out[part]).div_(total)
            torch.add(row_max, total.log_(), out=lse[part])
        ctx.save_for_backward(q, k, v, index, bias, out, lse)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, index, bias, out, lse = ctx.saved_tensors
        rows, block, dim = q.shape
        slots = index.shape[1]
        grad_out = grad_out.contiguous()
        delta = (grad_out * out).sum(dim=-1, keepdim=True)  # (N, b, 1) = Σ_j p_ij dp_ij
        step = _chunk_rows(block, slots * block)
        key_buffer = q.new_empty(step * slots, block * dim)
        value_buffer = torch.empty_like(key_buffer)
        grad_buffer = torch.empty_like(key_buffer)
        score_buffer = q.new_empty(step, block, slots * block)
        grad_score_buffer = torch.empty_like(score_buffer)
        grad_q = torch.empty_like(q)
        grad_k, grad_v = torch.zeros_like(k), torch.zeros_like(v)
        masked = bias.ne(0).any(-1).view(-1)
        for start in range(0, rows, step):
            part = slice(start, start + step)
            flat = index[part].reshape(-1)
            scores, keys = _chunk_scores(q[part], k, index[part], bias[part], key_buffer, score_buffer, masked[part])
            probs = scores.sub_(lse[part]).exp_()  # (c, b, k·b)
            count = probs.shape[0]
            values = torch.index_select(v, 0, flat, out=value_buffer[: flat.numel()]).view(count, -1, dim)
            grads = grad_buffer[: flat.numel()].view(count, -1, dim)
            torch.bmm(probs.transpose(1, 2), grad_out[part], out=grads)  # dV of the gathered blocks
            grad_v.index_add_(0, flat, grads.view(-1, block * dim))
            grad_scores = torch.bmm(grad_out[part], values.transpose(1, 2), out=grad_score_buffer[:count])
            grad_scores.sub_(delta[part]).mul_(probs).mul_(dim ** -0.5)
            torch.bmm(grad_scores, keys, out=grad_q[part])
            torch.bmm(grad_scores.transpose(1, 2), q[part], out=grads)  # dK of the gathered blocks
            grad_k.index_add_(0, flat, grads.view(-1, block * dim))
        return grad_q, grad_k, grad_v, None, None


def block_sparse_probs(q, k, v, index, bias):
    """Plain-autograd block-sparse attention that also returns the probabilities (N, b, k·b)."""
    rows, _, dim = q.shape
    keys = k.index_select(0, index.reshape(-1)).view(rows, -1, dim)
    probs = torch.softmax(torch.baddbmm(bias, q, keys.transpose(1, 2), alpha=dim ** -0.5), dim=-1)
    return torch.bmm(probs, v.index_select(0, index.reshape(-1)).view(rows, -1, dim)), probs


def pattern_seed(seed: int, layer_index: int, num_blocks: int) -> int:
    """A 63-bit generator seed, a fixed function of (seed, layer_index, number of real blocks)."""
    digest = hashlib.blake2b(f"bigbird:{seed}:{layer_index}:{num_blocks}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def global_blocks(num_blocks: int, num_global_blocks: int) -> list[int]:
    """The global blocks of a sequence of ``num_blocks`` real blocks (first, and maybe last)."""
    return [0] if num_global_blocks == 1 or num_blocks == 1 else [0, num_blocks - 1]


def _nth_free(rank: torch.Tensor, taken: torch.Tensor) -> torch.Tensor:
    """The rank-th (0-based) integer not in ``taken`` (sorted ascending along the last axis)."""
    index = rank.clone()
    for column in range(taken.shape[-1]):  # walking sorted exclusions shifts the index past each
        index += taken[..., column] <= index
    return index


def draw_block_pattern(config: BigBirdAttentionConfig, num_heads: int, num_blocks: int, *,
                       seed: int, layer_index: int) -> torch.Tensor:
    """Key-block slots (H, n, k) of each query block of a sequence with n real blocks; -1 = empty.

    Slots are [global (g) | window (w) | random (r)]. Rows of global query blocks are all -1: they
    attend to every real block. Head h's random draw does not depend on the number of heads.
    """
    n, g, w, r = num_blocks, config.num_global_blocks, config.window_blocks, config.num_random_blocks
    glob = torch.full((g,), -1, dtype=torch.long)
    gl = global_blocks(n, g)
    glob[: len(gl)] = torch.tensor(gl)
    rows = torch.arange(n)[:, None]  # (n, 1)
    win = rows + torch.arange(-(w // 2), w // 2 + 1)  # (n, w)
    is_global = (win[..., None] == torch.tensor(gl)).any(-1)
    win = torch.where((win >= 0) & (win < n) & ~is_global, win, -1)
    fixed = torch.cat([glob.expand(n, g), win], dim=1)  # (n, g + w), distinct valid entries

    taken = torch.where(fixed >= 0, fixed, n).sort(dim=-1).values.expand(num_heads, n, g + w)
    free = n - (fixed >= 0).sum(-1)  # (n,) candidate blocks per row
    uniform = torch.rand(num_heads, n, r, generator=torch.Generator().manual_seed(
        pattern_seed(seed, layer_index, n)), dtype=torch.float64)
    rand = torch.full((num_heads, n, r), -1, dtype=torch.long)
    for j in range(min(r, n)):
        left = free - j  # (n,) candidates not drawn yet
        rank = (uniform[..., j] * left.clamp_min(1)).long().minimum(left.clamp_min(1) - 1)
        pick = torch.where(left > 0, _nth_free(rank, taken), -1)  # (H, n)
        rand[..., j] = pick
        taken = torch.cat([taken, torch.where(pick >= 0, pick, n)[..., None]], -1).sort(-1).values

    pattern = torch.cat([fixed.expand(num_heads, n, g + w), rand], dim=-1)  # (H, n, k)
    pattern[:, gl] = -1
    return pattern


def pattern_to_block_mask(pattern: torch.Tensor, num_global_blocks: int) -> torch.Tensor:
    """Boolean block mask (H, n, n) from a pattern (H, n, k): True = query block may see key block."""
    heads, n, _ = pattern.shape
    mask = torch.zeros(heads, n, n + 1, dtype=torch.bool)
    mask.scatter_(-1, torch.where(pattern >= 0, pattern, n), True)
    mask = mask[..., :n].clone()
    mask[:, global_blocks(n, num_global_blocks)] = True
    return mask


@dataclass
class _Layout:
    """What a forward pass needs about one batch's real lengths (cached per lengths).

    Query blocks are rows of the flat (N = B·H·nb, b, D) block view. Every row runs through the
    sparse slots (global and padded rows get a dummy slot and are overwritten / zeroed later);
    the global rows run again over every key block.
    """

    num_blocks: int  # nb: blocks after padding L up to a multiple of b
    slot_blocks: torch.Tensor  # (B, H, nb, k) key block of each slot (0 for empty slots)
    sparse_index: torch.Tensor  # (N, k) flat key-block rows each query block gathers
    sparse_bias: torch.Tensor  # (N, 1, k·b) float: 0 = may attend, -inf = empty slot or padding
    global_rows: torch.Tensor  # (B·H·gs,) flat rows of the global query blocks
    global_index: torch.Tensor  # (B·H·gs, nb) every key block of the row's sequence and head
    global_bias: torch.Tensor  # (B·H·gs, 1, nb·b) float: 0 = real key, -inf = padding
    key_lengths: torch.Tensor  # (B,) keys that may be attended: the real length, at least 1
    query_real: torch.Tensor  # (B, nb·b) bool, True = real token (other output rows are zero)
    has_padding: bool  # whether any of the nb·b positions is padding
    flex_mask: object = None  # FlexAttention BlockMask of this layout, built on first use


class BigBirdAttention(Attention):
    """BigBird ITC attention: global, window and random key blocks per query block."""

    returns_attention = True

    def __init__(self, config: BigBirdAttentionConfig | None = None, *, num_heads: int, head_dim: int,
                 layer_index: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.config = config or BigBirdAttentionConfig()
        self.num_heads, self.head_dim = num_heads, head_dim
        self.layer_index, self.seed = layer_index, seed
        self._patterns: dict[int, torch.Tensor] = {}  # n real blocks -> (H, n, k), on the CPU
        self._layouts: OrderedDict[tuple, _Layout] = OrderedDict()  # recent batches' layouts

    def extra_repr(self) -> str:
        c = self.config
        return (f"block_size={c.block_size}, global={c.num_global_blocks}, window={c.window_blocks}, "
                f"random={c.num_random_blocks}, backend={c.backend!r}, layer_index={self.layer_index}")

    def block_pattern(self, num_blocks: int) -> torch.Tensor:
        """Key-block slots (H, n, k) for a sequence of ``num_blocks`` real blocks (-1 = empty slot)."""
        if num_blocks not in self._patterns:
            with torch.inference_mode(False):
                self._patterns[num_blocks] = draw_block_pattern(
                    self.config, self.num_heads, num_blocks, seed=self.seed, layer_index=self.layer_index)
        return self._patterns[num_blocks]

    def block_mask(self, num_blocks: int) -> torch.Tensor:
        """Boolean block mask (H, n, n) for a sequence of ``num_blocks`` real blocks."""
        return pattern_to_block_mask(self.block_pattern(num_blocks), self.config.num_global_blocks)

    def token_mask_rows(self, lengths: tuple[int, ...], length: int, start: int, stop: int,
                        device=None) -> torch.Tensor:
        """Token mask (B, H, c, L) of query rows start:stop, True = may attend: the need_weights probabilities' support.

        Each sequence's block mask (:meth:`block_mask` of its real blocks) expanded to tokens, over
        its real queries and keys (``lengths``); padded rows and columns are False.
        """
        b = self.config.block_size
        rows, keys = torch.arange(start, stop), torch.arange(length)
        allowed = torch.zeros(len(lengths), self.num_heads, stop - start, length, dtype=torch.bool)
        for i, real in enumerate(lengths):
            blocks = self.block_mask(max(1, -(-real // b)))  # (H, n, n)
            real_rows = rows < real
            allowed[i, :, real_rows, :real] = blocks[:, rows[real_rows] // b][:, :, keys[:real] // b]
        return allowed.to(device)

    def attention_rows(self, q, k, key_padding_mask=None, *, start, stop) -> torch.Tensor:
        """Rows start:stop (B, H, c, L) of the need_weights probabilities: dense softmax under the block mask."""
        check_inputs("bigbird", q, key_padding_mask, num_heads=self.num_heads, head_dim=self.head_dim)
        check_rows(q, start, stop)
        allowed = self.token_mask_rows(self._lengths(q, key_padding_mask), q.shape[2], start, stop, q.device)
        with torch.autocast(q.device.type, enabled=False):  # fp32 scores and sums under half
            return masked_softmax_rows(q[:, :, start:stop], k, allowed)

    def _layout(self, lengths: tuple[int, ...], length: int, device: torch.device) -> _Layout:
        key = (lengths, length, device)
        if key in self._layouts:
            self._layouts.move_to_end(key)
            return self._layouts[key]
        with torch.inference_mode(False):  # cached tensors must stay usable by autograd later
            layout = self._build_layout(lengths, length, device)
        self._layouts[key] = layout
        if len(self._layouts) > 8:
            self._layouts.popitem(last=False)
        return layout

    def _build_layout(self, lengths: tuple[int, ...], length: int, device: torch.device) -> _Layout:
        b, k, heads, batch = self.config.block_size, self.config.slots, self.num_heads, len(lengths)
        nb = -(-length // b)
        gs = min(self.config.num_global_blocks, nb)  # global rows per sequence and head
        slots = torch.full((batch, heads, nb, k), -1, dtype=torch.long)
        rows = torch.zeros(batch, gs, dtype=torch.long)
        for i, real in enumerate(lengths):
            n = max(1, -(-real // b))
            slots[i, :, :n] = self.block_pattern(n)
            gl = global_blocks(n, self.config.num_global_blocks)
            rows[i] = torch.tensor((gl + [j for j in range(nb) if j not in gl])[:gs])  # spare: padded
        slots[..., 0] = torch.where((slots < 0).all(-1), 0, slots[..., 0])  # global/padded rows: dummy
        empty = slots < 0
        slots = slots.clamp_min(0)
        key_lengths = torch.tensor([max(n, 1) for n in lengths])  # an empty sequence keeps one key
        key_ok = torch.arange(nb * b) < key_lengths[:, None]  # (B, nb·b)
        block_ok = key_ok.view(batch, 1, 1, nb, b).expand(batch, heads, nb, nb, b)
        slot_ok = block_ok.gather(3, slots[..., None].expand(-1, -1, -1, -1, b)) & ~empty[..., None]
        offsets = torch.arange(batch * heads).view(batch, heads, 1, 1) * nb  # first row of (b, h)
        global_rows = (rows[:, None, :] + offsets[..., 0]).reshape(-1)  # (B·H·gs,)
        return _Layout(
            num_blocks=nb,
            slot_blocks=slots.to(device),
            sparse_index=(slots + offsets).view(-1, k).to(device),
            sparse_bias=_bias(slot_ok.view(-1, 1, k * b)).to(device),
            global_rows=global_rows.to(device),
            global_index=(offsets.view(batch, heads, 1, 1) + torch.arange(nb)).expand(
                batch, heads, gs, nb).reshape(-1, nb).to(device),
            global_bias=_bias(key_ok[:, None, None, :].expand(batch, heads, gs, nb * b)).view(
                -1, 1, nb * b).to(device),
            key_lengths=key_lengths.to(device),
            query_real=(torch.arange(nb * b) < torch.tensor(lengths)[:, None]).to(device),
            has_padding=min(lengths) < nb * b,
        )

    def _lengths(self, q: torch.Tensor, key_padding_mask: torch.Tensor | None) -> tuple[int, ...]:
        """Real length of each sequence (right padding checked)."""
        batch, _, length, _ = q.shape
        if key_padding_mask is None:
            return (length,) * batch
        mask = key_padding_mask.bool()
        lengths = mask.sum(1)
        if not torch.equal(mask, torch.arange(length, device=mask.device) < lengths[:, None]):
            raise ValueError("bigbird needs right padding: key_padding_mask must be True then False")
        return tuple(lengths.tolist())

    def _use_flex(self, q: torch.Tensor) -> bool:
        backend = self.config.backend
        if backend == "flex":
            return True
        return backend == "auto" and q.is_cuda and flex_backend.available() and self.config.block_size % 64 == 0

    def forward(self, q, k, v, key_padding_mask=None, need_weights=False) -> AttentionOutput:
        check_inputs("bigbird", q, key_padding_mask, num_heads=self.num_heads, head_dim=self.head_dim,
                     need_weights=need_weights, max_weights_length=self.config.max_weights_length)
        length = q.shape[2]
        lengths = self._lengths(q, key_padding_mask)
        layout = self._layout(lengths, length, q.device)
        padded, dtype, probs = layout.num_blocks * self.config.block_size, q.dtype, None
        if not need_weights and self._use_flex(q):
            q, k, v = (_pad(x, padded) for x in (q, k, v))  # (B, H, Lp, D)
            if layout.flex_mask is None:  # built once per batch layout
                layout.flex_mask = flex_backend.block_mask_from_table(
                    self._flex_block_table(layout), layout.key_lengths, self.config.block_size,
                    check_table_in_mask_mod=not q.is_cuda)
            out = flex_backend.flex_attention_with(q, k, v, layout.flex_mask, compiled=q.is_cuda)
        else:
            with torch.autocast(q.device.type, enabled=False):  # fp32 scores and sums under half
                work = torch.float32 if dtype in _HALF else dtype
                out, probs = self._gather(*(_pad(x.to(work), padded) for x in (q, k, v)), layout, need_weights)
        if layout.has_padding:
            out = out * layout.query_real[:, None, :, None].to(out.dtype)  # padded queries give zeros
        if probs is not None:
            probs = (probs * layout.query_real[:, None, :, None])[:, :, :length, :length].to(dtype)
        return AttentionOutput(out=out[:, :, :length].to(dtype), probs=probs)

    def _gather(self, q, k, v, layout, need_weights):
        """Gather backend on padded q, k, v (B, H, Lp, D): out (B, H, Lp, D), probs (B, H, Lp, Lp) or None."""
        batch, heads, padded, dim = q.shape
        b, nb = self.config.block_size, layout.num_blocks
        q, k, v = q.view(-1, b, dim), k.view(-1, b * dim), v.view(-1, b * dim)  # (N, b, D), (N, b·D)
        q_global = q.index_select(0, layout.global_rows)  # (B·H·gs, b, D)
        sparse_bias, global_bias = layout.sparse_bias.to(q.dtype), layout.global_bias.to(q.dtype)
        if not need_weights:
            out = _BlockSparseAttention.apply(q, k, v, layout.sparse_index, sparse_bias)
            out_global = _BlockSparseAttention.apply(q_global, k, v, layout.global_index, global_bias)
            return out.index_copy(0, layout.global_rows, out_global).view(batch, heads, padded, dim), None
        out, probs = block_sparse_probs(q, k, v, layout.sparse_index, sparse_bias)  # (N, b, k·b)
        out_global, probs_global = block_sparse_probs(q_global, k, v, layout.global_index, global_bias)
        slots = layout.slot_blocks.shape[-1]
        dense = torch.zeros(batch, heads, nb, b, nb, b, dtype=probs.dtype, device=probs.device)
        index = layout.slot_blocks.view(batch, heads, nb, 1, slots, 1).expand(-1, -1, -1, b, -1, b)
        dense.scatter_add_(4, index, probs.view(batch, heads, nb, b, slots, b))
        dense = dense.view(-1, b, padded).index_copy(0, layout.global_rows, probs_global)
        out = out.index_copy(0, layout.global_rows, out_global)
        return out.view(batch, heads, padded, dim), dense.view(batch, heads, padded, padded)

    def _flex_block_table(self, layout: _Layout) -> torch.Tensor:
        """Boolean block table (B, H, nb, nb): real rows see their slots, global rows every real block."""
        batch, heads, nb, slots = layout.slot_blocks.shape
        valid = torch.isfinite(layout.sparse_bias.view(batch, heads, nb, slots, -1)).any(-1)  # (B, H, nb, k)
        table = torch.zeros(batch, heads, nb, nb + 1, dtype=torch.bool, device=valid.device)
        table = table.scatter_(-1, torch.where(valid, layout.slot_blocks, nb), True)[..., :nb]
        blocks = -(-layout.key_lengths // self.config.block_size)  # (B,) real blocks, at least 1
        real_block = torch.arange(nb, device=valid.device) < blocks[:, None]  # (B, nb)
        is_global = torch.zeros(batch * heads * nb, dtype=torch.bool, device=valid.device)
        is_global[layout.global_rows] = True
        is_global = is_global.view(batch, heads, nb, 1) & real_block[:, None, :, None]
        table = torch.where(is_global, real_block[:, None, None, :], table)
        return table & real_block[:, None, :, None]


def _bias(allowed: torch.Tensor) -> torch.Tensor:
    """Additive float mask: 0 where allowed, -inf elsewhere."""
    return torch.zeros(allowed.shape).masked_fill_(~allowed, float("-inf"))


def _pad(x: torch.Tensor, padded: int) -> torch.Tensor:
    """x (B, H, L, D) zero-padded to (B, H, padded, D), contiguous."""
    return F.pad(x, (0, 0, 0, padded - x.shape[2])) if padded > x.shape[2] else x.contiguous()
