"""Labelled-window data folders: the sequences and 0/1 targets that classifiers train on.

Axes: N windows, T targets.

A data folder holds ``dataset.json`` and ``windows.tsv``. The table lists windows, not sequences;
each row says where its bases come from:

``#chrom start end name strand source record offset split <target 1> ... <target T>``

- ``chrom``, ``start``, ``end``: the window in genome coordinates (0-based, half-open) where known,
  for BED-style use (``.`` and -1 when the sequence has none, e.g. a shuffled background);
- ``source``: a key of ``dataset.json``'s ``sources``: ``{"kind": "genome", "path": ...}`` (an
  indexed FASTA read through :class:`~seqformer.io.Genome`), ``{"kind": "fasta", "path": ...}`` (the
  records of a FASTA file, read whole), or ``{"kind": "dinucleotide-shuffle", "of": SOURCE, "seed": S}``
  (the window of that source, dinucleotide-shuffled with a seed derived from ``S`` and the row);
- ``record`` and ``offset``: the contig or FASTA record, and the 0-based offset of the window in it
  as written; the window is ``end - start`` bases long (``length`` for rows without coordinates is
  stored in ``end`` with ``start`` = 0 and ``chrom`` = ``.``);
- ``strand``: ``+`` reads the bases as written in the source record, ``-`` reverse-complements them;
- ``split``: ``train``, ``val`` or ``test``; the target columns are 0/1.

Every dataset builder (``seqformer data promoters|chromatin|tf-binding``) writes this
format through :func:`write_window_data`. Promoter folders of the earlier ``seqformer-promoters``
format (``#chrom start end name score strand label split``) are still read, as one ``promoter``
target whose source is the genome.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seqformer.errors import InputError

WINDOWS_FILE = "windows.tsv"
DATASET_FILE = "dataset.json"
FORMAT = "seqformer-windows"
LEGACY_PROMOTER_FORMAT = "seqformer-promoters"  # promoter folders written before the one format
LEGACY_PROMOTER_COLUMNS = ("chrom", "start", "end", "name", "score", "strand", "label", "split")
BASE_COLUMNS = ("chrom", "start", "end", "name", "strand", "source", "record", "offset", "split")
SPLITS = ("train", "val", "test")
SHUFFLE_STREAM = 21  # last part of a shuffled row's seed


@dataclass
class LabelledWindows:
    """The sequences (each read on its row's strand) and 0/1 targets of one split."""

    seqs: list[str]
    labels: np.ndarray  # (N, T) int64
    rows: pd.DataFrame  # the table rows they came from, in the same order

    def __len__(self) -> int:
        return len(self.seqs)


@dataclass
class WindowData:
    """A data folder's table and dataset.json."""

    table: pd.DataFrame  # BASE_COLUMNS + one column per target
    meta: dict[str, Any]  # dataset.json
    path: Path  # the folder

    @property
    def targets(self) -> tuple[str, ...]:
        """The target names, in column order."""
        return tuple(self.meta["targets"])

    @property
    def window(self) -> int:
        """Bases per window."""
        return int(self.meta["window"])


def write_window_data(out: str | Path, table: pd.DataFrame, meta: dict[str, Any]) -> None:
    """Write windows.tsv and dataset.json into a folder beside ``out``, then rename it onto ``out``.

    ``meta`` must hold ``targets`` and ``sources``; ``format`` and ``version`` are added.
    """
    from seqformer.io.atomic import atomic_dir

    targets = list(meta["targets"])
    table = table[list(BASE_COLUMNS) + targets]
    meta = {"format": FORMAT, "version": 1, **meta}
    with atomic_dir(out) as tmp:
        with open(tmp / WINDOWS_FILE, "w", newline="") as handle:
            handle.write("#" + "\t".join(table.columns) + "\n")
            table.to_csv(handle, sep="\t", header=False, index=False)
        (tmp / DATASET_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def check_new_data_folder(out: str | Path) -> None:
    """InputError unless ``out`` is absent, empty, or an earlier data folder (which is replaced)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(p.name not in (WINDOWS_FILE, DATASET_FILE) for p in out.iterdir())):
        raise InputError("exists and holds other files; choose a new --out", path=out)


def read_window_data(data_dir: str | Path) -> WindowData:
    """The table and dataset.json of a labelled-window (or promoter) data folder."""
    data_dir = Path(data_dir)
    meta_path, windows_path = data_dir / DATASET_FILE, data_dir / WINDOWS_FILE
    for path in (meta_path, windows_path):
        if not path.is_file():
            raise InputError(f"not a data folder: {path.name} is missing (make one with `seqformer data ...`)",
                             path=data_dir)
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON: {err}", path=meta_path) from None
    kind = meta.get("format") if isinstance(meta, dict) else None
    if kind == LEGACY_PROMOTER_FORMAT:
        return _legacy_promoter_data(data_dir, meta)
    if kind != FORMAT:
        raise InputError(f"not a seqformer data folder (format is {kind!r})", path=meta_path)
    table = pd.read_csv(windows_path, sep="\t", dtype={"#chrom": str, "name": str, "strand": str, "source": str,
                                                       "record": str, "split": str}, keep_default_na=False)
    table = table.rename(columns={"#chrom": "chrom"})
    expected = list(BASE_COLUMNS) + list(meta.get("targets", []))
    if list(table.columns) != expected:
        raise InputError(f"columns are {list(table.columns)}, expected {expected}", path=windows_path)
    return WindowData(table, meta, data_dir)


def _legacy_promoter_data(data_dir: Path, meta: dict[str, Any]) -> WindowData:
    """A ``seqformer-promoters`` folder in the labelled-window form (one ``promoter`` target)."""
    windows_path = data_dir / WINDOWS_FILE
    table = pd.read_csv(windows_path, sep="\t", dtype={"#chrom": str, "name": str, "strand": str, "split": str})
    table = table.rename(columns={"#chrom": "chrom"})
    if list(table.columns) != list(LEGACY_PROMOTER_COLUMNS) or "genome" not in meta:
        raise InputError("an unreadable promoter data folder of the earlier format; rebuild it with "
                         "`seqformer data promoters`", path=data_dir)
    out = pd.DataFrame({"chrom": table["chrom"], "start": table["start"], "end": table["end"],
                        "name": table["name"], "strand": table["strand"], "source": "genome",
                        "record": table["chrom"], "offset": table["start"], "split": table["split"],
                        "promoter": table["label"].astype(np.int64)})
    meta = {**meta, "task": "promoter", "targets": ["promoter"],
            "sources": {"genome": {"kind": "genome", "path": meta["genome"]}}}
    return WindowData(out, meta, data_dir)


def load_window_splits(data: WindowData | str | Path,
                       splits: Sequence[str] = SPLITS) -> dict[str, LabelledWindows]:
    """The sequences and targets of ``splits``, read from the folder's sources."""
    if not isinstance(data, WindowData):
        data = read_window_data(data)
    table = data.table
    reader = SourceReader(data.meta["sources"], data.path)
    out = {}
    targets = list(data.targets)
    try:
        for split in splits:
            rows = table[table["split"] == split]
            seqs = reader.read(rows)
            out[split] = LabelledWindows(seqs, rows[targets].to_numpy(np.int64), rows.reset_index(drop=True))
    finally:
        reader.close()
    return out


def window_lengths(rows: pd.DataFrame) -> np.ndarray:
    """(N,) bases of each row's window."""
    return (rows["end"].to_numpy(np.int64) - rows["start"].to_numpy(np.int64))


class SourceReader:
    """Reads windows from a folder's sources, opening each source once."""

    def __init__(self, sources: dict[str, dict[str, Any]], base: Path) -> None:
        self.sources, self.base = sources, base
        self._genomes: dict[str, Any] = {}
        self._records: dict[str, dict[str, str]] = {}

    def _path(self, spec: dict[str, Any]) -> Path:
        path = Path(spec["path"])
        return path if path.is_absolute() else self.base / path

    def read(self, rows: pd.DataFrame) -> list[str]:
        """The bases of each row, on its strand."""
        from seqformer.io import reverse_complement

        lengths = window_lengths(rows)
        out = []
        for (source, record, offset, strand, index), length in zip(
                zip(rows["source"], rows["record"], rows["offset"], rows["strand"], rows.index), lengths):
            seq = self._fetch(source, str(record), int(offset), int(length), int(index))
            out.append(reverse_complement(seq) if strand == "-" else seq)
        return out

    def _fetch(self, source: str, record: str, offset: int, length: int, row: int) -> str:
        spec = self.sources.get(source)
        if spec is None:
            raise InputError(f"windows.tsv names source {source!r}, which dataset.json does not list")
        kind = spec["kind"]
        if kind == "genome":
            return self._genome(source, spec).fetch(record, offset, offset + length)
        if kind == "fasta":
            records = self._fasta(source, spec)
            if record not in records:
                raise InputError(f"record {record!r} of windows.tsv is not in the FASTA", path=self._path(spec))
            return records[record][offset:offset + length]
        if kind == "dinucleotide-shuffle":
            from seqformer.data.loader import derived_seed
            from seqformer.data.shuffle import dinucleotide_shuffle

            bases = self._fetch(spec["of"], record, offset, length, row)
            return dinucleotide_shuffle(bases, derived_seed(int(spec.get("seed", 0)), row, SHUFFLE_STREAM))
        raise InputError(f"unknown source kind {kind!r} in dataset.json")

    def _genome(self, name: str, spec: dict[str, Any]):
        from seqformer.io import Genome

        if name not in self._genomes:
            self._genomes[name] = Genome(self._path(spec))
        return self._genomes[name]

    def _fasta(self, name: str, spec: dict[str, Any]) -> dict[str, str]:
        from seqformer.io import read_fasta

        if name not in self._records:
            self._records[name] = {r.id: r.seq for r in read_fasta(self._path(spec), alphabet="dna")}
        return self._records[name]

    def close(self) -> None:
        for genome in self._genomes.values():
            genome.close()


def target_counts(table: pd.DataFrame, targets: Iterable[str]) -> dict[str, dict[str, int]]:
    """split -> {"windows": N, target: positives, ...}."""
    out = {}
    for split in SPLITS:
        rows = table[table["split"] == split]
        out[split] = {"windows": int(len(rows)), **{t: int(rows[t].sum()) for t in targets}}
    return out


def check_both_classes(windows: LabelledWindows, split: str, targets: Sequence[str], where: Path) -> None:
    """InputError naming the first target with only one class in ``split``."""
    for t, name in enumerate(targets):
        if len(np.unique(windows.labels[:, t])) < 2:
            what = "positive and negative" if len(targets) > 1 else "promoter and background"
            raise InputError(f"the {split} split needs both {what} windows" +
                             (f" of target {name!r}" if len(targets) > 1 else ""), path=where)
