"""Calibrated promoter calls: the threshold that meets a false-call rate on held-out sequence.

A promoter model's probability is tied to no error rate: 0.5 may call a promoter every few kb of
background. Calibration scans held-out region(s) (a promoter data folder's validation ranges) the
way ``seqformer predict promoters`` does (:func:`~seqformer.predict.scan.scan_segments`: both
strands, stitched per-base means), sweeps every threshold of that track against the region's
annotated TSSs (:func:`~seqformer.evaluation.scan.threshold_sweep`: a call is false when no TSS
lies within ``distance`` bases of it) and keeps the lowest threshold reached, lowering it from the
top, before false calls first exceed the target rate per 100 kb
(:func:`~seqformer.evaluation.scan.threshold_for_rate`).

- Several regions are swept one by one and pooled: at each threshold, calls, false calls and TSSs
  found are summed, and the rate is false calls per 100 kb of all the regions' bases.
- A region holding no TSS calibrates on false calls alone; recall is undefined (NaN, ``null`` in JSON).
- Regions without a scored window (all N) give no calls at any threshold; then the highest
  threshold (1.0) is kept.
- If even the highest threshold of the track exceeds the target, that threshold is kept and
  ``met`` is false.

The result, a :class:`Calibration`, is saved as ``calibration.json`` in the model folder;
``seqformer predict promoters`` calls at its threshold unless ``--threshold`` is given.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seqformer.errors import InputError
from seqformer.evaluation.scan import SWEEP_COLUMNS, operating_point, recall_at_rates, threshold_sweep
from seqformer.io.atomic import atomic_open
from seqformer.io.bed import read_bed
from seqformer.io.regions import Region
from seqformer.predict.calls import track_value
from seqformer.predict.scan import MAX_N_FRACTION, scan_segments
from seqformer.predict.windows import check_tiling, tile
from seqformer.training.progress import LogProgress

CALIBRATION_FILE = "calibration.json"
DEFAULT_DISTANCE = 500  # bases between a call and a TSS for the call to be true
DEFAULT_RATE = 1.0  # false calls per 100 kb
REPORTED_RATES = (0.5, 1.0, 2.0)  # rates whose thresholds and recalls are recorded beside the target's


@dataclass
class Calibration:
    """The calibrated threshold of a promoter model and what it was measured on (see the module docstring)."""

    threshold: float  # call bases whose per-base probability is >= this
    target_false_per_100kb: float  # the false-call rate asked for
    false_per_100kb: float  # the rate measured at threshold on the regions
    recall: float  # TSSs of the regions found at threshold / TSSs in the regions; NaN when none
    calls: int  # calls at threshold in the regions
    false_calls: int  # of those, farther than distance from every TSS
    tss_found: int
    tss: int  # TSSs inside the regions
    regions: list[str]  # samtools-style, 1-based inclusive
    bases: int  # bases in the regions
    tss_file: str | None  # the TSS BED
    genome: str | None  # the FASTA scanned
    distance: int = DEFAULT_DISTANCE
    stride: int = 0
    window: int = 0
    label: str = "promoter"
    met: bool = True  # false_per_100kb <= target_false_per_100kb
    note: str = ""  # why the threshold is not an ordinary pick, when it is not
    at_rates: list[dict[str, Any]] = field(default_factory=list)  # threshold and recall at REPORTED_RATES
    sweep: pd.DataFrame | None = field(default=None, repr=False, compare=False)  # the pooled sweep (not saved)

    @property
    def where(self) -> str:
        """The regions, comma-separated."""
        return ", ".join(self.regions)

    def describe(self) -> str:
        """``1.0 false calls per 100 kb on chr20:40000001-45000000, measured 0.96``."""
        return (f"{rate_text(self.target_false_per_100kb)} false calls per 100 kb on {self.where}, "
                f"measured {self.false_per_100kb:.2f}")

    def to_dict(self) -> dict[str, Any]:
        """Everything but the sweep, NaN as None (JSON null)."""
        values = {k: v for k, v in asdict(self).items() if k != "sweep"}
        return _nan_to_none(values)

    def summary(self) -> dict[str, Any]:
        """The few numbers finetune.json records."""
        keys = ("threshold", "target_false_per_100kb", "false_per_100kb", "recall", "calls", "regions", "met")
        return {key: value for key, value in self.to_dict().items() if key in keys}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        known = {f for f in cls.__dataclass_fields__ if f != "sweep"}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("recall") is None:
            values["recall"] = float("nan")
        return cls(**values)


def rate_text(rate: float) -> str:
    """A rate as people write it: ``1.0``, ``0.5``, ``0.25``, ``40.0``."""
    return f"{rate:.1f}" if float(rate * 10).is_integer() else f"{rate:g}"


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    return value


# --- pooling sweeps -----------------------------------------------------------------------------
def pool_sweeps(sweeps: Sequence[pd.DataFrame], bases: Sequence[int], tss: Sequence[int]) -> pd.DataFrame:
    """One sweep over several regions: at each threshold of any of them, summed calls, false calls and
    TSSs found; rate per 100 kb of ``sum(bases)``; recall over ``sum(tss)`` (NaN when 0)."""
    levels = np.unique(np.concatenate([s["threshold"].to_numpy(np.float64) for s in sweeps] or [np.zeros(0)]))[::-1]
    if len(levels) == 0:
        return pd.DataFrame(columns=list(SWEEP_COLUMNS))
    calls, false, found = (np.zeros(len(levels), np.int64) for _ in range(3))
    for sweep in sweeps:
        if sweep.empty:
            continue
        own = sweep["threshold"].to_numpy(np.float64)  # decreasing
        row = np.searchsorted(-own, -levels, side="right") - 1  # its lowest threshold still >= the level
        has = row >= 0
        for total, column in ((calls, "calls"), (false, "false_calls"), (found, "tss_found")):
            total[has] += sweep[column].to_numpy(np.int64)[row[has]]
    length, sites = max(int(sum(bases)), 1), int(sum(tss))
    return pd.DataFrame({"threshold": levels, "calls": calls, "false_calls": false,
                         "false_per_100kb": false / length * 100_000, "tss_found": found,
                         "recall": found / sites if sites else np.full(len(levels), np.nan)})


# --- calibration --------------------------------------------------------------------------------
def _tss_positions(tss: pd.DataFrame, chrom: str) -> np.ndarray:
    return np.sort(tss.loc[tss["chrom"] == chrom, "start"].to_numpy(np.int64))


def calibrate(model, genome, regions: Region | str | Sequence[Region | str], tss: pd.DataFrame | str | Path, *,
              target: float = DEFAULT_RATE, window: int | None = None, stride: int | None = None,
              distance: int = DEFAULT_DISTANCE, batch_size: int = 64, max_n_fraction: float = MAX_N_FRACTION,
              label: str = "promoter", tss_file: str | Path | None = None) -> Calibration:
    """Scan ``regions`` of ``genome`` with ``model`` and pick the threshold meeting ``target`` false calls per 100 kb.

    Args:
        model: a :class:`~seqformer.models.classifier.SequenceClassifier` (its window is used), a track
            model (:class:`~seqformer.models.token_classifier.TokenClassifier`, scanned in its tiles; the
            recorded window is the tile and stride the core), or a
            plain scorer (window strings -> probabilities) with ``window``.
        genome: a :class:`~seqformer.io.Genome`.
        regions: one or more regions (or samtools-style strings checked against the genome).
        tss: the TSS BED (a path, or a frame from :func:`~seqformer.io.read_bed`); every TSS on a
            region's contig counts when deciding whether a call is false.
        target: false calls per 100 kb; must be above 0.
        stride: bases between window starts (default: half the window, as ``predict promoters``).
        distance: bases allowed between a call and a TSS.
    """
    from torch import nn

    from seqformer.models.token_classifier import TokenClassifier
    from seqformer.predict.scorer import classifier_scorer

    if not target > 0:
        raise InputError(f"the target false-call rate must be above 0 per 100 kb, got {target:g}")
    track = None
    if isinstance(model, TokenClassifier):  # scanned in tiles: window = tile, stride = core
        from seqformer.predict.tiles import check_tiles, track_scorer

        model.eval()
        track = (track_scorer(model, label), model.config.k, model.config.smooth)
        window = model.config.tile
        stride = check_tiles(window, model.config.context, model.config.k)
    elif isinstance(model, nn.Module):
        model.eval()
        scorer, window = classifier_scorer(model, label), window or model.config.window
    else:
        scorer = model
        if window is None:
            raise ValueError("a plain scorer needs window=")
    stride = max(1, window // 2) if stride is None else stride
    if isinstance(regions, (Region, str)):
        regions = [regions]
    regions = [genome.region(r) if isinstance(r, str) else r for r in regions]
    if not regions:
        raise ValueError("calibrate needs at least one region")
    if not isinstance(tss, pd.DataFrame):
        tss_file = tss_file or tss
        tss = read_bed(tss, allow_empty=True)
    if track is None:
        for region in regions:
            check_tiling(region, window, stride)

    sweeps, inside = [], []
    for region in regions:
        log = LogProgress(f"calibration scan of {region}", len(region))

        def report(done: int, bases: int, unit: str = "windows") -> None:
            log.report(bases - region.start, f"{done / max(log.elapsed, 1e-9):,.0f} {unit}/s")

        if track is None:
            segments = list(scan_segments(scorer, tile(genome, region, window, stride), batch_size=batch_size,
                                          max_n_fraction=max_n_fraction, on_batch=report))
        else:
            from seqformer.predict.tiles import track_segments

            segments = list(track_segments(track[0], genome, region, tile=window, context=(window - stride) // 2,
                                           k=track[1], smooth=track[2], batch_size=max(1, batch_size // 8),
                                           on_batch=lambda done, bases: report(done, bases, "tiles")))
        sites = _tss_positions(tss, region.chrom)
        starts = np.fromiter((s.start for s in segments), np.int64, len(segments))
        ends = np.fromiter((s.end for s in segments), np.int64, len(segments))
        values = np.fromiter((track_value(s.value) for s in segments), np.float64, len(segments))  # as written
        sweeps.append(threshold_sweep(starts, ends, values, sites, region, distance))
        inside.append(int(((sites >= region.start) & (sites < region.end)).sum()))
    bases = [len(r) for r in regions]
    sweep = pool_sweeps(sweeps, bases, inside)

    notes = []
    if sum(inside) == 0:
        notes.append("no TSS in the regions: calibrated on false calls only, recall undefined")
    if sweep.empty:
        notes.append("no scored window in the regions: no calls at any threshold, so the highest (1.0) is kept")
        threshold, measured, row = 1.0, 0.0, {"calls": 0, "false_calls": 0, "tss_found": 0,
                                              "recall": 0.0 if sum(inside) else float("nan")}
        at_rates: list[dict] = []
    else:
        row = operating_point(sweep, target)
        threshold, measured = float(row["threshold"]), float(row["false_per_100kb"])
        at_rates = recall_at_rates(sweep, REPORTED_RATES)
        if measured > target:
            notes.append(f"even the highest threshold gives {measured:.2f} false calls per 100 kb")
    genome_path = getattr(genome, "path", None)
    return Calibration(
        threshold=float(threshold), target_false_per_100kb=float(target), false_per_100kb=float(measured),
        recall=float(row["recall"]), calls=int(row["calls"]), false_calls=int(row["false_calls"]),
        tss_found=int(row["tss_found"]), tss=sum(inside), regions=[str(r) for r in regions], bases=sum(bases),
        tss_file=None if tss_file is None else str(Path(tss_file).resolve()),
        genome=None if genome_path is None else str(Path(genome_path).resolve()),
        distance=distance, stride=stride, window=window, label=label, met=measured <= target,
        note="; ".join(notes), at_rates=at_rates, sweep=sweep)


# --- data folders and model folders -------------------------------------------------------------
@dataclass(frozen=True)
class CalibrationInputs:
    """What a promoter data folder gives calibration: the genome, the TSS BED and the validation ranges."""

    genome: Path
    tss: Path
    regions: tuple[str, ...]


def calibration_inputs(meta: dict[str, Any], data_dir: str | Path) -> CalibrationInputs:
    """The genome, TSS BED and validation ranges recorded in a promoter data folder's dataset.json.

    InputError (suggesting ``--no-calibrate``) when one is missing.
    """
    data_dir = Path(data_dir)
    hint = "; give --no-calibrate to fine-tune without calibrating"
    splits = meta.get("splits") if isinstance(meta.get("splits"), dict) else {}
    val = splits.get("val")
    regions = (val,) if isinstance(val, str) else tuple(val or ())
    found = {}
    for key in ("genome", "tss"):
        value = meta.get(key)
        if not value:
            raise InputError(f"dataset.json records no {key} path to calibrate with{hint}", path=data_dir)
        path = Path(value) if Path(value).is_absolute() else data_dir / value
        if not path.is_file():
            raise InputError(f"the data folder's {key} file {path} is missing, so calls cannot be "
                             f"calibrated{hint}", path=data_dir)
        found[key] = path
    if not regions:
        raise InputError(f"dataset.json records no validation range (splits.val) to calibrate on{hint}",
                         path=data_dir)
    return CalibrationInputs(found["genome"], found["tss"], regions)


def calibrate_on(model, inputs: CalibrationInputs, *, target: float = DEFAULT_RATE, batch_size: int = 64,
                 label: str = "promoter", distance: int = DEFAULT_DISTANCE) -> Calibration:
    """:func:`calibrate` on the genome, TSS BED and ranges of :func:`calibration_inputs`."""
    from seqformer.io.genome import Genome

    with Genome(inputs.genome) as genome:
        return calibrate(model, genome, list(inputs.regions), inputs.tss, target=target, batch_size=batch_size,
                         label=label, distance=distance)


def write_calibration(calibration: Calibration, model_dir: str | Path) -> Path:
    """Save ``calibration.json`` into ``model_dir`` (atomically); returns its path."""
    path = Path(model_dir) / CALIBRATION_FILE
    with atomic_open(path, "w") as handle:
        json.dump(calibration.to_dict(), handle, indent=2)
        handle.write("\n")
    return path


def read_calibration(model_dir: str | Path) -> Calibration | None:
    """The model folder's calibration, or None when it has no calibration.json."""
    path = Path(model_dir) / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        calibration = Calibration.from_dict(data)
        threshold = float(calibration.threshold)
    except (json.JSONDecodeError, TypeError, ValueError, AttributeError) as err:
        raise InputError(f"not a calibration file: {err}".replace("\n", " "), path=path) from None
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"not a calibration file: threshold {threshold} is not a probability", path=path)
    return calibration


# --- which threshold a scan uses ----------------------------------------------------------------
@dataclass(frozen=True)
class ScanThreshold:
    """The threshold a scan calls at, where it came from, and the line that says so."""

    value: float
    source: str  # "--threshold", "calibrated" or "default"
    message: str
    calibration: Calibration | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"threshold": self.value, "threshold_source": self.source}
        if self.calibration is not None:
            out["calibration"] = self.calibration.summary()
        return out


def scan_threshold(model_dir: str | Path, given: float | None = None, *, label: str = "promoter",
                   stride: int | None = None, default: float = 0.5) -> ScanThreshold:
    """``given`` if set, else the model folder's calibrated threshold (for ``label``), else ``default``."""
    if given is not None:
        if not 0.0 <= given <= 1.0:
            raise InputError(f"--threshold must be a probability in [0, 1], got {given:g}")
        return ScanThreshold(given, "--threshold", f"threshold {given:g} (--threshold)")
    calibration = read_calibration(model_dir)
    if calibration is None:
        return ScanThreshold(default, "default", f"threshold {default:g} (default: the model has no "
                             f"{CALIBRATION_FILE}, so calls are tied to no false-call rate)")
    if calibration.label != label:
        return ScanThreshold(default, "default", f"threshold {default:g} (default: {CALIBRATION_FILE} calibrates "
                             f"{calibration.label!r}, not {label!r})")
    message = f"threshold {calibration.threshold:.3f} (calibrated: {calibration.describe()}"
    if not calibration.met:
        message += ", above the target even at the highest threshold"
    if stride is not None and calibration.stride and stride != calibration.stride:
        message += f"; calibrated at stride {calibration.stride}, scanning at {stride}, so the rate may differ"
    return ScanThreshold(calibration.threshold, "calibrated", message + ")", calibration)
