"""Window metrics: a classifier on a data folder's test split beside a k-mer baseline, per target.

Axes: N windows, T targets.

:func:`evaluate_windows` runs the model on the test windows (through
:func:`seqformer.predict.scorer.predict_probs`) and fits one k-mer-spectrum logistic regression
per target on the train split (:mod:`seqformer.evaluation.baselines`); :func:`binary_metrics`
gives AUROC, AUPRC, and F1 / MCC at probability 0.5 (scikit-learn), :func:`mean_auroc` the
means over targets that fine-tuning validates on. The report's figures are drawn by
:mod:`seqformer.figures.curves` and saved as PNG and SVG: bars per target of AUROC and AUPRC for
several targets, ROC and PR curves for one (:func:`window_figures`). A one-target promoter result
has its own report (:class:`PromoterEvaluation`: metrics.json, roc.png, pr.png), as
``seqformer evaluate promoter`` writes it.

A one-target result is also scored against each kind of background separately
(:func:`metrics_by_background`): a negative window's kind is the prefix of its name (``bg-random:``
random genome windows, ``bg-gc:`` GC-matched ones, ``bg-flank:`` flanks of TSSs, as ``seqformer data
promoters`` names them; any ``bg-KIND:``), ``unlabelled`` for names without one; every positive window
is set against the negatives of one kind at a time.

A track model (:class:`~seqformer.models.token_classifier.TokenClassifier`) scores each window from its
per-base track: a promoter window its highest probability read in genome context
(:func:`seqformer.predict.tiles.track_window_probs`), a chromatin window the max over its central bin of
its record's track, with per-base metrics beside (:mod:`seqformer.evaluation.peak_track`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from seqformer.data.windows import WindowData, check_both_classes, load_window_splits, read_window_data
from seqformer.errors import InputError
from seqformer.evaluation.baselines import KmerLogisticRegression, kmer_spectrum
from seqformer.io.atomic import atomic_open
from seqformer.predict.scorer import predict_probs

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

THRESHOLD = 0.5  # probability at which F1 and MCC call a window positive
MODEL = "model"
BACKGROUND_PREFIX = "bg-"  # a background window's name: bg-KIND:...
BACKGROUND_KINDS = ("random", "gc", "flank")  # the kinds `seqformer data promoters` writes, in report order
UNLABELLED = "unlabelled"  # the kind of a negative window whose name has no bg-KIND: prefix


@dataclass
class Curves:
    """ROC and precision-recall curves of one predictor on one target."""

    fpr: np.ndarray  # false-positive rates (ROC x)
    tpr: np.ndarray  # true-positive rates (ROC y)
    recall: np.ndarray  # PR x
    precision: np.ndarray  # PR y


def binary_metrics(labels: np.ndarray, probs: np.ndarray) -> tuple[dict[str, float], Curves]:
    """AUROC, AUPRC, F1 and MCC (at THRESHOLD) of probabilities against 0/1 labels, and the curves."""
    from sklearn.metrics import (
        average_precision_score,
        f1_score,
        matthews_corrcoef,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    called = (probs >= THRESHOLD).astype(int)
    metrics = {"auroc": float(roc_auc_score(labels, probs)), "auprc": float(average_precision_score(labels, probs)),
               "f1": float(f1_score(labels, called, zero_division=0)),
               "mcc": float(matthews_corrcoef(labels, called))}
    fpr, tpr, _ = roc_curve(labels, probs)
    precision, recall, _ = precision_recall_curve(labels, probs)
    return metrics, Curves(fpr, tpr, recall, precision)


def mean_auroc(labels: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """Mean AUROC and mean AUPRC over the targets (columns) that have both classes (NaN when none has)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    aurocs, auprcs = [], []
    for t in range(labels.shape[1]):
        if len(np.unique(labels[:, t])) == 2:
            aurocs.append(roc_auc_score(labels[:, t], probs[:, t]))
            auprcs.append(average_precision_score(labels[:, t], probs[:, t]))
    return (float(np.mean(aurocs)), float(np.mean(auprcs))) if aurocs else (float("nan"), float("nan"))


def background_kind(name: str) -> str:
    """``random`` for ``bg-random:chr1:1-300``; :data:`UNLABELLED` for a name without a ``bg-KIND:`` prefix."""
    name = str(name)
    if name.startswith(BACKGROUND_PREFIX) and ":" in name:
        kind = name[len(BACKGROUND_PREFIX):name.index(":")]
        if kind:
            return kind
    return UNLABELLED


def metrics_by_background(labels: np.ndarray, scores: dict[str, np.ndarray], names) -> dict[str, dict[str, Any]]:
    """AUROC and AUPRC of every positive window against the negatives of each background kind.

    Args:
        labels: (N,) 0/1.
        scores: predictor → (N,) probabilities.
        names: (N,) window names; a negative's kind is :func:`background_kind` of its name.

    Returns:
        kind → ``{"positive": P, "negative": n_kind, "metrics": {predictor: {"auroc", "auprc"}}}``, for
        the kinds present among the negatives: random, gc, flank first, other kinds by name, unlabelled
        last. Empty without a positive.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels = np.asarray(labels).astype(int).reshape(-1)
    kinds = np.asarray([background_kind(n) for n in names], dtype=object)
    positive = labels == 1
    if not positive.any():
        return {}
    present = set(kinds[~positive])
    order = [k for k in BACKGROUND_KINDS if k in present] + sorted(present - {*BACKGROUND_KINDS, UNLABELLED})
    order += [UNLABELLED] if UNLABELLED in present else []
    out = {}
    for kind in order:
        keep = positive | (~positive & (kinds == kind))
        y = labels[keep]
        out[kind] = {"positive": int(positive.sum()), "negative": int((~positive & (kinds == kind)).sum()),
                     "metrics": {name: {"auroc": float(roc_auc_score(y, np.asarray(p)[keep])),
                                        "auprc": float(average_precision_score(y, np.asarray(p)[keep]))}
                                 for name, p in scores.items()}}
    return out


@dataclass
class WindowEvaluation:
    """Test-split scores per target and predictor (the model and the k-mer baseline), with curves."""

    targets: tuple[str, ...]
    metrics: dict[str, dict[str, dict[str, float]]]  # target -> predictor -> auroc, auprc, f1, mcc
    curves: dict[str, dict[str, Curves]]  # target -> predictor -> curves
    counts: dict[str, dict[str, int]]  # target -> positive, negative test windows
    baseline: dict[str, Any]  # what the baseline is (k, C per target, training windows)
    data: str  # the data folder
    model: str  # the model folder
    strands: str = "forward"  # how the model read each window (seqformer.predict.scorer.STRANDS)
    #: one-target results: target -> background kind -> positive, negative, metrics (metrics_by_background)
    by_background: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: chromatin track models: target -> per-base auroc, auprc, positive, bases on the test sequence
    per_base: dict[str, dict[str, float]] = field(default_factory=dict)
    #: with CpG islands, one-target results: target -> "at_islands" / "elsewhere" (positive windows overlapping
    #: an island or not) -> background kind -> positive, negative, metrics (metrics_by_background)
    by_island: dict[str, dict[str, dict[str, dict[str, Any]]]] = field(default_factory=dict)

    @property
    def predictors(self) -> list[str]:
        """The model, then the baseline."""
        return list(next(iter(self.metrics.values())))

    def summary(self, metric: str = "auroc") -> dict[str, dict[str, float]]:
        """predictor -> mean and median of ``metric`` over targets."""
        out = {}
        for predictor in self.predictors:
            values = [self.metrics[t][predictor][metric] for t in self.targets]
            out[predictor] = {"mean": float(np.mean(values)), "median": float(np.median(values))}
        return out

    def wins(self, metric: str = "auroc") -> int:
        """Targets on which the model's ``metric`` is above the baseline's."""
        model, baseline = self.predictors[0], self.predictors[1]
        return sum(self.metrics[t][model][metric] > self.metrics[t][baseline][metric] for t in self.targets)


def evaluate_windows(data: WindowData | str | Path, model, *, batch_size: int = 64,
                     device: torch.device | str = "cpu", baseline_k: int = 4,
                     model_name: str = "", strands: str = "both",
                     islands: pd.DataFrame | None = None) -> WindowEvaluation:
    """Score the test split of a data folder with ``model`` and per-target k-mer logistic regressions.

    ``strands="both"`` averages the model's probabilities for each window and its reverse
    complement; ``"forward"`` reads the windows as given (:func:`seqformer.predict.scorer.predict_probs`).
    The baseline's k-mer spectra are not strand-symmetric either way: it sees the windows as given.
    A one-target result is also scored per background kind (:func:`metrics_by_background`), and with
    ``islands`` (a CpG island BED, :func:`~seqformer.io.read_bed`) once more for the positive windows that
    overlap an island and for the others (:func:`~seqformer.evaluation.islands.windows_at_islands`).
    """
    if not isinstance(data, WindowData):
        data = read_window_data(data)
    targets = data.targets
    if tuple(model.config.labels) != targets:
        raise InputError(f"the model's outputs {list(model.config.labels)} are not the data's targets "
                         f"{list(targets)}", path=data.path)
    from seqformer.models.token_classifier import TokenClassifier

    track = isinstance(model, TokenClassifier)
    if not track and model.config.window != data.window:
        raise InputError(f"the model was trained on {model.config.window}-base windows, the data has "
                         f"{data.window}-base windows", path=data.path)
    splits = load_window_splits(data, ("train", "test"))
    test, train = splits["test"], splits["train"]
    for name, windows in (("test", test), ("train", train)):
        check_both_classes(windows, name, targets, data.path)
    at_island = None
    if islands is not None and len(targets) == 1:  # checked before the model scores anything
        from seqformer.evaluation.islands import windows_at_islands

        at_island = windows_at_islands(test.rows, islands)
    per_base: dict[str, dict[str, float]] = {}
    if track and data.meta.get("task") == "chromatin":  # the max over the window's central bin of its record's track
        from seqformer.evaluation.peak_track import peak_track_scores

        scores = peak_track_scores(model.to(device).eval(), data, test.rows, strands=strands, device=device)
        probs, per_base = scores.windows.astype(np.float64), scores.per_base
    elif track:  # a track model scores a window in its genome context: the window's highest per-base probability
        probs = _track_probs(model.to(device).eval(), data, test.rows)
    else:
        probs = predict_probs(model.to(device).eval(), test.seqs, batch_size=batch_size, device=device,
                              strands=strands)  # (N, T)
    baseline_name = f"{baseline_k}-mer logistic regression"
    train_x, test_x = kmer_spectrum(train.seqs, baseline_k), kmer_spectrum(test.seqs, baseline_k)
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    curves: dict[str, dict[str, Curves]] = {}
    counts, cs, by_background, by_island = {}, {}, {}, {}
    for t, target in enumerate(targets):
        baseline = KmerLogisticRegression(k=baseline_k).fit_features(train_x, train.labels[:, t])
        cs[target] = baseline.C
        y = test.labels[:, t]
        metrics[target], curves[target] = {}, {}
        scores = {MODEL: probs[:, t], baseline_name: baseline.predict_proba_features(test_x)}
        for name, p in scores.items():
            metrics[target][name], curves[target][name] = binary_metrics(y, p)
        counts[target] = {"positive": int(y.sum()), "negative": int((y == 0).sum())}
        if len(targets) == 1:
            by_background[target] = metrics_by_background(y, scores, test.rows["name"])
        if at_island is not None:
            names = test.rows["name"].to_numpy()
            by_island[target] = {}
            for stratum, mask in (("at_islands", at_island), ("elsewhere", ~at_island)):
                keep = (y == 0) | mask
                by_island[target][stratum] = metrics_by_background(
                    y[keep], {name: p[keep] for name, p in scores.items()}, names[keep])
    about = {"k": baseline_k, "C": cs, "C_chosen_by": "5-fold cross-validated AUROC on the train split",
             "features": f"{4 ** baseline_k} {baseline_k}-mer frequencies, standardised",
             "train_windows": len(train.seqs)}
    return WindowEvaluation(targets, metrics, curves, counts, about, str(data.path.resolve()), model_name, strands,
                            by_background, per_base, by_island)


def _track_probs(model, data: WindowData, rows: pd.DataFrame) -> np.ndarray:
    """(N, 1) window scores of a track model (:func:`seqformer.predict.tiles.track_window_probs`) on the
    data folder's genome."""
    from seqformer.io.genome import Genome
    from seqformer.predict.tiles import track_window_probs

    genome = data.meta.get("genome")
    if not genome or (rows["chrom"] == ".").any():
        raise InputError("a track model scores windows in their genome context; this data folder records no "
                         "genome or has windows without coordinates", path=data.path)
    path = Path(genome) if Path(genome).is_absolute() else data.path / genome
    with Genome(path) as ref:
        return track_window_probs(model, ref, rows).reshape(-1, 1)


def evaluation_table(result: WindowEvaluation) -> pd.DataFrame:
    """One row per target and predictor: target, predictor, positives, negatives, auroc, auprc, f1, mcc."""
    import pandas as pd

    rows = [{"target": t, "predictor": p, "positives": result.counts[t]["positive"],
             "negatives": result.counts[t]["negative"], **result.metrics[t][p]}
            for t in result.targets for p in result.predictors]
    return pd.DataFrame(rows)


def evaluation_dict(result: WindowEvaluation) -> dict[str, Any]:
    """metrics.json: per-target metrics, their mean and median per predictor, wins, counts, baseline."""
    return {"data": result.data, "model": result.model, "split": "test", "strands": result.strands,
            "threshold": THRESHOLD, "targets": list(result.targets), "metrics": result.metrics,
            "summary": {m: result.summary(m) for m in ("auroc", "auprc")},
            "model_above_baseline": {m: result.wins(m) for m in ("auroc", "auprc")},
            "counts": result.counts, "baseline": result.baseline,
            **({"per_base": result.per_base} if result.per_base else {})}


def per_base_table(result: WindowEvaluation) -> pd.DataFrame:
    """A chromatin track model's per-base metrics: target, positive, bases, auroc, auprc (one row per target)."""
    import pandas as pd

    return pd.DataFrame([{"target": t, "positive": m["positive"], "bases": m["bases"], "auroc": m["auroc"],
                          "auprc": m["auprc"]} for t, m in result.per_base.items()])


def window_figures(result: WindowEvaluation) -> dict[str, Figure]:
    """The report's figures by file stem: bars per target of AUROC and AUPRC (``auroc``, ``auprc``), or,
    for a one-target result, its ROC and precision-recall curves (``roc``, ``pr``) instead."""
    from seqformer.figures.curves import plot_metric_bars, plot_pr, plot_roc

    if len(result.targets) > 1:
        return {metric: plot_metric_bars(result.metrics, result.counts, metric) for metric in ("auroc", "auprc")}
    (target,) = result.targets
    counts = result.counts[target]
    about = {"target": target, "positives": counts["positive"], "negatives": counts["negative"],
             "metrics": result.metrics[target]}
    return {"roc": plot_roc(result.curves[target], **about), "pr": plot_pr(result.curves[target], **about)}


def write_window_evaluation(result: WindowEvaluation, out: str | Path) -> list[Path]:
    """Write metrics.json, metrics.tsv and :func:`window_figures` (each as PNG and SVG) into ``out``.

    Several targets: auroc.png and auprc.png (bars per target); one target: roc.png and pr.png. A chromatin
    track model's per-base metrics also go to per_base.tsv. Returns the paths written.
    """
    from seqformer.figures.style import save_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "metrics.json", out / "metrics.tsv"]
    with atomic_open(paths[0], "w") as handle:
        json.dump(evaluation_dict(result), handle, indent=2)
        handle.write("\n")
    with atomic_open(paths[1], "w") as handle:
        evaluation_table(result).to_csv(handle, sep="\t", index=False, float_format="%.4f")
    if result.per_base:
        paths.append(out / "per_base.tsv")
        with atomic_open(paths[-1], "w") as handle:
            per_base_table(result).to_csv(handle, sep="\t", index=False, float_format="%.4f")
    for stem, fig in window_figures(result).items():
        paths += save_figure(fig, out / stem)
    return paths


@dataclass
class PromoterEvaluation:
    """A one-target (``promoter``) result as ``seqformer evaluate promoter`` reports it."""

    metrics: dict[str, dict[str, float]]  # predictor -> auroc, auprc, f1, mcc
    curves: dict[str, Curves]  # predictor -> curves
    counts: dict[str, int]  # test windows: promoter, background
    baseline: dict[str, Any]  # what the baseline is (k, C, training windows)
    data: str  # the data folder
    model: str  # the model folder
    strands: str = "forward"  # how the model read each window (seqformer.predict.scorer.STRANDS)
    #: background kind -> counts (promoter, background) and predictor -> auroc, auprc (metrics_by_background)
    by_background: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: with CpG islands: "at_islands" / "elsewhere" -> background kind -> counts and metrics, as by_background
    by_island: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def from_windows(cls, result: WindowEvaluation, target: str = "promoter") -> PromoterEvaluation:
        """The ``target`` column of a window evaluation."""
        counts = result.counts[target]

        def by_kind(entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
            return {kind: {"counts": {"promoter": entry["positive"], "background": entry["negative"]},
                           "metrics": entry["metrics"]} for kind, entry in entries.items()}

        islands = {stratum: by_kind(entries) for stratum, entries in result.by_island.get(target, {}).items()}
        return cls(result.metrics[target], result.curves[target],
                   {"promoter": counts["positive"], "background": counts["negative"]},
                   {**result.baseline, "C": result.baseline["C"][target]}, result.data, result.model, result.strands,
                   by_kind(result.by_background.get(target, {})), islands)

    def to_dict(self) -> dict[str, Any]:
        """metrics.json: every field but the curves; ``by_background``: kind → counts and metrics;
        ``by_cpg_island`` (with islands only): stratum → kind → counts and metrics."""
        out = {"data": self.data, "model": self.model, "split": "test", "strands": self.strands,
               "threshold": THRESHOLD, "counts": self.counts, "metrics": self.metrics, "baseline": self.baseline,
               "by_background": self.by_background}
        if self.by_island:
            out["by_cpg_island"] = self.by_island
        return out


def promoter_figures(result: PromoterEvaluation, target: str = "promoter") -> dict[str, Figure]:
    """ROC and precision-recall curves of a promoter result (``roc``, ``pr``), titled with ``target``."""
    from seqformer.figures.curves import plot_pr, plot_roc

    about = {"target": target, "positives": result.counts["promoter"], "negatives": result.counts["background"],
             "metrics": result.metrics}
    return {"roc": plot_roc(result.curves, **about), "pr": plot_pr(result.curves, **about)}


def write_promoter_evaluation(result: PromoterEvaluation, out: str | Path) -> list[Path]:
    """Write metrics.json, roc.png and pr.png (each figure also as SVG) into ``out``; returns the paths."""
    from seqformer.figures.style import save_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "metrics.json"]
    with atomic_open(paths[0], "w") as handle:
        json.dump(result.to_dict(), handle, indent=2)
        handle.write("\n")
    for stem, fig in promoter_figures(result).items():
        paths += save_figure(fig, out / stem)
    return paths
