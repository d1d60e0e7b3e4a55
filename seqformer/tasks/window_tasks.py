"""The named window-classification tasks: their defaults, and fine-tuning / evaluation by task name.

Axes: N windows, T targets.

Each task is a kind of labelled-window data folder (``dataset.json``'s ``task``) with its
fine-tuning presets (laid over :class:`~seqformer.training.config.FinetuneConfig`'s defaults, under
a ``--config`` file and the command line's flags) and the k of its k-mer baseline:

- ``promoter``: one target, 300-base windows; overlapping 6-mers; 4-mer baseline.
- ``chromatin``: one target per peak file, 1,000-base windows (DeepSEA style); overlapping 6-mers,
  width 64 (non-overlapping 6-mers, a sixth of the tokens, plateaued at validation AUROC 0.74 where
  overlapping ones reach 0.79 in 3 epochs), positive weights per target (peaks are a few percent of
  windows); a 5-mer baseline per target.
- ``tf-binding``: one target (bound or not), 200-base peak windows against background; overlapping
  6-mers (3-mers reached validation AUROC 0.74 on Oct4 where 6-mers reach 0.91: mean-pooled 6-mer
  embeddings already hold a k-mer spectrum), width 64; 4-mer baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from seqformer.data.windows import WindowData, read_window_data
from seqformer.errors import InputError
from seqformer.evaluation.windows import WindowEvaluation, evaluate_windows
from seqformer.training.config import FinetuneConfig, load_run_config


@dataclass(frozen=True)
class TaskSpec:
    """A named task: what it is, its fine-tuning defaults and its baseline."""

    description: str  # one line for help texts
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)  # FinetuneConfig sections' keys that differ
    baseline_k: int = 4  # k of the k-mer logistic-regression baseline


TASKS: dict[str, TaskSpec] = {
    "promoter": TaskSpec("promoter / background windows around TSSs (seqformer data promoters)"),
    "chromatin": TaskSpec("one binary target per peak file (seqformer data chromatin)",
                          {"model": {"hidden_size": 64}, "finetune": {"kmer": 6, "pos_weight": True}},
                          baseline_k=5),
    "tf-binding": TaskSpec("TF-bound peak sequences against background (seqformer data tf-binding)",
                           {"model": {"hidden_size": 64}, "finetune": {"kmer": 6}}),
}


def check_task(task: str) -> TaskSpec:
    """The task's spec; InputError naming the tasks for an unknown one."""
    if task not in TASKS:
        raise InputError(f"TASK must be one of {', '.join(TASKS)}, got {task!r}")
    return TASKS[task]


def task_data(task: str, data_dir: str | Path) -> WindowData:
    """The data folder, checked to be one of ``task``'s."""
    check_task(task)
    data = read_window_data(data_dir)
    found = data.meta.get("task")
    if found != task:
        raise InputError(f"not a {task} data folder: it was made for the {found!r} task "
                         f"(make one with `seqformer data {task}{'s' if task == 'promoter' else ''}`)",
                         path=data_dir)
    return data


def task_config(task: str, config_file: str | Path | None = None,
                overrides: dict[str, dict[str, Any]] | None = None) -> FinetuneConfig:
    """FinetuneConfig: defaults < the task's presets < ``config_file`` < ``overrides`` (the given flags)."""
    return load_run_config(config_file, overrides, base=check_task(task).presets, config_cls=FinetuneConfig)


def evaluate_task(task: str, data_dir: str | Path, model, *, batch_size: int = 64,
                  device: torch.device | str = "cpu", model_name: str = "",
                  baseline_k: int | None = None, strands: str = "both", islands=None) -> WindowEvaluation:
    """Score a model on the test split of one of ``task``'s data folders beside a k-mer baseline
    (the task's k unless ``baseline_k``), reading each window on ``strands``; with ``islands`` (a CpG
    island BED frame) also split by whether a positive window overlaps one."""
    return evaluate_windows(task_data(task, data_dir), model, batch_size=batch_size, device=device,
                            baseline_k=baseline_k or check_task(task).baseline_k, model_name=model_name,
                            strands=strands, islands=islands)
