"""Reversible residual blocks (RevNet, as in Reformer): activations are recomputed in the backward pass.

Axes: B batch, L tokens, D width.

A reversible stack carries two streams (x1, x2), both the embeddings at the start. Block i has the
two branches of a plain pre-LN block, F = attention(norm(·)) and G = MLP(norm(·)) (the same
submodules, parameter names and shapes as :class:`~seqformer.models.encoder.Block`), composed as

    y1 = x1 + F(x2)          x2 = y2 − G(y1)
    y2 = x2 + G(y1)          x1 = y1 − F(x2)       (the inverse)

and the hidden state after a block is the mean (y1 + y2) / 2. "The same weights" means: one set
of block modules, run either through :func:`two_stream_forward` (plain autograd, activations kept)
or through :func:`reversible_stack` (activations recomputed); both compute the same function, and
the gradients agree to floating-point rounding. (The same weights in an ordinary encoder compute a
different function: there the block is x + F(x), then + G.)

:func:`reversible_stack` runs the blocks under no_grad and saves only the final (y1, y2). The
backward pass walks the blocks in reverse, rebuilds each block's inputs from its outputs, and
recomputes G, then F, with grad, one block at a time; G goes over chunks of ``ffn_chunk_size``
tokens when that is set (it is token-wise). Activation memory is O(B·L·D) for the whole stack plus
one block's internals, whatever the depth. Each recomputation replays the branch's RNG state
(dropout), autocast state, attention buffers (e.g. a Performer projection redrawn in that forward
pass) and the attention's discrete choices (Reformer's LSH buckets, which a rebuilt input could
otherwise flip by rounding) as they were, so it repeats the forward pass.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn


def two_stream_forward(blocks: nn.ModuleList, x: torch.Tensor, rotation, key_padding_mask, need_weights: bool,
                       keep_hidden: bool) -> tuple[torch.Tensor, list[torch.Tensor], list]:
    """Plain autograd through reversible blocks: (final mean (B, L, D), each block's mean if kept, probs)."""
    x1 = x2 = x
    hidden, attentions = [], []
    for block in blocks:
        attended, probs = block.attend(x2, rotation, key_padding_mask, need_weights)
        x1 = x1 + attended  # y1
        x2 = x2 + block.feed_forward(x1)  # y2
        hidden += [(x1 + x2) / 2] if keep_hidden else []
        attentions.append(probs)
    return (x1 + x2) / 2, hidden, attentions


def reversible_stack(blocks: nn.ModuleList, x: torch.Tensor, rotation, key_padding_mask) -> torch.Tensor:
    """The final mean (y1 + y2) / 2 (B, L, D) of the reversible blocks, activations recomputed in backward."""
    params = [p for block in blocks for p in (*_branch_parameters(block, "f"), *_branch_parameters(block, "g"))]
    y1, y2 = _ReversibleStack.apply(x, x, rotation, key_padding_mask, tuple(blocks), *params)
    return (y1 + y2) / 2


def _branch_parameters(block: nn.Module, branch: str) -> list[nn.Parameter]:
    """Trainable parameters of branch F (norm_attention, attention) or G (norm_mlp, mlp) of a block."""
    modules = (block.norm_attention, block.attention) if branch == "f" else (block.norm_mlp, block.mlp)
    return [p for module in modules for p in module.parameters() if p.requires_grad]


@dataclass
class _BranchState:
    """What a branch's forward pass depended on besides its inputs and parameters."""

    cpu_rng: torch.Tensor  # torch.get_rng_state() before the branch ran
    cuda_rng: torch.Tensor | None  # the CUDA generator's state, for inputs on a CUDA device
    autocast: tuple[bool, torch.dtype]  # autocast enabled and dtype for the inputs' device type
    buffers: list[tuple[str, torch.Tensor]]  # copies of the branch's buffers before it ran
    choices: object = None  # the attention kind's last_choices() after it ran (LSH buckets)


def _capture(module: nn.Module | None, device: torch.device) -> _BranchState:
    """The RNG, autocast and buffer state before ``module`` (None: no buffers) runs on ``device``."""
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    buffers = [] if module is None else [(name, buffer.clone()) for name, buffer in module.named_buffers()]
    return _BranchState(torch.get_rng_state(), cuda,
                        (torch.is_autocast_enabled(device.type), torch.get_autocast_dtype(device.type)), buffers)


def _set_buffers(module: nn.Module, buffers: list[tuple[str, torch.Tensor]]) -> None:
    for name, tensor in buffers:
        owner, _, leaf = name.rpartition(".")
        setattr(module.get_submodule(owner), leaf, tensor)


@contextmanager
def _replay(state: _BranchState, module: nn.Module | None, device: torch.device):
    """Run the block under ``state`` (RNG, autocast, buffers), then put the current buffers back."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.set_rng_state(state.cpu_rng)
        if state.cuda_rng is not None:
            torch.cuda.set_rng_state(state.cuda_rng, device)
        current = [] if module is None else list(module.named_buffers())
        if module is not None:
            _set_buffers(module, [(name, tensor.clone()) for name, tensor in state.buffers])
            module.attention.replay_choices(state.choices)
        try:
            enabled, dtype = state.autocast
            with torch.enable_grad(), torch.autocast(device.type, dtype=dtype, enabled=enabled):
                yield
        finally:
            if module is not None:
                module.attention.replay_choices(None)
                _set_buffers(module, current)


def _add(total: list, grads) -> list:
    """Element-wise sum of gradient lists (None = no gradient yet)."""
    return [b if a is None else a if b is None else a + b for a, b in zip(total, grads)]


class _ReversibleStack(torch.autograd.Function):
    """(x1, x2) → (y1, y2) through every block; saves only (y1, y2) and recomputes the rest in backward."""

    @staticmethod
    def forward(ctx, x1, x2, rotation, key_padding_mask, blocks, *params):
        device = x1.device
        states = []
        for block in blocks:  # Function.forward runs without grad: nothing inside is kept
            f_state = _capture(block.attention, device)
            x1 = x1 + block.attend(x2, rotation, key_padding_mask, False)[0]
            f_state.choices = block.attention.attention.last_choices()
            g_state = _capture(None, device)
            x2 = x2 + block.feed_forward(x1)
            states.append((f_state, g_state))
        ctx.blocks, ctx.states = blocks, states
        ctx.save_for_backward(x1, x2, rotation, key_padding_mask)
        return x1, x2

    @staticmethod
    def backward(ctx, dy1, dy2):
        y1, y2, rotation, key_padding_mask = ctx.saved_tensors
        device = y1.device
        param_grads = []
        for block, (f_state, g_state) in zip(reversed(ctx.blocks), reversed(ctx.states)):
            f_params, g_params = _branch_parameters(block, "f"), _branch_parameters(block, "g")
            with _replay(g_state, None, device):  # G(y1), chunk by chunk: x2 = y2 - G(y1)
                x2, g_dy1, g_grads = _feed_forward_backward(block, y1, dy2, g_params)
            x2 = y2 - x2
            dy1 = dy1 + g_dy1
            with _replay(f_state, block.attention, device):  # F(x2): x1 = y1 - F(x2)
                x2_in = x2.detach().requires_grad_()
                attended = block.attend(x2_in, rotation, key_padding_mask, False)[0]
            f_dx2, *f_grads = torch.autograd.grad(attended, (x2_in, *f_params), dy1, allow_unused=True)
            y1, y2 = y1 - attended.detach(), x2
            dy2 = dy2 + f_dx2
            param_grads = [*f_grads, *g_grads, *param_grads]
        return dy1, dy2, None, None, None, *param_grads


def _feed_forward_backward(block, y1, dy2, params):
    """G(y1) (B, L, D), dG/dy1ᵀ dy2 and the parameter gradients, over chunks of ``block.ffn_chunk_size``."""
    chunk = block.ffn_chunk_size or y1.shape[1]
    outs, input_grads, total = [], [], [None] * len(params)
    for part, grad_part in zip(y1.split(chunk, dim=1), dy2.split(chunk, dim=1)):
        part = part.detach().requires_grad_()
        out = block.mlp(block.norm_mlp(part))
        input_grad, *grads = torch.autograd.grad(out, (part, *params), grad_part, allow_unused=True)
        outs.append(out.detach())
        input_grads.append(input_grad)
        total = _add(total, grads)
    return torch.cat(outs, dim=1), torch.cat(input_grads, dim=1), total
