"""BED and bedGraph files as pandas DataFrames.

Coordinates are **0-based, half-open**, as in the BED format itself: the row
``chr1  100  200`` is the bases ``seq[100:200]`` (``chr1:101-200`` in samtools style).
:func:`read_bed` accepts BED3 to BED6 and wider (extra columns are kept as ``col7``, ``col8``,
...), skips ``track``, ``browser`` and ``#`` lines, and reports bad lines by 1-based line number.
The writers sort by contig in natural order (chr2 before chr10), then start, then end, and
write atomically.
"""

from __future__ import annotations

import os
import re
from typing import Mapping

import numpy as np
import pandas as pd

from seqformer.errors import InputError
from seqformer.io._files import open_text, require_file
from seqformer.io.atomic import atomic_open
from seqformer.io.regions import Region, check_region

BED_COLUMNS = ["chrom", "start", "end", "name", "score", "strand"]
_FILL = {"name": ".", "score": 0}  # written when a later standard column is present


def _split(line: str) -> list[str]:
    """Fields of a BED line: tab-separated, or whitespace-separated when it has no tab."""
    line = line.rstrip("\r\n")
    return line.split("\t") if "\t" in line else line.split()


def read_bed(path: str | os.PathLike, *, allow_empty: bool = False) -> pd.DataFrame:
    """Read a BED file (plain or gzip) into a DataFrame with columns ``chrom, start, end, ...``.

    ``start`` and ``end`` are int64; ``score`` is numeric when every value is (``.`` -> missing):
    nullable Int64 when all are whole numbers, else float.
    Raises :class:`InputError` naming the line for too few or uneven columns, non-integer or
    negative coordinates, ``end < start``, or a strand other than ``+``, ``-`` or ``.``.
    """
    path = require_file(path, allow_empty=allow_empty)
    rows, lines = [], []
    with open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip() or line.startswith("#") or line.split(None, 1)[0] in ("track", "browser"):
                continue
            fields = _split(line)
            if len(fields) != len(rows[0] if rows else fields) or len(fields) < 3:
                expected = f"{len(rows[0])} as on line {lines[0]}" if rows else "at least 3"
                raise InputError(f"line {number}: {len(fields)} columns, expected {expected}", path=path)
            rows.append(fields)
            lines.append(number)
    width = len(rows[0]) if rows else 3
    names = BED_COLUMNS[:width] + [f"col{i + 1}" for i in range(len(BED_COLUMNS), width)]
    df = pd.DataFrame(rows, columns=names)
    lines = np.asarray(lines)
    for column in ("start", "end"):
        valid = df[column].str.fullmatch(r"[0-9]+").to_numpy(dtype=bool)
        if not valid.all():
            bad = int(np.argmin(valid))
            raise InputError(
                f"line {lines[bad]}: {column} {df[column].iloc[bad]!r} is not a whole number >= 0", path=path
            )
        df[column] = df[column].astype(np.int64)
    backwards = (df["end"] < df["start"]).to_numpy()
    if backwards.any():
        bad = int(np.argmax(backwards))
        raise InputError(f"line {lines[bad]}: end {df['end'].iloc[bad]} is before start {df['start'].iloc[bad]}",
                         path=path)
    if "strand" in df:
        strand_ok = df["strand"].isin(["+", "-", "."]).to_numpy()
        if not strand_ok.all():
            bad = int(np.argmin(strand_ok))
            raise InputError(f"line {lines[bad]}: strand {df['strand'].iloc[bad]!r} is not +, - or .", path=path)
    if "score" in df:
        score = pd.to_numeric(df["score"].replace(".", np.nan), errors="coerce")
        if not (score.isna() & (df["score"] != ".")).any():
            whole = (score.dropna() % 1 == 0).all()
            df["score"] = score.astype("Int64") if whole else score
    return df


def _natural_key(name: str) -> tuple:
    """Sort key that orders digit runs by value: chr1, chr2, chr10, chrX."""
    return tuple(int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", name)))


def sort_bed(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` sorted by contig (natural order), start, end; index reset."""
    ranks = {name: rank for rank, name in enumerate(sorted(df["chrom"].unique(), key=_natural_key))}
    order = np.lexsort((df["end"].to_numpy(), df["start"].to_numpy(), df["chrom"].map(ranks).to_numpy()))
    return df.iloc[order].reset_index(drop=True)


def _write_sorted(df: pd.DataFrame, columns: list[str], path: str | os.PathLike, header: str | None) -> None:
    """Sort ``df`` and write ``columns`` tab-separated, without a header row, atomically."""
    missing = [c for c in ("chrom", "start", "end") if c not in df]
    if missing:
        raise ValueError(f"BED DataFrame lacks columns {missing}")
    table = sort_bed(df)
    with atomic_open(path) as handle:
        if header is not None:
            handle.write(header + "\n")
        table[columns].to_csv(handle, sep="\t", header=False, index=False, na_rep=".")


def write_bed(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``df`` as BED, sorted; standard columns first (gaps filled with ``.``/0), then the rest."""
    last = max(i for i, name in enumerate(BED_COLUMNS) if name in df or i < 3)
    df = df.assign(**{name: _FILL[name] for name in BED_COLUMNS[3 : last + 1] if name not in df})
    extra = [c for c in df.columns if c not in BED_COLUMNS]
    _write_sorted(df, BED_COLUMNS[: last + 1] + extra, path, header=None)


def write_bedgraph(df: pd.DataFrame, path: str | os.PathLike, track_name: str | None = None) -> None:
    """Write columns ``chrom, start, end, value`` as bedGraph, sorted, with an optional track line."""
    if "value" not in df:
        raise ValueError("bedGraph DataFrame lacks a 'value' column")
    header = None if track_name is None else f'track type=bedGraph name="{track_name}"'
    _write_sorted(df, ["chrom", "start", "end", "value"], path, header)


def bed_regions(
    df: pd.DataFrame,
    contigs: Mapping[str, int] | None = None,
    *,
    strand: str = ".",
    path: str | os.PathLike | None = None,
    source: str | None = None,
) -> list[tuple[Region, str]]:
    """``(Region, strand)`` for each BED row, checked against ``contigs`` when given.

    Args:
        df: from :func:`read_bed`.
        contigs: genome contig name -> length; each interval must lie on one.
        strand: used for rows without a strand column or with strand ``.``.
        path, source: the BED file and the genome's name, for messages.
    """
    strands = df["strand"] if "strand" in df else [strand] * len(df)
    targets = []
    for chrom, start, end, row_strand in zip(df["chrom"], df["start"], df["end"], strands):
        region = Region(chrom, int(start), int(end))
        if contigs is not None:
            try:
                check_region(region.chrom, region.start, region.end, contigs, source=source)
            except InputError as err:
                raise InputError(f"interval {region}: {err}", path=path) from None
        targets.append((region, strand if row_strand == "." else row_strand))
    return targets
