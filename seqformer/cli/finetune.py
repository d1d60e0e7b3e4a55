"""``seqformer finetune TASK``: train a sequence classifier on a task's data folder (promoter, chromatin,
tf-binding), or a per-base track model: promoter-track over long tiles of the genome, chromatin-track over
a chromatin data folder's records with one peak track per target."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from seqformer.cli.app import app
from seqformer.errors import InputError


@app.command("finetune")
def finetune(
    task: str = typer.Argument(..., help="promoter, chromatin or tf-binding (the kind of --data folder: a window "
                               "classifier); promoter-track: a per-base TSS track model over long tiles "
                               "(token-level head; trained on the genome, TSS BED and ranges of a promoter "
                               "--data folder); or chromatin-track: per-base peak tracks, one per target "
                               "(token-level head; trained on the records and peak files of a chromatin --data "
                               "folder)."),
    data: Path = typer.Option(..., "--data", help="Data folder from `seqformer data promoters|chromatin|tf-binding`."),
    out: Path = typer.Option(..., "--out", help="Model folder to write (config.json, model.safetensors, "
                             "tokenizer.json, metrics.csv, finetune.yaml, finetune.json; calibration.json for a "
                             "promoter model); must be new or empty."),
    config: Optional[Path] = typer.Option(None, "--config", help="Fine-tuning config YAML (sections model, optim, "
                                          "train, finetune; e.g. a model's finetune.yaml), over the task's "
                                          "presets; flags given here override it."),
    init: Optional[Path] = typer.Option(None, "--init", help="Start the encoder from this pretrained model "
                                        "folder (e.g. a pretraining run's model/); its shape and k win."),
    arch: Optional[str] = typer.Option(None, "--arch", help="Attention (model.arch): dense (default), bigbird, "
                                       "performer-softmax, performer-relu, longformer, nystromformer or reformer-lsh."),
    kmer: Optional[int] = typer.Option(None, "--kmer", help="k of the k-mer tokens (finetune.kmer; default 6, non-overlapping for promoter-track)."),
    kmer_stride: Optional[int] = typer.Option(None, "--kmer-stride", help="1 = overlapping k-mers (default), k = "
                                              "non-overlapping (a k-th of the tokens)."),
    hidden: Optional[int] = typer.Option(None, "--hidden", help="Encoder width (model.hidden_size; default 128, "
                                         "chromatin and tf-binding 64)."),
    layers: Optional[int] = typer.Option(None, "--layers", help="Encoder blocks (model.num_layers; default 2)."),
    heads: Optional[int] = typer.Option(None, "--heads", help="Attention heads (model.num_heads; default 4)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Epochs over the train split "
                                         "(finetune.epochs; default 10; promoter-track 32, chromatin-track 4)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, help="Optimizer steps (train.max_steps; "
                                            "overrides --epochs)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Windows per step "
                                             "(train.batch_size; default 32)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate, warm-up then cosine "
                                       "(optim.lr; default 3e-4)."),
    ema: Optional[float] = typer.Option(None, "--ema", help="Decay of an exponential moving average of the "
                                        "weights, which is validated and saved in their place (optim.ema; "
                                        "default 0 = off)."),
    pos_weight: Optional[bool] = typer.Option(None, "--pos-weight/--no-pos-weight",
                                              help="Weight each target's positives by negatives/positives "
                                                   "(finetune.pos_weight; default: on for chromatin)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto (default), cpu or cuda (train.device)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the initialisation, order and strand flips "
                                       "(train.seed; default 0)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="torch CPU threads (train.threads)."),
    tile: Optional[int] = typer.Option(None, "--tile", help="promoter-track: bases per training tile "
                                       "(finetune.tile; default 16500: 43 whole BigBird blocks of 6-mers; a multiple of k); chromatin-track: the "
                                       "longest piece of sequence read in one pass (default 4096)."),
    context: Optional[int] = typer.Option(None, "--context", help="promoter-track: bases at each tile edge a "
                                          "scan reads but does not keep (finetune.context; default 1020)."),
    smooth: Optional[int] = typer.Option(None, "--smooth", min=0, help="promoter-track: bases of the moving mean "
                                         "a scan applies before calling, saved with the model and used by its "
                                         "calibration (finetune.smooth; default 1000; 0 = none)."),
    tss_radius: Optional[int] = typer.Option(None, "--tss-radius", min=0, help="promoter-track: bases within this "
                                             "of a TSS of the strand read are positive (finetune.tss_radius; "
                                             "default 100)."),
    tiles_per_epoch: Optional[int] = typer.Option(None, "--tiles-per-epoch", min=1, help="promoter-track: "
                                                  "training tiles between validations (default 512)."),
    false_calls: Optional[float] = typer.Option(None, "--false-calls-per-100kb", help="Promoter models: the "
                                                "false-call rate the scan threshold is calibrated to on the "
                                                "validation range(s) (finetune.false_calls_per_100kb; default 1)."),
    calibrate: bool = typer.Option(True, "--calibrate/--no-calibrate", help="Promoter models: scan the validation "
                                   "range(s) after training and save the calibrated threshold as calibration.json "
                                   "(used by `predict promoters`)."),
    quiet: bool = typer.Option(False, "--quiet", help="Log lines instead of a progress bar."),
) -> None:
    """Fine-tune a classifier (from scratch or --init); keeps the epoch with the best validation AUROC (track models:
    per-token AUPRC)."""
    from seqformer.attention import ATTENTION_KINDS
    from seqformer.tasks.classification import finetune_classifier
    from seqformer.tasks.window_tasks import check_task, task_config, task_data
    from seqformer.training.config import flag_overrides

    track = task == "promoter-track"
    peaks = task == "chromatin-track"
    if not (track or peaks):
        check_task(task)
    promoter_only = [name for name, value in (("--context", context), ("--smooth", smooth),
                                              ("--tss-radius", tss_radius), ("--tiles-per-epoch", tiles_per_epoch))
                     if value is not None]
    if promoter_only and not track:
        raise InputError(f"{', '.join(promoter_only)} apply to promoter-track only")
    if tile is not None and not (track or peaks):
        raise InputError("--tile applies to promoter-track and chromatin-track only")
    if arch is not None and arch not in ATTENTION_KINDS:
        raise InputError(f"--arch must be one of {', '.join(ATTENTION_KINDS)}, got {arch!r}")
    if lr is not None and lr <= 0:
        raise InputError(f"--lr must be positive, got {lr}")
    if ema is not None and not 0 <= ema < 1:
        raise InputError(f"--ema must be in [0, 1) (0 = off), got {ema:g}")
    if false_calls is not None and not false_calls > 0:
        raise InputError(f"--false-calls-per-100kb must be above 0, got {false_calls:g}")
    flags = {"model": {"arch": arch, "hidden_size": hidden, "num_layers": layers, "num_heads": heads},
             "optim": {"lr": lr, "ema": ema},
             "train": {"max_steps": max_steps, "batch_size": batch_size, "device": device, "seed": seed,
                       "threads": threads},
             "finetune": {"kmer": kmer, "kmer_stride": kmer_stride, "epochs": epochs, "pos_weight": pos_weight,
                          "false_calls_per_100kb": false_calls, "tile": tile, "context": context, "smooth": smooth,
                          "tss_radius": tss_radius, "tiles_per_epoch": tiles_per_epoch}}
    if peaks:
        from seqformer.tasks.chromatin_track import chromatin_track_config, finetune_chromatin_track

        result = finetune_chromatin_track(data, out, chromatin_track_config(config, flag_overrides(flags)), init=init,
                                          quiet=quiet)
    elif track:
        from seqformer.tasks.track import finetune_track, track_config

        result = finetune_track(data, out, track_config(config, flag_overrides(flags)), init=init, quiet=quiet,
                                calibrate=calibrate)
    else:
        merged = task_config(task, config, flag_overrides(flags))
        result = finetune_classifier(task_data(task, data), out, merged, init=init, quiet=quiet,
                                     calibrate=calibrate)
    scores = "  ".join(f"{key} {value:.4f}" for key, value in result.validation.items())
    calibrated = ""
    if result.calibration is not None:
        cal = result.calibration
        recall = "undefined" if cal.recall != cal.recall else f"{cal.recall:.3f}"
        calibrated = f"  threshold {cal.threshold:.3f} (calibrated: {cal.describe()}, TSS recall {recall})"
    typer.echo(f"best epoch {result.best_epoch} (step {result.best_step} of {result.steps}): {scores}"
               f"{calibrated}  model: {result.model_dir}")
