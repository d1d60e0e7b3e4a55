"""Helpers shared by the attention tests: seeded inputs, padding masks, saved-tensor sizes."""

from __future__ import annotations

import torch


def qkv(batch, heads, length, dim, *, dtype=torch.float32, seed=0, grad=False):
    """Three seeded N(0, 1) tensors (B, H, L, D)."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, heads, length, dim, generator=gen, dtype=dtype).requires_grad_(grad)
            for _ in range(3)]


def padding_mask(lengths, length):
    """(B, L) bool, True for the first ``lengths[b]`` tokens."""
    return torch.arange(length) < torch.tensor(lengths)[:, None]


def largest_saved_tensor(fn) -> int:
    """Elements of the largest tensor autograd saves for backward while ``fn()`` runs, after its backward."""
    sizes = []

    def pack(tensor):
        sizes.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = fn()
    out.pow(2).sum().backward()
    return max(sizes)


def saved_bytes(fn) -> int:
    """Bytes of every tensor autograd saves while ``fn()`` runs (parameters included)."""
    seen = {}

    def pack(tensor):
        seen[(tensor.data_ptr(), tensor.shape, tensor.dtype)] = tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn()
    return sum(seen.values())


def saved_tensors_grow_linearly(module) -> bool:
    """Whether the largest tensor ``module`` saves for backward at 2,048 tokens is at most twice that at
    1,024 and far below a dense (B, H, L, L) (q, k, v of shape (1, H, L, D))."""

    def largest(length):
        q, k, v = qkv(1, module.num_heads, length, module.head_dim, grad=True)
        return largest_saved_tensor(lambda: module(q, q if module.shared_qk else k, v).out)

    big = largest(2048)
    return big <= 2 * largest(1024) and big < module.num_heads * 2048 * 2048 // 4
