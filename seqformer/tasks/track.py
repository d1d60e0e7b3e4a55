"""Fine-tuning a promoter *track* model: per-base TSS targets over long tiles (``finetune promoter-track``).

Axes: B tiles, L tokens, k bases per token.

A promoter data folder (``seqformer data promoters``) records the genome, the TSS BED and the
ranges; the window files are not used. Training tiles come from the folder's region minus its
validation and test ranges (:class:`~seqformer.data.tss_track.TileSampler`: half around a TSS,
half anywhere, random strand), with per-base targets 1 within ``tss_radius`` of a TSS of the strand
read (:func:`~seqformer.data.tss_track.tss_targets`). A token's target is the max over its k
bases; the loss is the per-token BCE (:meth:`TokenClassifier.loss`) over body tokens.

Validation, once per epoch (``tiles_per_epoch`` tiles), reads fixed tiles of the validation range(s):
one around each TSS and as many anywhere, both drawn with a fixed seed; the epoch with the best
per-token AUPRC is kept (positives are rare, so AUPRC, not AUROC, tells models apart). The kept
model is then calibrated as window models are (:mod:`seqformer.tasks.calibration`): its
validation ranges are scanned tile by tile and the threshold for the target false-call rate saved.

The batches (:func:`encode_tiles`: tiles of any lengths, targets (N,) or (N, T)), the loss
(:class:`TrackLoss`, positives optionally weighted), the loop task (:class:`TileTask`) and the model
(:func:`build_track_model`) are shared with the chromatin peak tracks
(:mod:`seqformer.tasks.chromatin_track`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seqformer.data.tss_track import TileSampler, TrackIntervals
from seqformer.data.windows import WindowData
from seqformer.device import resolve_device
from seqformer.errors import InputError
from seqformer.io.regions import subtract_ranges
from seqformer.models.config import EncoderConfig
from seqformer.models.loader import load_model
from seqformer.models.token_classifier import TokenClassifier, TokenClassifierConfig
from seqformer.tasks.calibration import (
    Calibration,
    CalibrationInputs,
    calibrate_on,
    calibration_inputs,
    write_calibration,
)
from seqformer.tasks.classification import FinetuneResult, start_run, train_and_save
from seqformer.tokenizers import KmerTokenizer
from seqformer.training.config import FinetuneConfig, load_run_config
from seqformer.training.progress import log_line

TASK = "promoter-track"
LABEL = "promoter"
VAL_SEED = 7  # seed of the fixed validation tiles
#: fine-tuning defaults of a track model, over FinetuneConfig's (the recipe of docs/benchmarks.md).
PRESETS: dict[str, dict[str, Any]] = {
    "model": {"arch": "bigbird", "hidden_size": 128, "num_layers": 2, "num_heads": 4, "dropout": 0.1},
    "optim": {"lr": 1e-3},
    "train": {"batch_size": 2},
    # non-overlapping 6-mers; 16,500 bases = 2,750 tokens + [CLS]/[SEP] = 43 whole BigBird blocks (no padding)
    "finetune": {"kmer": 6, "kmer_stride": 6, "epochs": 32, "tile": 16500, "context": 1020, "smooth": 1000,
                 "tss_radius": 100, "tss_fraction": 0.5, "tiles_per_epoch": 512},
}


def track_config(config_file: str | Path | None = None,
                 overrides: dict[str, dict[str, Any]] | None = None) -> FinetuneConfig:
    """FinetuneConfig: defaults < :data:`PRESETS` < ``config_file`` < ``overrides`` (the given flags)."""
    return load_run_config(config_file, overrides, base=PRESETS, config_cls=FinetuneConfig)


# --- batches --------------------------------------------------------------------------------------
@dataclass
class TrackBatch:
    """Token ids, attention mask, per-token targets (B, L, T) and the body-token mask (B, L)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    token_mask: torch.Tensor

    @property
    def num_tokens(self) -> int:
        return int(self.attention_mask.sum())

    def to(self, device, non_blocking: bool = False) -> TrackBatch:
        return TrackBatch(*(t.to(device, non_blocking=non_blocking)
                            for t in (self.input_ids, self.attention_mask, self.labels, self.token_mask)))


def encode_tiles(tokenizer, seqs: list[str], targets: list[np.ndarray]) -> TrackBatch:
    """Tokenise tiles (padded to the longest) with per-base targets, (N,) or (N, T) each; a token's target is
    the max of its bases' (k, or fewer at a partial end). Labels are (B, L, T), T = 1 for (N,) targets."""
    enc = tokenizer.batch_encode(list(seqs), padding="longest")
    width = 1 if np.ndim(targets[0]) == 1 else np.shape(targets[0])[1]
    labels = torch.zeros(*enc.input_ids.shape, width)
    token_mask = torch.zeros(enc.input_ids.shape, dtype=torch.bool)
    layouts: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # tile length -> (body token rows, first bases)
    for i, (seq, target) in enumerate(zip(seqs, targets)):
        if len(seq) not in layouts:
            spans = tokenizer.token_spans(len(seq))  # (L_i, 2) base span of each token, -1 for framing tokens
            body = np.flatnonzero(spans[:, 0] >= 0)
            layouts[len(seq)] = (body, spans[body, 0])
        body, starts = layouts[len(seq)]
        per_base = np.asarray(target, np.float32).reshape(len(seq), width)  # (N, T)
        labels[i, body] = torch.as_tensor(np.maximum.reduceat(per_base, starts, axis=0))
        token_mask[i, body] = True
    return TrackBatch(enc.input_ids, enc.attention_mask, labels, token_mask)


class TrackLoss(nn.Module):
    """forward(batch) = the model's masked per-token BCE, positives weighted by ``pos_weight`` (T,) if given."""

    def __init__(self, model: TokenClassifier, pos_weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("pos_weight", pos_weight, persistent=False)

    def forward(self, batch: TrackBatch) -> torch.Tensor:
        logits = self.model(batch.input_ids, batch.attention_mask).logits
        return self.model.loss(logits, batch.labels, batch.token_mask, pos_weight=self.pos_weight)


class TileTask:
    """Training tiles from a sampler, fixed validation tiles, per-token AUPRC/AUROC: a loop ``Task``.

    ``sampler.draw(i)`` gives tile ``i`` as (bases as read, per-base targets (N,) or (N, T), where); the
    validation tiles are (bases, targets) pairs. With T targets the validation AUROC and AUPRC are the means
    over the targets that have both classes among the validation tokens.
    """

    def __init__(self, sampler, val: list[tuple[str, np.ndarray]], tokenizer, *, batch_size: int,
                 tiles_per_epoch: int, pos_weight: np.ndarray | None = None) -> None:
        self.sampler, self.val, self.tokenizer, self.batch_size = sampler, val, tokenizer, batch_size
        self.pos_weight = pos_weight  # (T,) n_negative / n_positive training tokens, or None
        self.steps_per_epoch = max(1, math.ceil(tiles_per_epoch / batch_size))
        self.last: dict[str, float] = {}
        self._scores: tuple[np.ndarray, np.ndarray] = (np.zeros((0, 1)), np.zeros((0, 1)))

    def train_batch(self, index: int, rank: int, world_size: int) -> TrackBatch:
        drawn = [self.sampler.draw((index * world_size + rank) * self.batch_size + i) for i in range(self.batch_size)]
        return encode_tiles(self.tokenizer, [d[0] for d in drawn], [d[1] for d in drawn])

    def loss_module(self, model: nn.Module) -> nn.Module:
        weight = None if self.pos_weight is None else torch.as_tensor(self.pos_weight, dtype=torch.float32)
        return TrackLoss(model, weight)

    def validation_sums(self, model: nn.Module, rank: int, world_size: int, device: torch.device) -> dict[str, float]:
        if world_size != 1:
            raise InputError("track fine-tuning runs in one process")
        model = model.to(device).eval()
        probs, truth, loss_sum = [], [], 0.0
        with torch.no_grad():
            for i in range(0, len(self.val), self.batch_size):
                part = self.val[i:i + self.batch_size]
                batch = encode_tiles(self.tokenizer, [s for s, _ in part], [t for _, t in part]).to(device)
                out = model(batch.input_ids, batch.attention_mask, labels=batch.labels, token_mask=batch.token_mask)
                loss_sum += float(out.loss) * len(part)
                probs.append(model.predict_proba(out.logits)[batch.token_mask].cpu().numpy())  # (tokens, T)
                truth.append(batch.labels[batch.token_mask].cpu().numpy())
        self._scores = (np.concatenate(truth), np.concatenate(probs))
        return {"loss_sum": loss_sum, "count": float(len(self.val)), "correct": 0.0}

    def validation_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        from seqformer.evaluation.windows import mean_auroc

        auroc, auprc = mean_auroc(*self._scores)
        self.last = {"val_loss": sums["loss_sum"] / max(sums["count"], 1), "val_auroc": auroc, "val_auprc": auprc}
        return dict(self.last)


# --- data --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrackData:
    """What a promoter data folder gives a track model: genome, TSS BED, training and validation ranges."""

    genome: Path
    tss: Path
    train: tuple[str, ...]  # samtools-style
    val: tuple[str, ...]
    test: tuple[str, ...]


def _ranges(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value or ())


def track_data(data: WindowData) -> TrackData:
    """The genome, TSS BED and ranges of a promoter data folder (InputError when one is missing)."""
    if data.meta.get("task") != "promoter":
        raise InputError(f"promoter-track trains on a promoter data folder (seqformer data promoters); this one "
                         f"was made for {data.meta.get('task')!r}", path=data.path)
    inputs = calibration_inputs(data.meta, data.path)  # genome, TSS BED and validation ranges, checked
    params = data.meta.get("parameters") if isinstance(data.meta.get("parameters"), dict) else {}
    splits = data.meta.get("splits") if isinstance(data.meta.get("splits"), dict) else {}
    region = params.get("region")
    if not region:
        raise InputError("dataset.json records no parameters.region to draw training tiles from", path=data.path)
    from seqformer.io.regions import parse_region

    holes = [parse_region(r) for r in _ranges(splits.get("val")) + _ranges(splits.get("test"))]
    train_ranges = []
    for text in _ranges(region):
        train_ranges += [str(r) for r in subtract_ranges(parse_region(text), holes)]
    return TrackData(inputs.genome, inputs.tss, tuple(train_ranges), _ranges(splits.get("val")),
                     _ranges(splits.get("test")))


def validation_tiles(intervals: TrackIntervals, tile: int, radius: int) -> list[tuple[str, np.ndarray]]:
    """One tile around each validation TSS and as many anywhere (fixed seed), as (bases as read, targets)."""
    sampler = TileSampler(intervals, tile, radius=radius, tss_fraction=1.0, seed=VAL_SEED)
    anywhere = TileSampler(intervals, tile, radius=radius, tss_fraction=0.0, seed=VAL_SEED + 1)
    n = len(sampler.tss)
    return [sampler.draw(i)[:2] for i in range(n)] + [anywhere.draw(i)[:2] for i in range(max(n, 1))]


def build_track_model(config: FinetuneConfig, init: str | Path | None = None, *,
                      labels: tuple[str, ...] = (LABEL,), max_length: int = 16_384) -> TokenClassifier:
    """A fresh track model of ``config``'s shape with one output per label, or one whose encoder comes from
    ``init``; a fresh encoder takes up to ``max_length`` tokens (at least a tile's)."""
    torch.manual_seed(config.train.seed)
    head = config.finetune
    try:
        if init is not None:
            model = TokenClassifier.from_encoder(load_model(init), labels, tile=head.tile, context=head.context,
                                                 smooth=head.smooth, head_dropout=head.head_dropout)
            if model.tokenizer.num_tokens(head.tile) > model.config.encoder.max_length:
                raise InputError(f"the pretrained encoder takes at most {model.config.encoder.max_length} tokens, "
                                 f"fewer than a {head.tile}-base tile", path=init)
            return model
        if head.kmer_stride != head.kmer:
            raise InputError(f"a track model reads non-overlapping k-mers: --kmer-stride must equal --kmer "
                             f"({head.kmer}), got {head.kmer_stride}")
        shape = config.model
        tokenizer = KmerTokenizer(head.kmer, head.kmer)
        encoder = EncoderConfig.for_tokenizer(
            tokenizer, hidden_size=shape.hidden_size, num_layers=shape.num_layers, num_heads=shape.num_heads,
            ffn_size=shape.mlp_size, dropout=shape.dropout, attention=shape.arch,
            attention_options=dict(shape.attention_options), reversible=shape.reversible,
            ffn_chunk_size=shape.ffn_chunk_size, max_length=max(max_length, tokenizer.num_tokens(head.tile)),
            seed=config.train.seed)
        return TokenClassifier(TokenClassifierConfig(encoder, tuple(labels), tile=head.tile, context=head.context,
                                                     smooth=head.smooth, head_dropout=head.head_dropout),
                               tokenizer=tokenizer)
    except ValueError as err:
        raise InputError(f"model: {err}") from None


def finetune_track(data: WindowData | str | Path, out: str | Path, config: FinetuneConfig | None = None, *,
                   init: str | Path | None = None, quiet: bool = False, calibrate: bool = True) -> FinetuneResult:
    """Train a promoter track model on a promoter data folder's genome; write the best epoch's model to ``out``.

    ``out`` gets config.json, model.safetensors, tokenizer.json, metrics.csv, finetune.yaml,
    finetune.json and (unless ``calibrate`` is False) calibration.json.
    """
    from seqformer.io.bed import read_bed
    from seqformer.io.genome import Genome
    from seqformer.io.regions import parse_region

    config = config or track_config()
    out, data = start_run(out, config, data)
    ranges = track_data(data)
    head = config.finetune
    model = build_track_model(config, init)
    k = model.config.k
    try:
        from seqformer.predict.tiles import check_tiles

        check_tiles(head.tile, head.context, k)
    except InputError as err:
        raise InputError(str(err).replace("--tile", "finetune.tile").replace("--context", "finetune.context")) from None
    tss = read_bed(ranges.tss, allow_empty=True)
    log_line(f"reading training ({', '.join(ranges.train)}) and validation ({', '.join(ranges.val)}) sequence")
    with Genome(ranges.genome) as genome:
        train_iv = TrackIntervals.read(genome, [parse_region(r) for r in ranges.train], tss, head.tile)
        val_iv = TrackIntervals.read(genome, [parse_region(r) for r in ranges.val], tss, head.tile)
    if not train_iv.tss_in():
        raise InputError(f"no TSS of the BED lies in the training ranges {', '.join(ranges.train)}", path=data.path)
    if not val_iv.regions:
        raise InputError(f"no validation range is as long as a {head.tile}-base tile", path=data.path)
    sampler = TileSampler(train_iv, head.tile, radius=head.tss_radius, tss_fraction=head.tss_fraction,
                          seed=config.train.seed)
    task = TileTask(sampler, validation_tiles(val_iv, head.tile, head.tss_radius), model.tokenizer,
                    batch_size=config.train.batch_size, tiles_per_epoch=head.tiles_per_epoch)
    steps = config.train.max_steps or head.epochs * task.steps_per_epoch
    calibration: list[Calibration | None] = [None]

    def finish(model_dir: Path) -> dict[str, Any]:
        if calibrate:
            inputs = CalibrationInputs(ranges.genome, ranges.tss, ranges.val)  # checked by track_data
            log_line(f"calibrating on {', '.join(inputs.regions)} ({head.false_calls_per_100kb:g} false calls per "
                     f"100 kb): a tile scan of both strands")
            calibration[0] = calibrate_on(model.to(resolve_device(config.train.device)), inputs,
                                          target=head.false_calls_per_100kb, batch_size=8 * config.train.batch_size,
                                          label=LABEL)
            model.to("cpu")
            write_calibration(calibration[0], model_dir)
        return {"data": str(data.path.resolve()), "task": TASK,
                "init": None if init is None else str(Path(init).resolve()),
                "train_ranges": list(ranges.train), "val_ranges": list(ranges.val),
                "train_tss": len(sampler.tss), "val_tiles": len(task.val),
                "calibration": None if calibration[0] is None else calibration[0].summary()}

    best_step, history = train_and_save(model, task, config, out, steps=steps, metric="val_auprc", quiet=quiet,
                                        finish=finish)
    return FinetuneResult(out, best_step, math.ceil(best_step / task.steps_per_epoch), history[best_step], steps,
                          calibration[0])
