"""DistributedDataParallel on CPU: ``torchrun --nproc_per_node 2`` (gloo) runs ``seqformer pretrain``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from seqformer.training.metrics import read_metrics

TORCHRUN = str(Path(sys.executable).parent / "torchrun")
CONFIG = """\
data: {kmer: 3, max_length: 32, val_windows: 4}
model: {arch: dense, hidden_size: 32, num_layers: 2, num_heads: 2, ffn_size: 64}
optim: {warmup_steps: 2, lr: 2e-3}
train: {batch_size: 2, max_steps: 4, checkpoint_every: 2, eval_every: 2, device: cpu}
"""
#: The CLI under torchrun; each rank also saves the weights it ends with, to compare ranks.
RANK_RUN = """\
import os, sys, torch
import seqformer.tasks.pretraining as pretraining
from seqformer.cli import app
built = []
build_model = pretraining.build_model
pretraining.build_model = lambda *args, **kwargs: built.append(build_model(*args, **kwargs)) or built[-1]
app(sys.argv[1:], standalone_mode=False)
torch.save(built[0].state_dict(), f"rank{os.environ['RANK']}.pt")
"""


@pytest.mark.slow
def test_two_processes_with_gloo_keep_identical_weights(tmp_path, data_dir):
    shutil.copy(data_dir / "training" / "tiny_genome.fa", tmp_path / "genome.fa")
    (tmp_path / "run.yaml").write_text(CONFIG)
    (tmp_path / "rank_run.py").write_text(RANK_RUN)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([TORCHRUN, "--standalone", "--nproc_per_node", "2", "rank_run.py", "pretrain",
                           "--fasta", "genome.fa", "--out", "run", "--config", "run.yaml", "--quiet"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    saved = load_file(str(tmp_path / "run" / "model" / "model.safetensors"))
    for name, tensor in rank0.items():
        assert torch.equal(tensor, rank1[name]), name  # gradients were averaged over the ranks
        assert torch.equal(tensor, saved[name]), name  # what rank 0 wrote
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    assert [row["step"] for row in rows] == [1, 2, 3, 4]
    assert rows[-1]["tokens"] == 4 * 2 * 2 * 32  # steps x ranks x batch x tokens: both ranks counted
    assert rows[1]["val_loss"] is not None
