"""Checkpoints: everything needed to continue a run exactly, written atomically.

A checkpoint is ``RUN_DIR/checkpoints/step-NNNNNNNN.pt``, a ``torch.save`` of plain state dicts
(never a pickled model), loaded with ``weights_only=True``:

    format      CHECKPOINT_FORMAT
    step        optimizer steps completed; also the data position, since batches are keyed on the step
    model       the unwrapped model's state_dict
    optimizer   AdamW's state_dict
    scheduler   the learning-rate schedule's state_dict
    rng         {"torch": CPU generator state, "cuda": one state per visible GPU}
    config      the run's merged config (nested dicts)
    progress    {"tokens": tokens seen, "elapsed_s": seconds trained}

It is written to a temporary file beside its final name and renamed, so a run killed at any
moment leaves whole checkpoints only; a file cut short by other means is refused on resume.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from seqformer.errors import InputError
from seqformer.io.atomic import atomic_path

CHECKPOINT_FORMAT = 1
CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^step-(\d+)\.pt$")


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    """Where the checkpoint of ``step`` lives."""
    return Path(run_dir) / CHECKPOINT_DIR / f"step-{step:08d}.pt"


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of every checkpoint of a run, oldest first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [(int(match.group(1)), path) for path in folder.iterdir() if (match := _NAME.match(path.name))]
    return sorted(found)


def rng_state() -> dict[str, Any]:
    """The torch random states of this process (CPU, and every GPU when there are any)."""
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state`'s output."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` (see the module docstring) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp)
    return Path(path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", *,
                    mmap: bool = False) -> dict[str, Any]:
    """Read a checkpoint; InputError naming the file if it is truncated, corrupt, of another format, or
    holds objects that are not tensors, numbers or plain containers (refused without running them).

    ``mmap=True`` maps the tensors instead of reading them (a cheap whole-file check)."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        if "Weights only load failed" in str(err):  # a whole file, refused on purpose
            found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
            what = f" ({found.group(1)})" if found else ""
            raise InputError(f"checkpoint holds objects seqformer will not unpickle{what}: only tensors, numbers "
                             "and plain containers are loaded, since unpickling anything else can run code; "
                             "it was refused on purpose, not because it is damaged", path=path) from None
        raise _corrupt(path, type(err).__name__) from None
    except Exception as err:  # truncated zip, I/O: "cannot resume from this file"
        raise _corrupt(path, type(err).__name__) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"not a seqformer checkpoint of format {CHECKPOINT_FORMAT}", path=path)
    return state


def verify_checkpoint(path: str | Path) -> Path:
    """InputError unless ``path`` is a whole archive whose objects seqformer loads: every member's CRC is
    checked, then the state is read with tensors memory-mapped (nothing but tensors and plain containers
    is ever unpickled)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        bad = type(err).__name__
    if bad is not None:
        raise _corrupt(path, f"bad member {bad}" if "/" in bad else bad)
    load_checkpoint(path, mmap=True)
    return path


def _corrupt(path: Path, reason: str) -> InputError:
    earlier = [p.name for _, p in list_checkpoints(path.parent.parent) if p != path]
    hint = f"; delete it to resume from {earlier[-1]}" if earlier else ""
    return InputError(f"checkpoint is truncated or corrupt ({reason}){hint}", path=path)


def latest_checkpoint(run_dir: str | Path) -> Path:
    """The newest checkpoint of a run; InputError when there is none."""
    found = list_checkpoints(run_dir)
    if not found:
        raise InputError(f"--resume: no checkpoint in {Path(run_dir) / CHECKPOINT_DIR}", path=run_dir)
    return found[-1][1]


def prune_checkpoints(run_dir: str | Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints."""
    for _, path in list_checkpoints(run_dir)[:-keep]:
        path.unlink(missing_ok=True)
