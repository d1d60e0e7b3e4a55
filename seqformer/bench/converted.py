"""A converted (or native) masked LM run longer and faster: drift from dense, then speed and memory.

Axes: R rows, L tokens, V vocabulary. Two measurements of ``seqformer bench converted``:

1. **Drift on the same weights** (:func:`measure_drift`). The model's own weights are rebuilt with
   each attention kind (:func:`seqformer.models.rekind.with_attention`) and run on R rows of L
   tokens made from held-apart records: each record encoded with its own framing (e.g.
   ``<cls> … <eos>``), the encodings joined in file order and cut into rows of L tokens (so a row
   holds whole proteins back to back, or one stretch of a long DNA record). Reported per kind:
   the relative logit error ‖z − z_dense‖ / ‖z_dense‖ over every position, and the masked-LM
   perplexity: a seeded 15% of each row's sequence tokens (never specials) are replaced by the
   mask token, the same positions for every kind, and exp of the mean cross-entropy there.
2. **Speed and memory** (:func:`run_speed`). Each (implementation, L) runs in a fresh process
   (``python -m seqformer.bench.converted --worker SPEC``): the seqformer model with a given kind,
   or the source checkpoint in transformers (``AutoModelForMaskedLM``, its default attention
   implementation, named in the row), one inference forward pass (no grad) on seeded random
   sequence tokens framed as the tokenizer frames them, batch 1; best of ``repeats`` after a
   warm-up; peak memory is the worker's ``ru_maxrss`` (interpreter and libraries included).

:func:`export_esm` writes a seqformer protein masked LM (dense, rotary, pre-LN) as a Hugging Face
``EsmForMaskedLM`` folder: it is how the benchmark gets a transformers source for a model trained
here (no checkpoint can be downloaded), and ``seqformer convert`` must give the model back exactly.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from seqformer.convert import ESM_ALPHABET
from seqformer.errors import InputError

DEFAULT_KINDS = ("dense", "bigbird", "performer-softmax", "performer-relu", "longformer")
#: Options each kind runs with here (the attention benchmark's settings).
KIND_OPTIONS: dict[str, dict[str, Any]] = {
    "dense": {}, "bigbird": {"block_size": 64, "num_random_blocks": 3},
    "performer-softmax": {"num_features": 256}, "performer-relu": {"num_features": 256},
    "longformer": {"window": 256}, "nystromformer": {"num_landmarks": 64},
}
HF_IMPL = "transformers"  # the speed rows of the source checkpoint
MASK_FRACTION = 0.15


@dataclass
class DriftRow:
    """One (kind, L) drift measurement on the same weights."""

    kind: str  # attention kind the weights ran under
    length: int  # L tokens per row
    rows: int  # R rows of L tokens
    logit_rel_error: float  # ‖z − z_dense‖ / ‖z_dense‖ over every position of every row
    logit_max_abs: float  # max |z − z_dense|
    perplexity: float  # masked-LM perplexity at the masked positions
    masked_tokens: int  # how many positions were masked (the same for every kind)


@dataclass
class SpeedRow:
    """One (implementation, L) speed and memory measurement."""

    impl: str  # "seqformer:KIND" or "transformers"
    length: int  # L tokens, batch 1
    seconds: float | None  # best inference forward time; None unless status is "ok"
    peak_mb: float | None  # the worker's peak resident memory (ru_maxrss), MiB
    status: str  # "ok" | "timeout" | "oom" | "error: ..."
    detail: str | None = None  # why, when not ok; the attention implementation for transformers


def long_rows(tokenizer: Any, records: Sequence[str], length: int, rows: int) -> torch.Tensor:
    """(R, L) token ids: each record encoded with its framing, joined in order, cut into R rows of L.

    Raises InputError when the records hold fewer than R·L tokens.
    """
    need, parts, have = rows * length, [], 0
    for record in records:
        ids = torch.from_numpy(tokenizer.encode(record).astype("int64"))
        parts.append(ids)
        have += len(ids)
        if have >= need:
            return torch.cat(parts)[:need].view(rows, length)
    raise InputError(f"the records hold {have} tokens; {rows} rows of {length} need {need} "
                     f"(pass more sequence or fewer --rows)")


def mask_rows(tokenizer: Any, ids: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(masked ids, where (R, L) bool): a seeded MASK_FRACTION of the sequence tokens replaced by the mask id."""
    generator = torch.Generator().manual_seed(seed)
    body = tokenizer.is_body(ids)
    where = body & (torch.rand(ids.shape, generator=generator) < MASK_FRACTION)
    return ids.masked_fill(where, tokenizer.mask_id), where


def measure_drift(model: nn.Module, records: Sequence[str], lengths: Sequence[int], kinds: Sequence[str],
                  rows: int = 4, seed: int = 0, options: dict[str, dict[str, Any]] | None = None,
                  on_row: Callable[[DriftRow], None] | None = None) -> list[DriftRow]:
    """Relative logit error against dense and masked-LM perplexity for each kind at each length."""
    from seqformer.models.rekind import with_attention

    options = {**KIND_OPTIONS, **(options or {})}
    tokenizer, out = model.tokenizer, []
    for length in lengths:
        ids = long_rows(tokenizer, records, length, rows)
        masked, where = mask_rows(tokenizer, ids, seed)
        dense = with_attention(model, "dense", max_length=max(length, model.config.encoder.max_length)).eval()
        with torch.no_grad():
            reference = dense(ids).logits.float()  # (R, L, V)
        for kind in kinds:
            try:
                runner = with_attention(model, kind, options.get(kind, {}),
                                        max_length=max(length, model.config.encoder.max_length)).eval()
            except ValueError as err:
                raise InputError(f"{kind} at L={length}: {err}") from None
            with torch.no_grad():
                logits = reference if kind == "dense" else runner(ids).logits.float()
                masked_logits = runner(masked).logits.float()[where]  # (N, V)
            loss = torch.nn.functional.cross_entropy(masked_logits, ids[where])
            row = DriftRow(kind, length, rows, float((logits - reference).norm() / reference.norm()),
                           float((logits - reference).abs().max()), math.exp(float(loss)), int(where.sum()))
            out.append(row)
            if on_row is not None:
                on_row(row)
    return out


def run_speed(model_dir: Path, source: Path | None, lengths: Sequence[int], kinds: Sequence[str],
              repeats: int = 2, threads: int | None = None, timeout: float = 900.0,
              on_row: Callable[[SpeedRow], None] | None = None) -> list[SpeedRow]:
    """Inference time and peak memory of each kind (and of the transformers source) at each length.

    An implementation that fails at one length (out of memory, time) is not run at longer ones.
    """
    impls = [f"seqformer:{kind}" for kind in kinds] + ([HF_IMPL] if source is not None else [])
    rows, failed = [], {}
    for length in sorted(lengths):
        for impl in impls:
            if impl in failed:
                row = SpeedRow(impl, length, None, None, failed[impl], f"not run: {failed[impl]} at a shorter length")
            else:
                spec = {"impl": impl, "length": length, "model": str(model_dir), "repeats": repeats,
                        "source": None if source is None else str(source), "threads": threads}
                row = _run_worker(spec, timeout)
                if row.status != "ok":
                    failed[impl] = row.status
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows


def _run_worker(spec: dict[str, Any], timeout: float) -> SpeedRow:
    command = [sys.executable, "-m", "seqformer.bench.converted", "--worker", json.dumps(spec)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return SpeedRow(spec["impl"], spec["length"], None, None, "timeout", f"worker ran past {timeout:g} s")
    lines = done.stdout.strip().splitlines()
    if done.returncode == 0 and lines:
        return SpeedRow(**json.loads(lines[-1]))
    if done.returncode == -9:
        return SpeedRow(spec["impl"], spec["length"], None, None, "oom", "worker killed by SIGKILL")
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return SpeedRow(spec["impl"], spec["length"], None, None, f"error: exit {done.returncode}", last[-300:])


def _worker(spec: dict[str, Any]) -> SpeedRow:
    """Inside the worker: build, warm up, time one forward pass ``repeats`` times."""
    from seqformer.models import load_model
    from seqformer.models.rekind import with_attention

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    length, impl = int(spec["length"]), spec["impl"]
    model = load_model(spec["model"])
    tokenizer = model.tokenizer
    generator = torch.Generator().manual_seed(0)
    body = torch.as_tensor(tokenizer.body_ids)
    ids = body[torch.randint(len(body), (1, length), generator=generator)]  # (1, L)
    ids[0, 0] = tokenizer.cls_id
    if tokenizer.sep_id is not None:
        ids[0, -1] = tokenizer.sep_id
    detail = None
    if impl == HF_IMPL:
        from transformers import AutoModelForMaskedLM

        runner = AutoModelForMaskedLM.from_pretrained(spec["source"]).eval()
        detail = f"attn_implementation={runner.config._attn_implementation}"
        forward = lambda: runner(input_ids=ids).logits  # noqa: E731
    else:
        kind = impl.split(":", 1)[1]
        runner = with_attention(model, kind, KIND_OPTIONS.get(kind, {}),
                                max_length=max(length, model.config.encoder.max_length)).eval()
        forward = lambda: runner(ids).logits  # noqa: E731
    best = math.inf
    with torch.no_grad():
        forward()  # warm-up
        for _ in range(int(spec["repeats"])):
            start = time.perf_counter()
            forward()
            best = min(best, time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return SpeedRow(impl, length, best, peak, "ok", detail)


# --- a Hugging Face ESM folder from a seqformer protein masked LM --------------------------------


def export_esm(model: nn.Module, out: Path) -> Path:
    """Write a dense, rotary, pre-LN seqformer protein MaskedLM as a transformers EsmForMaskedLM folder.

    Inverse of the converter's mapping: q and k rows back to rotate-half order, the fused QKV split,
    the vocabulary moved to the ESM alphabet (rows of ESM tokens the model lacks are zero).
    """
    from transformers import EsmConfig, EsmForMaskedLM

    enc = model.config.encoder
    if enc.attention != "dense" or enc.position != "rope" or getattr(enc, "norm", "pre") != "pre":
        raise InputError("export_esm takes a dense, rotary, pre-LN protein masked LM")
    tokenizer = model.tokenizer
    config = EsmConfig(vocab_size=len(ESM_ALPHABET), hidden_size=enc.hidden_size, num_hidden_layers=enc.num_layers,
                       num_attention_heads=enc.num_heads, intermediate_size=enc.ffn_size, hidden_act="gelu",
                       position_embedding_type="rotary", pad_token_id=1, mask_token_id=len(ESM_ALPHABET) - 1,
                       token_dropout=False, layer_norm_eps=enc.layer_norm_eps, max_position_embeddings=1026,
                       emb_layer_norm_before=False, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    target = EsmForMaskedLM(config)
    ours = model.state_dict()
    roles = {tokenizer.pad_id: "<pad>", tokenizer.unk_id: "<unk>", tokenizer.cls_id: "<cls>",
             tokenizer.sep_id: "<eos>", tokenizer.mask_id: "<mask>"}
    rows = torch.tensor([ESM_ALPHABET.index(roles.get(i, token)) for i, token in enumerate(tokenizer.vocab)])

    def vocab_rows(tensor: torch.Tensor) -> torch.Tensor:
        full = tensor.new_zeros((len(ESM_ALPHABET), *tensor.shape[1:]))
        full[rows] = tensor
        return full

    order = torch.cat([torch.arange(0, enc.head_dim, 2), torch.arange(1, enc.head_dim, 2)])  # HF row i ← ours order[i]

    def unrotate(tensor: torch.Tensor) -> torch.Tensor:  # (D, ...) per head: interleaved → halves
        return tensor.view(enc.num_heads, enc.head_dim, *tensor.shape[1:])[:, order].reshape(tensor.shape)

    state = {"esm.embeddings.word_embeddings.weight": vocab_rows(ours["encoder.embed.weight"]),
             "esm.encoder.emb_layer_norm_after.weight": ours["encoder.norm.weight"],
             "esm.encoder.emb_layer_norm_after.bias": ours["encoder.norm.bias"],
             "lm_head.dense.weight": ours["head.dense.weight"], "lm_head.dense.bias": ours["head.dense.bias"],
             "lm_head.layer_norm.weight": ours["head.norm.weight"], "lm_head.layer_norm.bias": ours["head.norm.bias"],
             "lm_head.bias": vocab_rows(ours["head.bias"])}
    for i in range(enc.num_layers):
        src, dst = f"encoder.blocks.{i}.", f"esm.encoder.layer.{i}."
        q, k, v = ours[src + "attention.qkv.weight"].chunk(3)
        qb, kb, vb = ours[src + "attention.qkv.bias"].chunk(3)
        state |= {dst + "attention.self.query.weight": unrotate(q), dst + "attention.self.query.bias": unrotate(qb),
                  dst + "attention.self.key.weight": unrotate(k), dst + "attention.self.key.bias": unrotate(kb),
                  dst + "attention.self.value.weight": v, dst + "attention.self.value.bias": vb,
                  dst + "attention.output.dense.weight": ours[src + "attention.proj.weight"],
                  dst + "attention.output.dense.bias": ours[src + "attention.proj.bias"],
                  dst + "attention.LayerNorm.weight": ours[src + "norm_attention.weight"],
                  dst + "attention.LayerNorm.bias": ours[src + "norm_attention.bias"],
                  dst + "intermediate.dense.weight": ours[src + "mlp.fc_in.weight"],
                  dst + "intermediate.dense.bias": ours[src + "mlp.fc_in.bias"],
                  dst + "output.dense.weight": ours[src + "mlp.fc_out.weight"],
                  dst + "output.dense.bias": ours[src + "mlp.fc_out.bias"],
                  dst + "LayerNorm.weight": ours[src + "norm_mlp.weight"],
                  dst + "LayerNorm.bias": ours[src + "norm_mlp.bias"]}
    missing, unexpected = target.load_state_dict(state, strict=False)
    left = [key for key in missing if not key.startswith(("esm.contact_head", "lm_head.decoder"))
            and "inv_freq" not in key]
    if left or unexpected:
        raise RuntimeError(f"export_esm mapping incomplete: missing {left}, unexpected {unexpected}")
    target.tie_weights()
    out = Path(out)
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Writing model shards" bar in notebooks and logs
    try:
        target.save_pretrained(out)
    finally:
        if shown:
            hf_logging.enable_progress_bar()
    (out / "vocab.txt").write_text("\n".join(ESM_ALPHABET) + "\n")
    return out


def drift_table(rows: Sequence[DriftRow]) -> str:
    """A markdown table of drift rows."""
    lines = ["| kind | L | rows | logit rel. error | max abs | perplexity | masked |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r.kind} | {r.length} | {r.rows} | {r.logit_rel_error:.2e} | {r.logit_max_abs:.3g} | "
              f"{r.perplexity:.3f} | {r.masked_tokens} |" for r in rows]
    return "\n".join(lines)


def speed_table(rows: Sequence[SpeedRow]) -> str:
    """A markdown table of speed rows."""
    lines = ["| implementation | L | seconds | tokens/s | peak MiB | status |", "| --- | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        rate = "-" if r.seconds is None else f"{r.length / r.seconds:,.0f}"
        secs = "-" if r.seconds is None else f"{r.seconds:.3f}"
        peak = "-" if r.peak_mb is None else f"{r.peak_mb:,.0f}"
        lines.append(f"| {r.impl} | {r.length} | {secs} | {rate} | {peak} | {r.status}"
                     + (f" ({r.detail})" if r.detail else "") + " |")
    return "\n".join(lines)


def write_json(drift: Sequence[DriftRow], speed: Sequence[SpeedRow], settings: dict[str, Any], path: Path) -> None:
    """Rows, settings and the machine, as JSON."""
    from seqformer.bench.machine import cpu_model
    from seqformer.io.atomic import atomic_open

    data = {"settings": settings, "machine": {"cpu": cpu_model(), "torch": torch.__version__},
            "drift": [dataclasses.asdict(r) for r in drift], "speed": [dataclasses.asdict(r) for r in speed]}
    with atomic_open(Path(path), "w") as handle:
        json.dump(data, handle, indent=2)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="seqformer bench converted worker")
    parser.add_argument("--worker", required=True)
    args = parser.parse_args(argv)
    print(json.dumps(dataclasses.asdict(_worker(json.loads(args.worker)))))


if __name__ == "__main__":
    main()
