"""A run killed with SIGKILL right after a checkpoint, then resumed, gives the uninterrupted run's losses."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from seqformer.training.checkpoint import list_checkpoints
from seqformer.training.metrics import read_metrics

SEQFORMER = str(Path(sys.executable).parent / "seqformer")
CONFIG = """\
data: {kmer: 3, max_length: 32, val_windows: 4}
model: {arch: bigbird, hidden_size: 32, num_layers: 2, num_heads: 2, ffn_size: 64, dropout: 0.1,
        attention_options: {block_size: 4, num_random_blocks: 1}}
optim: {warmup_steps: 3, lr: 2e-3}
train: {batch_size: 4, max_steps: 12, checkpoint_every: 4, eval_every: 4, device: cpu}
"""
#: The CLI's pretraining as a library call that SIGKILLs its own process right after checkpoint KILL_AT.
KILLED_RUN = """\
import os, signal, sys
from seqformer.tasks.pretraining import pretrain, run_config
run, config_file, genome, kill_at = sys.argv[1:5]
config = run_config(run, config_file=config_file, overrides={"data": {"fasta": [genome]}})
def die(step, path):
    if step == int(kill_at):
        os.kill(os.getpid(), signal.SIGKILL)
pretrain(config, run, quiet=True, on_checkpoint=die)
"""


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_same_losses(tmp_path, data_dir):
    shutil.copy(data_dir / "training" / "tiny_genome.fa", tmp_path / "genome.fa")
    (tmp_path / "run.yaml").write_text(CONFIG)
    (tmp_path / "killed_run.py").write_text(KILLED_RUN)

    whole = run([SEQFORMER, "pretrain", "--fasta", "genome.fa", "--out", "A", "--config", "run.yaml", "--quiet"],
                tmp_path)
    assert whole.returncode == 0, whole.stderr

    killed = run([sys.executable, "killed_run.py", "B", "run.yaml", "genome.fa", "8"], tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert [step for step, _ in list_checkpoints(tmp_path / "B")] == [4, 8]
    assert not (tmp_path / "B" / "model").exists()
    assert not list((tmp_path / "B" / "checkpoints").glob(".*.tmp"))  # no half-written file

    resumed = run([SEQFORMER, "pretrain", "--out", "B", "--resume", "--quiet"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr

    a, b = read_metrics(tmp_path / "A" / "metrics.csv"), read_metrics(tmp_path / "B" / "metrics.csv")
    assert [row["step"] for row in b] == list(range(1, 13))
    for key in ("loss", "lr", "grad_norm", "val_loss", "val_accuracy"):
        assert [row[key] for row in a] == [row[key] for row in b], key  # exactly equal, dropout included
    weights_a = load_file(str(tmp_path / "A" / "model" / "model.safetensors"))
    weights_b = load_file(str(tmp_path / "B" / "model" / "model.safetensors"))
    assert all((weights_a[name] == weights_b[name]).all() for name in weights_a)
