"""FLOP counts of a masked-LM training step and the model FLOP utilisation (MFU) they give.

Axes: L tokens per window, D width, F MLP width, V vocabulary, K keys each query attends to,
M Performer random features. Only matrix multiplications count (2 FLOPs per multiply-add);
a training step costs 3 times the forward pass (backward = 2 x forward), as in PaLM's MFU.

Forward FLOPs per token and layer: 8·D² (QKV and output projections) + 4·D·F (MLP) + the
attention: 4·K·D for softmax kinds (K = L dense; K ≈ (global + window + random blocks)·block
size for BigBird; 2w + 1 for Longformer's window, its few global rows left out; 2·c per round for
Reformer's LSH chunks), 8·M·D for Performer (feature maps of Q and K, then K'V and Q'(K'V)) and
8·m·D for Nyströmformer's m landmarks (Q·K̃ᵀ, Q̃·Kᵀ, and both products with V; the m×m
pseudo-inverse is left out).
The LM head (2·D² + 2·D·V) runs on the masked share of tokens only.
"""

from __future__ import annotations

from typing import Any

import torch

#: Dense bf16 peak TFLOP/s per GPU, by a substring of torch.cuda.get_device_name (SXM parts).
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0}


def attended_keys(attention: str, options: dict[str, Any], length: int) -> float:
    """K: keys each query attends to (softmax kinds) or M random features (Performer kinds)."""
    if attention == "bigbird":
        slots = options.get("num_global_blocks", 2) + options.get("window_blocks", 3) + \
            options.get("num_random_blocks", 3)
        return float(min(length, slots * options.get("block_size", 64)))
    if attention == "longformer":
        return float(min(length, 2 * options.get("window", 128) + 1))
    if attention == "reformer-lsh":
        return float(min(length, 2 * options.get("chunk_size", 64)) * options.get("n_hashes", 2))
    if attention.startswith("performer"):
        return float(options.get("num_features", 256))
    if attention == "nystromformer":
        return float(min(length, options.get("num_landmarks", 64)))
    return float(length)


#: kinds whose attention costs 8·K·D per token (feature or landmark products) rather than 4·K·D
_EIGHT = ("performer-softmax", "performer-relu", "nystromformer")


def forward_flops_per_token(encoder: Any, length: int, mask_fraction: float) -> float:
    """Forward FLOPs per token of a masked LM whose encoder config is ``encoder`` at length L."""
    D, F, V = encoder.hidden_size, encoder.ffn_size, encoder.vocab_size
    keys = attended_keys(encoder.attention, encoder.attention_options, length)
    attention = (8 if encoder.attention in _EIGHT else 4) * keys * D
    layer = 8 * D * D + 4 * D * F + attention
    head = mask_fraction * (2 * D * D + 2 * D * V)
    return encoder.num_layers * layer + head


def train_flops_per_token(encoder: Any, length: int, mask_fraction: float) -> float:
    """Forward + backward FLOPs per token (3 x forward)."""
    return 3.0 * forward_flops_per_token(encoder, length, mask_fraction)


def peak_flops(device: torch.device, peak_tflops: float | None = None) -> float | None:
    """Peak FLOP/s of one device: ``peak_tflops`` if given, else a known GPU's bf16 peak, else None."""
    if peak_tflops is not None:
        return peak_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((tflops * 1e12 for key, tflops in PEAK_BF16_TFLOPS.items() if key in name), None)
