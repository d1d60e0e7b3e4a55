"""FlexAttention for block-sparse kinds: a ``BlockMask`` built from block indices, never from a
mask function evaluated at every position.

Axes: B batch, H heads, L tokens (already padded to a multiple of the block size b), D head width,
nb = L / b blocks. A block table (B, H, nb, nb) says which key blocks each query block sees; blocks
holding only real keys become *full* blocks (no mask_mod call), the block where the real keys end
becomes a *partial* block whose mask_mod hides the padding.

Compiled (the CUDA path) FlexAttention visits only the listed blocks. Eager FlexAttention (any
device, e.g. the CPU in tests) ignores the block lists and evaluates mask_mod densely, so there the
mask_mod also looks the block table up; the result is the same either way.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

_compiled_flex: Any = None


def available() -> bool:
    """Whether ``torch.nn.attention.flex_attention`` can be imported."""
    try:
        from torch.nn.attention.flex_attention import BlockMask, flex_attention  # noqa: F401
    except ImportError:
        return False
    return True


def _sorted_blocks(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(count (B, H, nb), indices (B, H, nb, nb)) int32 of the True blocks of each row, ascending."""
    count = mask.sum(-1, dtype=torch.int32)
    indices = torch.argsort((~mask).to(torch.int8), dim=-1, stable=True).to(torch.int32)
    return count, indices


def block_mask_from_table(table: torch.Tensor, key_lengths: torch.Tensor, block_size: int,
                          check_table_in_mask_mod: bool = False):
    """The ``BlockMask`` of a boolean block table (B, H, nb, nb) and real key lengths (B,).

    ``check_table_in_mask_mod`` makes mask_mod also test the table (needed by eager FlexAttention).
    """
    from torch.nn.attention.flex_attention import BlockMask

    nb = table.shape[-1]
    length = nb * block_size
    ends = torch.arange(1, nb + 1, device=table.device) * block_size  # (nb,) end of each block
    real_only = (ends <= key_lengths[:, None])[:, None, None, :]  # (B, 1, 1, nb) no padding inside
    full_count, full_indices = _sorted_blocks(table & real_only)
    partial_count, partial_indices = _sorted_blocks(table & ~real_only)

    def padding(b, h, q_idx, kv_idx):
        return kv_idx < key_lengths[b]

    def padding_and_table(b, h, q_idx, kv_idx):
        return (kv_idx < key_lengths[b]) & table[b, h, q_idx // block_size, kv_idx // block_size]

    return BlockMask.from_kv_blocks(
        partial_count, partial_indices, full_kv_num_blocks=full_count, full_kv_indices=full_indices,
        BLOCK_SIZE=block_size, mask_mod=padding_and_table if check_table_in_mask_mod else padding,
        seq_lengths=(length, length))


def flex_attention_with(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_mask,
                        compiled: bool) -> torch.Tensor:
    """FlexAttention of q, k, v (B, H, L, D) under ``block_mask``; compiled (fused) or eager."""
    from torch.nn.attention.flex_attention import flex_attention

    global _compiled_flex
    if compiled:
        if _compiled_flex is None:
            _compiled_flex = torch.compile(flex_attention)
        return _compiled_flex(q, k, v, block_mask=block_mask)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*flex_attention called without torch.compile.*")
        return flex_attention(q, k, v, block_mask=block_mask)


def block_sparse_flex_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, table: torch.Tensor,
                                key_lengths: torch.Tensor, block_size: int,
                                compiled: bool | None = None) -> torch.Tensor:
    """Softmax attention of q, k, v (B, H, L, D) over the blocks of ``table`` (B, H, nb, nb).

    Keys at or after ``key_lengths`` (B,) are masked. Query blocks with no key block give zeros.
    ``compiled`` defaults to True on CUDA (fused kernel) and False elsewhere (eager reference).
    """
    compiled = q.is_cuda if compiled is None else compiled
    block_mask = block_mask_from_table(table, key_lengths, block_size, check_table_in_mask_mod=not compiled)
    return flex_attention_with(q, k, v, block_mask, compiled)
