"""``seqformer bench flex``: rows, FLOP counts and the flex-vs-gather check (no timing assertions)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from typer.testing import CliRunner

from seqformer.attention import flex as flex_backend
from seqformer.bench import flex as bench
from seqformer.cli import app
from seqformer.errors import InputError

pytestmark = pytest.mark.skipif(not flex_backend.available(), reason="torch has no flex_attention")
TINY = bench.FlexBenchSettings(batch_size=2, num_heads=2, head_dim=16, block_size=16, num_random_blocks=1,
                               device="cpu", dtype="fp32", backward=False, repeats=1, warmup=0)


def test_flop_counts():
    dense = bench.attention_flops(TINY, 256)
    assert dense == 4 * 2 * 2 * 256 * 256 * 16  # forward only: 4·B·H·L²·Dh
    assert bench.attention_flops(TINY, 256, computed_blocks=10) == 4 * 10 * 16 * 16 * 16
    timed_backward = dataclasses.replace(TINY, device="cuda", backward=True)
    assert bench.attention_flops(timed_backward, 256) == dense * (1 + bench.BACKWARD_FLOPS_FACTOR)


def test_cpu_forward_rows_agree_with_the_gather_path():
    rows = bench.run_flex_benchmark([256, 128], TINY)
    assert [row.length for row in rows] == [128, 256] and all(row.status == "ok" for row in rows), rows
    from seqformer.attention.bigbird import BigBirdAttention, BigBirdAttentionConfig

    module = BigBirdAttention(BigBirdAttentionConfig(block_size=16, num_random_blocks=1), num_heads=2, head_dim=16)
    for row in rows:
        nb = row.length // 16
        assert row.computed_fraction == pytest.approx(float(module.block_mask(nb).float().mean()))
        assert row.max_abs_diff_vs_gather < 1e-5
        assert row.dense_seconds > 0 and row.flex_seconds > 0
        assert row.efficiency == pytest.approx(row.flex_tflops / row.dense_tflops)
    assert rows[1].computed_fraction < rows[0].computed_fraction  # the pattern thins as L grows


@pytest.mark.parametrize("change, message", [
    ({"backward": True}, "no backward pass on the CPU"),
    ({"dtype": "int8"}, "dtype must be one of"),
    ({"device": "tpu"}, "device must be cpu or cuda"),
])
def test_bad_settings(change, message):
    with pytest.raises(InputError, match=message):
        dataclasses.replace(TINY, **change)


def test_cli_json_and_one_line_errors(tmp_path, monkeypatch):
    out = tmp_path / "flex.json"
    args = ["bench", "flex", "--device", "cpu", "--forward-only", "--dtype", "fp32", "--batch-size", "1",
            "--heads", "2", "--head-dim", "16", "--block-size", "16", "--repeats", "1"]
    result = CliRunner().invoke(app, [*args, "--lengths", "128", "--json", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["rows"][0]["status"] == "ok" and payload["settings"]["block_size"] == 16
    assert payload["machine"]["torch"] == torch.__version__ and payload["machine"]["gpu"] is None

    result = CliRunner().invoke(app, [*args, "--lengths", "100"])
    assert result.exit_code == 2 and "multiples of the block size 16" in result.stderr
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    result = CliRunner().invoke(app, ["bench", "flex", "--lengths", "128"])
    assert result.exit_code == 2 and "sees no CUDA device" in result.stderr


@pytest.mark.gpu
def test_cuda_bf16_forward_backward():
    settings = bench.FlexBenchSettings(batch_size=1, num_heads=4, head_dim=64, block_size=64, repeats=2)
    (row,) = bench.run_flex_benchmark([4096], settings)
    assert row.status == "ok", row
    assert row.efficiency > 0 and row.max_abs_diff_vs_gather < 5e-2  # bf16 inputs, fp32 gather reference
