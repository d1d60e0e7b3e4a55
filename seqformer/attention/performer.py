"""Performer (FAVOR+) linear attention: softmax kernel with positive random features, or ReLU kernel.

Axes: B batch, H heads, L tokens, D head width, M random features (``num_features``).
Queries and keys are mapped to positive features φ (B, H, L, M) with a projection W (M, D) that
is a buffer (saved with the model) drawn from (seed, layer_index). Attention is then
φ(Q) (φ(K)ᵀ V) normalised by φ(Q) Σ φ(K): O(L·M·D) time and memory, never L x L.

- softmax kernel: φ(x) = exp(W x' - |x'|²/2 - s) + ε with x' = x / D^¼, stabiliser s the row max
  for queries and the max over all *real* keys for keys (FAVOR+), orthogonal W rows with
  chi-distributed norms; the ratio M^-½ of the paper cancels in the normalisation and is left out.
- ReLU kernel: φ(x) = relu(W x') + ε.

Padded keys get φ = 0, so they are out of both the normaliser and the key-value sum: appending
padding never changes real outputs (performer-pytorch only zeroes V). Padded queries give zeros.
Under fp16/bf16 every feature, sum and product is computed in fp32. Causal attention uses chunked
prefix sums: per chunk of c tokens a (M, D) key-value sum, an exclusive cumulative sum over
chunks (L/c · M · D memory) and a masked c x c product inside each chunk.
The implicit attention φ(Q)φ(K)ᵀ (rows normalised) that ``need_weights=True`` returns as (B, H, L, L)
is also given c query rows at a time by :meth:`PerformerAttention.attention_rows`, in O(c·L + L·M).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from seqformer.attention.base import Attention, AttentionOutput, check_inputs, check_rows

_HALF = (torch.float16, torch.bfloat16)
CHUNK_ELEMENTS = 1 << 19  # features per chunk of tokens (2 MiB in fp32) in the bidirectional pass


@dataclass(frozen=True)
class PerformerConfig:
    """Options shared by both Performer kernels."""

    num_features: int = 256  # M: random features per head (the projection is (M, D), shared by heads)
    orthogonal: bool = True  # block-orthogonal Gaussian rows with chi-distributed norms (else i.i.d.)
    redraw_interval: int | None = None  # redraw the projection every N training forward passes; None = never
    causal: bool = False  # queries see only keys at or before their position
    chunk_size: int = 128  # c: tokens per chunk of the causal prefix sums
    kernel_eps: float = 1e-4  # ε added to every feature (keeps the normaliser positive)
    max_weights_length: int = 4096  # need_weights=True refuses longer inputs (it builds (B, H, L, L))

    def __post_init__(self) -> None:
        for name in ("num_features", "chunk_size", "max_weights_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"performer {name} must be an integer >= 1, got {value!r}")
        interval = self.redraw_interval
        if interval is not None and (not isinstance(interval, int) or isinstance(interval, bool) or interval < 1):
            raise ValueError(f"performer redraw_interval must be None or an integer >= 1, got {interval!r}")
        if not isinstance(self.kernel_eps, (int, float)) or isinstance(self.kernel_eps, bool) \
                or not 0.0 <= self.kernel_eps < float("inf"):
            raise ValueError(f"performer kernel_eps must be a finite number >= 0, got {self.kernel_eps!r}")
        for name in ("orthogonal", "causal"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"performer {name} must be true or false, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class PerformerSoftmaxConfig(PerformerConfig):
    """FAVOR+ with the positive softmax kernel."""


@dataclass(frozen=True)
class PerformerReluConfig(PerformerConfig):
    """FAVOR+ with the generalized ReLU kernel."""

    kernel_eps: float = 1e-3  # ε added to every feature (keeps the normaliser positive)


def _generator(*parts: object) -> torch.Generator:
    """A CPU generator seeded by a hash of ``parts``."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)


def draw_projection(num_features: int, dim: int, *, orthogonal: bool, generator: torch.Generator) -> torch.Tensor:
    """Random projection (M, D) in float64: block-orthogonal with chi(D) row norms, or i.i.d. N(0, 1)."""
    if not orthogonal:
        return torch.randn(num_features, dim, generator=generator, dtype=torch.float64)
    blocks = []
    for _ in range(-(-num_features // dim)):
        q, r = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=torch.float64))
        # Fix the signs by diag(R) so that Q is Haar-distributed: raw LAPACK Q has each column's
        # own coordinate of one sign, which biases the features (performer-pytorch keeps that bias).
        blocks.append((q * torch.sign(torch.diagonal(r))).T)  # D orthonormal rows
    rows = torch.cat(blocks)[:num_features]
    norms = torch.randn(num_features, dim, generator=generator, dtype=torch.float64).norm(dim=1)
    return rows * norms[:, None]


def _diag(x: torch.Tensor) -> torch.Tensor:
    """|x'|²/2 (B, H, L, 1) with x' = x / D^¼."""
    return x.square().sum(dim=-1, keepdim=True).mul_(0.5 * x.shape[-1] ** -0.5)


def _key_stabiliser(u: torch.Tensor, real: torch.Tensor | None) -> torch.Tensor:
    """Max of u (B, H, L, M) over real rows and features: (B, H, 1, 1)."""
    return (u if real is None else u.masked_fill(~real, float("-inf"))).amax(dim=(-2, -1), keepdim=True)


def feature_map(x: torch.Tensor, weight: torch.Tensor, kernel: str, eps: float,
                real: torch.Tensor | None = None, is_query: bool = True) -> torch.Tensor:
    """φ(x) (B, H, L, M) of x (B, H, L, D) with weight (M, D) already scaled by D^-¼; plain autograd.

    ``real`` (B, 1, L, 1) marks real rows (padded rows get φ = 0); keys use the global stabiliser.
    """
    u = torch.matmul(x, weight.T)  # (B, H, L, M)
    if kernel == "relu":
        phi = torch.relu(u) + eps
    else:
        stab = u.amax(dim=-1, keepdim=True) if is_query else _key_stabiliser(u, real)
        arg = u - _diag(x) - stab
        phi = torch.exp(arg if real is None else arg.masked_fill(~real, float("-inf"))) + eps
    return phi if real is None else phi.masked_fill(~real, 0.0)


def _chunk_tokens(x: torch.Tensor, features: int) -> int:
    """Tokens per chunk so that one chunk of features (B, H, c, M) holds ~CHUNK_ELEMENTS values."""
    return max(1, CHUNK_ELEMENTS // (x.shape[0] * x.shape[1] * features))


def _ones_column(v: torch.Tensor, real: torch.Tensor | None) -> torch.Tensor:
    """[v, 1] (B, H, c, D + 1) with padded rows zeroed: the ones column sums the normaliser."""
    values = F.pad(v, (0, 1), value=1.0)
    return values if real is None else values.masked_fill(~real, 0.0)


class _Favor(torch.autograd.Function):
    """Bidirectional FAVOR+ over chunks of tokens: features are recomputed in backward, never stored.

    q, k, v (B, H, L, D); weight (M, D) scaled by D^-¼; real (B, 1, L, 1) bool or None. Features
    are handled as φ = E + ε with E = exp(·) or relu(·): the ε part is added in closed form, so φ
    is never materialised. The key stabiliser (max over real keys) is tracked online: the running
    sum Eᵀ[v, 1] is rescaled whenever it grows; its gradient goes to the arg-max entry, as for the
    per-row query max. Memory: O(B·H·M·D) besides inputs and output.
    """

    @staticmethod
    def forward(ctx, q, k, v, weight, real, kernel, eps):
        batch, heads, length, dim = q.shape
        features = weight.shape[0]
        step = _chunk_tokens(q, features)
        kv = q.new_zeros(batch, heads, features, dim + 1)  # Σ Eᵀ [v, 1], then + ε Σ [v, 1]
        value_sum = q.new_zeros(batch, heads, 1, dim + 1)  # Σ_real [v, 1]
        stab = q.new_full((batch, heads, 1, 1), float("-inf"))
        stab_at = torch.zeros(batch, heads, 2, dtype=torch.long, device=q.device)  # (row, feature)
        for start in range(0, length, step):
            part, real_part = slice(start, start + step), _rows(real, start, step)
            u = torch.matmul(k[:, :, part], weight.T)  # (B, H, c, M)
            if kernel == "relu":
                u.clamp_min_(0.0)
            else:
                row_max, row_arg = _max(u, -1)
                if real_part is not None:
                    row_max.masked_fill_(~real_part, float("-inf"))
                part_max, part_row = _max(row_max, -2)  # (B, H, 1, 1)
                new = torch.maximum(stab, part_max)
                kv.mul_(torch.exp(stab - new).nan_to_num_(0.0))
                where = torch.cat([part_row + start, row_arg.gather(-2, part_row)], dim=-1)[:, :, 0]
                stab_at = torch.where((part_max > stab)[:, :, 0], where, stab_at)
                stab = new
                u.sub_(_diag(k[:, :, part])).sub_(stab).exp_()
            if real_part is not None:
                u.masked_fill_(~real_part, 0.0)
            values = _ones_column(v[:, :, part], real_part)
            kv.add_(torch.matmul(u.transpose(-1, -2), values))
            value_sum.add_(values.sum(dim=-2, keepdim=True))
        kv.add_(value_sum, alpha=eps)
        kv_sum = kv.sum(dim=-2, keepdim=True)  # (B, H, 1, D + 1): what the ε of φ(q) picks up
        out = q.new_empty(batch, heads, length, dim)
        norm = q.new_empty(batch, heads, length, 1)
        for start in range(0, length, step):
            part = slice(start, start + step)
            numerator = torch.matmul(_query_exp(q[:, :, part], weight, kernel)[0], kv).add_(kv_sum, alpha=eps)
            norm[:, :, part] = numerator[..., -1:]
            torch.div(numerator[..., :-1], numerator[..., -1:].clamp_min(torch.finfo(q.dtype).tiny),
                      out=out[:, :, part])
        ctx.save_for_backward(q, k, v, weight, real, kv, stab, stab_at, out, norm)
        ctx.kernel, ctx.eps = kernel, eps
        return out

    @staticmethod
    @torch.autocast("cpu", enabled=False)
    def backward(ctx, grad_out):
        q, k, v, weight, real, kv, stab, stab_at, out, norm = ctx.saved_tensors
        kernel, eps = ctx.kernel, ctx.eps
        batch, heads, length, dim = q.shape
        step = _chunk_tokens(q, weight.shape[0])
        grad_kv = torch.zeros_like(kv)
        grad_q, grad_k, grad_v = (torch.empty(x.shape, dtype=x.dtype, device=x.device) for x in (q, k, v))
        for start in range(0, length, step):
            part = slice(start, start + step)
            exp_q, row_arg = _query_exp(q[:, :, part], weight, kernel)
            inv = norm[:, :, part].clamp_min(torch.finfo(q.dtype).tiny).reciprocal_()
            grad = grad_out[:, :, part]
            grad_norm = (grad * out[:, :, part]).sum(-1, keepdim=True).mul_(inv).neg_()
            grad_numerator = torch.cat([grad * inv, grad_norm], dim=-1)  # (B, H, c, D + 1)
            grad_kv.add_(torch.matmul(exp_q.transpose(-1, -2), grad_numerator))
            grad_kv.add_(grad_numerator.sum(dim=-2, keepdim=True), alpha=eps)
            grad_u = torch.matmul(grad_numerator, kv.transpose(-1, -2)).mul_(_gate(exp_q, kernel))
            grad_q[:, :, part] = _input_grad(grad_u, q[:, :, part], weight, kernel, row_arg)
        grad_stab = q.new_zeros(batch, heads, 1, 1)
        grad_kv_sum = grad_kv[..., :-1].sum(dim=-2, keepdim=True)  # (B, H, 1, D)
        for start in range(0, length, step):
            part, real_part = slice(start, start + step), _rows(real, start, step)
            u = torch.matmul(k[:, :, part], weight.T)
            exp_k = u.clamp_min_(0.0) if kernel == "relu" else u.sub_(_diag(k[:, :, part])).sub_(stab).exp_()
            if real_part is not None:
                exp_k.masked_fill_(~real_part, 0.0)
            grad_value = torch.matmul(exp_k, grad_kv[..., :-1]).add_(grad_kv_sum, alpha=eps)
            grad_v[:, :, part] = grad_value if real_part is None else grad_value.masked_fill_(~real_part, 0.0)
            values = _ones_column(v[:, :, part], real_part)
            grad_u = torch.matmul(values, grad_kv.transpose(-1, -2)).mul_(_gate(exp_k, kernel))
            grad_k[:, :, part] = _input_grad(grad_u, k[:, :, part], weight, kernel, None)
            if kernel != "relu":
                grad_stab.sub_(grad_u.sum(dim=(-2, -1), keepdim=True))
        if kernel != "relu":  # the key stabiliser's gradient goes to its arg-max entry
            row = stab_at[:, :, :1, None].expand(-1, -1, 1, dim)  # (B, H, 1, D)
            grad_k.scatter_add_(2, row, grad_stab * weight[stab_at[:, :, 1]][:, :, None, :])
        return grad_q, grad_k, grad_v, None, None, None, None


def _max(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, indices) of the max along ``dim``, kept. argmax + gather: ``Tensor.max(dim)`` costs
    milliseconds on small inputs with two CPU threads."""
    index = x.argmax(dim=dim, keepdim=True)
    return x.gather(dim, index), index


def _rows(real: torch.Tensor | None, start: int, step: int) -> torch.Tensor | None:
    """Rows start:start+step of the real-token mask (B, 1, L, 1), or None."""
    return None if real is None else real[:, :, start:start + step]


def _gate(exp_part: torch.Tensor, kernel: str) -> torch.Tensor:
    """dφ/du given E: E itself for exp features, the step function for ReLU features."""
    return exp_part if kernel != "relu" else (exp_part > 0).to(exp_part.dtype)


def _query_exp(q, weight, kernel):
    """E of φ(q) = E + ε (B, H, c, M) and the per-row arg-max of the stabiliser (None for relu)."""
    u = torch.matmul(q, weight.T)
    if kernel == "relu":
        return u.clamp_min_(0.0), None
    row_max, row_arg = _max(u, -1)
    return u.sub_(_diag(q)).sub_(row_max).exp_(), row_arg


def _input_grad(grad_u, x, weight, kernel, row_arg):
    """Gradient w.r.t. x (B, H, c, D) of u = x Wᵀ given dL/du (B, H, c, M) (modified in place).

    For the softmax kernel the diag term |x'|²/2 and (with ``row_arg``) the per-row stabiliser
    both get -Σ_m dL/du.
    """
    if kernel == "relu":
        return torch.matmul(grad_u, weight)
    grad_diag = grad_u.sum(dim=-1, keepdim=True).neg_()  # (B, H, c, 1)
    if row_arg is not None:
        grad_u.scatter_add_(-1, row_arg, grad_diag)
    return torch.matmul(grad_u, weight).addcmul_(grad_diag, x, value=x.shape[-1] ** -0.5)


def causal_linear_attention(phi_q: torch.Tensor, phi_k: torch.Tensor, v: torch.Tensor, chunk: int) -> torch.Tensor:
    """Causal linear attention through chunked prefix sums; memory O(L·M·D / chunk), no L x M x D."""
    batch, heads, length, features = phi_q.shape
    pad = -length % chunk
    values = F.pad(v, (0, 1), value=1.0)  # (B, H, L, D + 1)
    if pad:  # zero feature rows add nothing to any sum
        phi_q, phi_k, values = (F.pad(x, (0, 0, 0, pad)) for x in (phi_q, phi_k, values))
    n = (length + pad) // chunk
    phi_q = phi_q.view(batch, heads, n, chunk, features)
    phi_k = phi_k.view(batch, heads, n, chunk, features)
    values = values.view(batch, heads, n, chunk, -1)
    chunk_sums = torch.matmul(phi_k.transpose(-1, -2), values)  # (B, H, n, M, D + 1)
    before = F.pad(chunk_sums.cumsum(dim=2)[:, :, :-1], (0, 0, 0, 0, 1, 0))  # sums of earlier chunks
    out = torch.matmul(phi_q, before)  # (B, H, n, c, D + 1)
    within = torch.matmul(phi_q, phi_k.transpose(-1, -2)).tril_()  # (B, H, n, c, c)
    out = out + torch.matmul(within, values)
    return _normalise(out.view(batch, heads, n * chunk, -1)[:, :, :length])


def _normalise(out: torch.Tensor) -> torch.Tensor:
    """(B, H, L, D + 1) numerator | normaliser -> (B, H, L, D); an empty row gives zeros."""
    return out[..., :-1] / out[..., -1:].clamp_min(torch.finfo(out.dtype).tiny)


class PerformerAttention(Attention):
    """FAVOR+ attention; subclasses pick the kernel ("softmax" or "relu")."""

    returns_attention = True
    kernel = "softmax"

    def __init__(self, config: PerformerConfig | None = None, *, num_heads: int, head_dim: int,
                 layer_index: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.config = config or PerformerConfig()
        self.num_heads, self.head_dim = num_heads, head_dim
        self.layer_index, self.seed = layer_index, seed
        # training forward passes so far (drives the redraws); a buffer, so a resumed run redraws on time
        self.register_buffer("training_calls", torch.zeros((), dtype=torch.long))
        self.register_buffer("projection", self._draw(0).float())  # (M, D)

    def extra_repr(self) -> str:
        c = self.config
        return (f"kernel={self.kernel!r}, num_features={c.num_features}, orthogonal={c.orthogonal}, "
                f"causal={c.causal}, redraw_interval={c.redraw_interval}, layer_index={self.layer_index}")

    def _draw(self, draw: int) -> torch.Tensor:
        generator = _generator("performer", self.seed, self.layer_index, draw)
        return draw_projection(self.config.num_features, self.head_dim, orthogonal=self.config.orthogonal,
                               generator=generator)

    def redraw(self) -> None:
        """Draw the next projection (a new tensor, so graphs of earlier passes stay valid)."""
        draw = int(self.training_calls) // self.config.redraw_interval
        self.projection = self._draw(draw).to(self.projection)

    def scaled_projection(self, dtype: torch.dtype) -> torch.Tensor:
        """The projection (M, D) scaled by D^-¼ (the x' = x / D^¼ of FAVOR+), in ``dtype``."""
        return (self.projection * self.head_dim ** -0.25).to(dtype)

    def forward(self, q, k, v, key_padding_mask=None, need_weights=False) -> AttentionOutput:
        check_inputs("performer", q, key_padding_mask, num_heads=self.num_heads, head_dim=self.head_dim,
                     need_weights=need_weights, max_weights_length=self.config.max_weights_length)
        if self.training and self.config.redraw_interval is not None:
            calls = int(self.training_calls)
            if calls and calls % self.config.redraw_interval == 0:
                self.redraw()
            self.training_calls.add_(1)
        dtype = q.dtype
        real = None if key_padding_mask is None else key_padding_mask.bool()[:, None, :, None]  # (B, 1, L, 1)
        with torch.autocast(q.device.type, enabled=False):  # features, sums and products in fp32
            work = torch.float32 if dtype in _HALF else dtype
            q, k, v, weight = q.to(work), k.to(work), v.to(work), self.scaled_projection(work)
            eps = float(self.config.kernel_eps)
            if self.config.causal or need_weights:
                phi_q = feature_map(q, weight, self.kernel, eps)
                phi_k = feature_map(k, weight, self.kernel, eps, real, is_query=False)
            if self.config.causal:
                out = causal_linear_attention(phi_q, phi_k, v, self.config.chunk_size)
            else:
                out = _Favor.apply(q, k, v, weight, real, self.kernel, eps)
            probs = self._probs(phi_q, phi_k, real) if need_weights else None
        if real is not None:
            out = out.masked_fill(~real, 0.0)  # padded queries give zeros
        return AttentionOutput(out=out.to(dtype), probs=None if probs is None else probs.to(dtype))

    def _probs(self, phi_q, phi_k, real):
        """The implicit attention (B, H, L, L): φ(Q)φ(K)ᵀ (lower triangle if causal), rows normalised."""
        scores = torch.matmul(phi_q, phi_k.transpose(-1, -2))
        if self.config.causal:
            scores = scores.tril()
        probs = scores / scores.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(scores.dtype).tiny)
        return probs if real is None else probs.masked_fill(~real, 0.0)

    def attention_rows(self, q, k, key_padding_mask=None, *, start, stop) -> torch.Tensor:
        """Rows start:stop (B, H, c, L) of the implicit attention φ(Q_rows)φ(K)ᵀ, rows normalised, as _probs."""
        check_inputs("performer", q, key_padding_mask, num_heads=self.num_heads, head_dim=self.head_dim)
        check_rows(q, start, stop)
        dtype = q.dtype
        real = None if key_padding_mask is None else key_padding_mask.bool()[:, None, :, None]  # (B, 1, L, 1)
        with torch.autocast(q.device.type, enabled=False):  # features, sums and products in fp32
            work = torch.float32 if dtype in _HALF else dtype
            weight, eps = self.scaled_projection(work), float(self.config.kernel_eps)
            phi_q = feature_map(q[:, :, start:stop].to(work), weight, self.kernel, eps)  # (B, H, c, M)
            phi_k = feature_map(k.to(work), weight, self.kernel, eps, real, is_query=False)  # (B, H, L, M)
            scores = torch.matmul(phi_q, phi_k.transpose(-1, -2))  # (B, H, c, L)
            if self.config.causal:  # key j ≤ query i, as tril() of the full matrix
                rows = torch.arange(start, stop, device=q.device)[:, None]
                scores = scores.masked_fill(torch.arange(q.shape[2], device=q.device)[None, :] > rows, 0.0)
            probs = scores / scores.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(scores.dtype).tiny)
            if real is not None:
                probs = probs.masked_fill(~real[:, :, start:stop], 0.0)
        return probs.to(dtype)


class PerformerSoftmaxAttention(PerformerAttention):
    """FAVOR+ with positive random features for the softmax kernel."""

    kernel = "softmax"

    def __init__(self, config: PerformerSoftmaxConfig | None = None, **kwargs) -> None:
        super().__init__(config or PerformerSoftmaxConfig(), **kwargs)


class PerformerReluAttention(PerformerAttention):
    """FAVOR+ with the generalized ReLU kernel φ(x) = relu(W x') + ε."""

    kernel = "relu"

    def __init__(self, config: PerformerReluConfig | None = None, **kwargs) -> None:
        super().__init__(config or PerformerReluConfig(), **kwargs)
