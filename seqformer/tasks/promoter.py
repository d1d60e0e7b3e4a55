"""Promoter prediction: fine-tuning and evaluating a one-target (``promoter``) classifier.

Axes: N windows.

A data folder (``seqformer data promoters``, :mod:`data_prep.promoters`) lists windows and the
genome they come from; sequences are read from the genome (on their strand) when a run starts.
Training and scoring are the generic window-classifier ones (:mod:`seqformer.tasks.classification`,
:mod:`seqformer.tasks.evaluation`); this module checks that the data and model are promoter ones
and reports AUROC, AUPRC, F1 and MCC of the model beside a 4-mer logistic regression, with ROC and
PR curves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seqformer.data.windows import read_window_data
from seqformer.errors import InputError
from seqformer.io.atomic import atomic_open
from seqformer.models.classifier import SequenceClassifier
from seqformer.tasks.classification import FinetuneOptions, FinetuneResult, finetune_classifier
from seqformer.tasks.evaluation import THRESHOLD, Curves, evaluate_windows, plot_pr, plot_roc

LABELS = ("promoter",)

__all__ = ["LABELS", "FinetuneOptions", "FinetuneResult", "PromoterEvaluation", "evaluate_promoter",
           "finetune_promoter", "write_evaluation"]


def _promoter_data(data_dir: str | Path):
    data = read_window_data(data_dir)
    if data.targets != LABELS:
        raise InputError(f"not a promoter data folder: its targets are {list(data.targets)} "
                         "(make one with `seqformer data promoters`)", path=data_dir)
    return data


def finetune_promoter(data_dir: str | Path, out: str | Path, options: FinetuneOptions = FinetuneOptions(), *,
                      init: str | Path | None = None, quiet: bool = False) -> FinetuneResult:
    """Fine-tune a promoter classifier on a promoter data folder (see :func:`finetune_classifier`)."""
    return finetune_classifier(_promoter_data(data_dir), out, options, init=init, quiet=quiet)


@dataclass
class PromoterEvaluation:
    """Test-split scores of the model and the k-mer baseline (metrics per predictor) and their curves."""

    metrics: dict[str, dict[str, float]]  # predictor -> auroc, auprc, f1, mcc
    curves: dict[str, Curves]  # predictor -> curves
    counts: dict[str, int]  # test windows: promoter, background
    baseline: dict[str, Any]  # what the baseline is (k, C, training windows)
    data: str  # the data folder
    model: str  # the model folder
    strands: str = "forward"  # how the model read each window (seqformer.predict.scorer.STRANDS)

    def to_dict(self) -> dict[str, Any]:
        """metrics.json: every field but the curves."""
        return {"data": self.data, "model": self.model, "split": "test", "strands": self.strands,
                "threshold": THRESHOLD,
                "counts": self.counts, "metrics": self.metrics, "baseline": self.baseline}


def evaluate_promoter(data_dir: str | Path, model: SequenceClassifier, *, batch_size: int = 64,
                      device: torch.device | str = "cpu", baseline_k: int = 4,
                      model_name: str = "", strands: str = "both") -> PromoterEvaluation:
    """Score the test split of a data folder with ``model`` (on ``strands``) and a k-mer logistic
    regression fitted on its train split."""
    result = evaluate_windows(_promoter_data(data_dir), model, batch_size=batch_size, device=device,
                              baseline_k=baseline_k, model_name=model_name, strands=strands)
    (target,) = LABELS
    counts = result.counts[target]
    baseline = {**result.baseline, "C": result.baseline["C"][target]}
    return PromoterEvaluation(result.metrics[target], result.curves[target],
                              {"promoter": counts["positive"], "background": counts["negative"]},
                              baseline, result.data, result.model, result.strands)


def write_evaluation(result: PromoterEvaluation, out: str | Path) -> list[Path]:
    """Write metrics.json, roc.png and pr.png into ``out``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "metrics.json", out / "roc.png", out / "pr.png"]
    with atomic_open(paths[0], "w") as handle:
        json.dump(result.to_dict(), handle, indent=2)
        handle.write("\n")
    for path, plot in zip(paths[1:], (plot_roc, plot_pr)):
        with atomic_open(path, "wb") as handle:
            plot(result.curves, result.metrics).savefig(handle, format="png", dpi=120)
    return paths
