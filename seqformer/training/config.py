"""Run configs: frozen dataclasses per component, composed into one config per kind of run.

One family for every training run: a run config is a frozen dataclass whose fields are sections,
each a frozen dataclass of its own (:class:`RunSections` gives them ``to_dict`` / ``from_dict``).

- :class:`RunConfig` (``seqformer pretrain``): ``data`` (:class:`~seqformer.data.DataConfig`),
  ``masking`` (:class:`~seqformer.data.MaskingConfig`), ``model`` (:class:`ModelOptions`),
  ``optim`` (:class:`OptimConfig`) and ``train`` (:class:`TrainConfig`);
- :class:`FinetuneConfig` (``seqformer finetune``): the same ``model``, ``optim`` and ``train``
  sections with fine-tuning defaults, and ``finetune`` (:class:`FinetuneOptions`: tokens, head, epochs).

A run's YAML file is merged over the defaults and the command line's flags over that
(:func:`load_run_config`); each value is checked against its field's type, an unknown section or
key is an :class:`InputError` naming it and the file, and the merged result is written into the
run folder (``config.yaml`` of a pretraining run, ``finetune.yaml`` of a fine-tuned model), where
``--config`` reads it back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seqformer.attention import ATTENTION_KINDS
from seqformer.data.config import DataConfig
from seqformer.data.masking import MaskingConfig
from seqformer.device import DEVICES
from seqformer.errors import InputError
from seqformer.io.atomic import atomic_open

PRECISIONS = ("auto", "bf16", "fp32")


@dataclass(frozen=True)
class ModelOptions:
    """The encoder's shape and attention kind; vocabulary and tokenizer come from the data section."""

    arch: str = "bigbird"  # attention kind: a key of seqformer.attention.ATTENTION_KINDS
    hidden_size: int = 256  # D: width of every token representation
    num_layers: int = 4  # pre-LN Transformer blocks
    num_heads: int = 4  # attention heads per block; hidden_size must divide by it
    ffn_size: int | None = None  # inner width of each block's MLP; None = 4 * hidden_size
    dropout: float = 0.0  # dropout on attention and MLP outputs while training
    attention_options: dict[str, Any] = field(default_factory=dict)  # the kind's options, e.g. {block_size: 64}
    tie_word_embeddings: bool = True  # LM decoder weight = token embedding (BERT, ESM)
    reversible: bool = False  # RevNet blocks: activations recomputed in backward (less memory, one more forward)
    ffn_chunk_size: int | None = None  # tokens per chunk of each MLP (same outputs, smaller peak); None = all at once

    def __post_init__(self) -> None:
        if self.arch not in ATTENTION_KINDS:
            raise ValueError(f"arch must be one of {tuple(ATTENTION_KINDS)}, got {self.arch!r}")

    @property
    def mlp_size(self) -> int:
        """The MLP's inner width: ffn_size, or 4 * hidden_size when unset."""
        return self.ffn_size or 4 * self.hidden_size


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warm-up then cosine decay, and gradient clipping."""

    lr: float = 5e-4  # peak learning rate, reached after warmup_steps
    weight_decay: float = 0.01  # AdamW decay of matrices (biases, norms and embeddings are not decayed)
    betas: tuple[float, float] = (0.9, 0.98)  # AdamW moment decay rates
    eps: float = 1e-6  # AdamW denominator epsilon
    warmup_steps: int = 100  # steps of linear warm-up from 0 to lr
    min_lr_ratio: float = 0.1  # the cosine decays to lr * min_lr_ratio at max_steps
    grad_clip: float = 1.0  # clip the gradient's global L2 norm to this; 0 = no clipping
    ema: float = 0.0  # decay of an average of the weights validated and saved in their place; 0 = off

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(self.betas))
        if self.lr <= 0 or self.warmup_steps < 0 or self.grad_clip < 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("optim needs lr > 0, warmup_steps >= 0, grad_clip >= 0, 0 <= min_lr_ratio <= 1")
        if not 0 <= self.ema < 1:
            raise ValueError(f"optim.ema must be in [0, 1) (0 = off), got {self.ema}")
        if len(self.betas) != 2 or not all(0 <= beta < 1 for beta in self.betas):
            raise ValueError(f"optim.betas must be two numbers in [0, 1), got {list(self.betas)}")


@dataclass(frozen=True)
class TrainConfig:
    """Steps, batches, device, checkpoints and logging."""

    max_steps: int | None = 1000  # optimizer steps of the whole run; None (fine-tuning only) = finetune.epochs
    batch_size: int = 8  # windows per micro-batch on each process
    grad_accum: int = 1  # micro-batches per optimizer step
    seed: int = 0  # seeds the model's initialisation, the data and the masking
    device: str = "auto"  # "auto" (CUDA when available), "cpu" or "cuda"
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA, fp32 on CPU), "bf16" or "fp32"
    checkpoint_every: int = 200  # steps between checkpoints (the last step always gets one)
    keep_checkpoints: int = 2  # newest checkpoints kept on disk
    eval_every: int = 200  # steps between validations (the last step always gets one)
    log_every: int = 10  # steps between log lines in quiet mode (metrics.csv gets every step)
    num_workers: int | None = None  # batch-building worker processes; None = 4 on CUDA, 0 on CPU
    peak_tflops: float | None = None  # peak TFLOP/s of one device for the MFU; None = known GPUs only
    threads: int | None = None  # torch CPU threads while training; None = torch's default (one per core)

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "grad_accum", "checkpoint_every", "keep_checkpoints",
                     "eval_every", "log_every"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be at least 1, got {getattr(self, name)}")
        if self.device not in DEVICES:
            raise ValueError(f"train.device must be one of {DEVICES}, got {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"train.precision must be one of {PRECISIONS}, got {self.precision!r}")


@dataclass(frozen=True)
class FinetuneOptions:
    """What fine-tuning adds to the model, optim and train sections: tokens, head, epochs, augmentation."""

    kmer: int = 6  # k of the k-mer tokens (ignored with --init: the pretrained tokenizer wins)
    kmer_stride: int = 1  # 1 = overlapping k-mers (DNABERT), k = non-overlapping (a k-th as many tokens)
    pooling: str = "mean"  # "mean" over real tokens or "cls"
    head_dropout: float = 0.1  # dropout on the pooled representation
    epochs: int = 10  # epochs over the train split (unless train.max_steps is set)
    warmup_fraction: float = 0.1  # share of the steps spent warming up (sets optim.warmup_steps)
    pos_weight: bool = False  # weight each target's positives by n_negative / n_positive (train split)
    rc_augment: bool = True  # read each training window on a random strand
    false_calls_per_100kb: float = 1.0  # promoter models: calibrate the scan threshold to this false-call rate
    tile: int = 4096  # track models (promoter-track): bases per training tile
    context: int = 512  # track models: bases at each tile edge a scan reads but does not keep
    smooth: int = 500  # track models: bases of the moving mean a scan applies before calling (0 = none)
    tss_radius: int = 100  # track models: bases within this of a TSS (same strand) are positive
    tss_fraction: float = 0.5  # track models: share of training tiles drawn around a TSS
    tiles_per_epoch: int = 4096  # track models: training tiles between validations

    def __post_init__(self) -> None:
        if self.kmer < 1 or self.kmer_stride < 1 or self.epochs < 1:
            raise ValueError("finetune needs kmer >= 1, kmer_stride >= 1 and epochs >= 1")
        if self.tile < 1 or self.context < 0 or self.tss_radius < 0 or self.tiles_per_epoch < 1 or self.smooth < 0:
            raise ValueError("finetune needs tile >= 1, context >= 0, smooth >= 0, tss_radius >= 0 and "
                             "tiles_per_epoch >= 1")
        if not 0.0 <= self.tss_fraction <= 1.0:
            raise ValueError(f"finetune.tss_fraction must be in [0, 1], got {self.tss_fraction}")
        if not self.false_calls_per_100kb > 0:
            raise ValueError(f"finetune.false_calls_per_100kb must be above 0, got {self.false_calls_per_100kb:g}")
        if not 0.0 <= self.warmup_fraction <= 1.0:
            raise ValueError(f"finetune.warmup_fraction must be in [0, 1], got {self.warmup_fraction}")


class RunSections:
    """Shared by every run config: its dataclass fields are its sections (each a frozen dataclass)."""

    @classmethod
    def sections(cls) -> dict[str, type]:
        """Section name → its dataclass, in field order."""
        hints = {f.name: f.default_factory for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return {name: type(factory()) for name, factory in hints.items()}

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain nested dicts and lists, as written to the run's YAML file."""
        return {name: _plain(dataclasses.asdict(getattr(self, name))) for name in self.sections()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | Path | None = None):
        """Build and check every section; InputError names the bad key and ``source``."""
        check_keys(data, source, cls)
        sections = {}
        for name, section_cls in cls.sections().items():
            values = {key: _coerce(section_cls, f"{name}.{key}", value, source)
                      for key, value in (data.get(name) or {}).items()}
            try:
                sections[name] = section_cls(**values)
            except (TypeError, ValueError) as err:
                raise InputError(f"bad {name} section: {err}", path=source) from None
        try:
            return cls(**sections)
        except ValueError as err:
            raise InputError(str(err), path=source) from None


@dataclass(frozen=True)
class RunConfig(RunSections):
    """Everything a pretraining run needs, one section per component."""

    data: DataConfig = field(default_factory=DataConfig)  # corpus, tokenizer, windows, validation split
    masking: MaskingConfig = field(default_factory=MaskingConfig)  # masked-LM selection and replacement
    model: ModelOptions = field(default_factory=ModelOptions)  # encoder shape and attention kind
    optim: OptimConfig = field(default_factory=OptimConfig)  # optimizer and schedule
    train: TrainConfig = field(default_factory=TrainConfig)  # loop, device, checkpoints, logging

    def __post_init__(self) -> None:
        if self.train.max_steps is None:
            raise ValueError("pretraining needs train.max_steps")


@dataclass(frozen=True)
class FinetuneConfig(RunSections):
    """Everything a fine-tuning run needs: the pretraining sections it shares, with its own defaults."""

    model: ModelOptions = field(default_factory=lambda: ModelOptions(  # ignored with --init, but for dropout
        arch="dense", hidden_size=128, num_layers=2, num_heads=4, dropout=0.1))
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=3e-4, weight_decay=0.01))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(max_steps=None, batch_size=32))
    finetune: FinetuneOptions = field(default_factory=FinetuneOptions)  # tokens, head, epochs, augmentation


#: Sections of a pretraining run (what RunConfig.sections() returns).
SECTIONS: dict[str, type] = RunConfig.sections()
#: What must not change when a run is resumed: the data, the model and how batches are made.
#: (optim.* may change, e.g. a lower lr after a divergence; so may max_steps, device and logging.)
FIXED_ON_RESUME = ("data.", "masking.", "model.", "train.seed", "train.batch_size", "train.grad_accum")


def _plain(value: Any) -> Any:
    """Tuples as lists, recursively, for YAML."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def check_keys(data: Any, source: str | Path | None, config_cls: type[RunSections] = RunConfig) -> None:
    """InputError for a section or key that does not exist (naming it, the file, and what exists)."""
    sections = config_cls.sections()
    if not isinstance(data, dict):
        raise InputError(f"a run config must be a mapping of sections {sorted(sections)}", path=source)
    for name, values in data.items():
        if name not in sections:
            raise InputError(f"unknown config section {name!r}; sections are {sorted(sections)}", path=source)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise InputError(f"config section {name!r} must be a mapping of keys", path=source)
        known = [f.name for f in dataclasses.fields(sections[name])]
        for key in values:
            if key not in known:
                raise InputError(f"unknown config key '{name}.{key}'; keys of {name}: {', '.join(known)}",
                                 path=source)


_SCALARS = {"int": int, "float": float, "bool": bool, "str": str}


def _coerce(section_cls: type, key: str, value: Any, source: str | Path | None) -> Any:
    """``value`` checked against the field's annotation (ints accepted as floats, '5e-4' as a float)."""
    annotation = {f.name: f.type for f in dataclasses.fields(section_cls)}[key.split(".", 1)[1]]
    kinds = [part.strip() for part in str(annotation).split("|")]
    if value is None and "None" in kinds:
        return None
    kind = kinds[0]
    if kind in _SCALARS:
        if kind == "float" and isinstance(value, str):
            try:
                return float(value)  # YAML 1.1 reads 5e-4 (no dot) as a string
            except ValueError:
                pass
        if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, _SCALARS[kind]) and not (kind != "bool" and isinstance(value, bool)):
            return value
        raise InputError(f"config key '{key}' must be {'an' if kind == 'int' else 'a'} {kind}, got {value!r}",
                         path=source)
    if kind.startswith("tuple") and isinstance(value, (list, tuple)):
        return tuple(value)
    if kind.startswith("tuple") and isinstance(value, str):
        return (value,)
    if kind.startswith("dict") and isinstance(value, dict):
        return value
    raise InputError(f"config key '{key}' must be a {kind.split('[')[0].replace('tuple', 'list')}, got {value!r}",
                     path=source)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base``, mappings merged key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def flag_overrides(flags: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The command line's flags as config overrides: sections of the values given (None = not given)."""
    given = {section: {key: value for key, value in values.items() if value is not None}
             for section, values in flags.items()}
    return {section: values for section, values in given.items() if values}


def read_yaml(path: str | Path, config_cls: type[RunSections] = RunConfig) -> dict[str, Any]:
    """A run config file as nested dicts, its keys checked against ``config_cls``."""
    path = Path(path)
    if not path.is_file():
        raise InputError("config file not found", path=path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise InputError(f"not valid YAML: {err}".replace("\n", " "), path=path) from None
    check_keys(data, path, config_cls)
    return data


def load_run_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None,
                    base: dict[str, Any] | None = None, config_cls: type[RunSections] = RunConfig):
    """Defaults (or ``base``), then the YAML file at ``path``, then ``overrides`` (e.g. CLI flags).

    ``config_cls`` is the kind of run (:class:`RunConfig` or :class:`FinetuneConfig`); ``base`` is
    a nested dict laid over its defaults (e.g. a fine-tuning task's presets, or a saved config).
    """
    merged = config_cls().to_dict()
    if base:
        check_keys(base, "the defaults", config_cls)
        merged = merge(merged, base)
    if path is not None:
        merged = merge(merged, read_yaml(path, config_cls))
    if overrides:
        check_keys(overrides, "the command line", config_cls)
        merged = merge(merged, overrides)
    return config_cls.from_dict(merged, source=path)


def changed_keys(old: RunSections, new: RunSections) -> list[str]:
    """Dotted keys whose values differ between two configs of one kind."""
    a, b = old.to_dict(), new.to_dict()
    return [f"{name}.{key}" for name in a for key in a[name] if a[name][key] != b[name].get(key)]


def write_run_config(config: RunSections, path: str | Path) -> None:
    """Write the merged config as YAML, atomically."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write("# The merged configuration of this run (defaults < --config file < command-line flags).\n")
        yaml.safe_dump(config.to_dict(), handle, sort_keys=False)
