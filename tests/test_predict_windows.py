"""Tiling, batching and centre fitting of windows (seqformer.predict.windows)."""

from __future__ import annotations

import types

import pytest

from seqformer.errors import InputError
from seqformer.io.regions import Region
from seqformer.predict.windows import (
    batched,
    check_tiling,
    count_windows,
    fit_to_window,
    tile,
    window_starts,
)


class FakeGenome:
    """A genome of one long contig of repeating ACGT that records every fetch."""

    def __init__(self, length: int) -> None:
        self.length = length
        self.fetches: list[tuple[int, int]] = []

    def fetch(self, chrom: str, start: int, end: int, strand: str = "+") -> str:
        assert 0 <= start <= end <= self.length
        self.fetches.append((start, end))
        return "".join("ACGT"[i % 4] for i in range(start, end))


@pytest.mark.parametrize(("start", "end", "window", "stride", "expected"), [
    (0, 10, 4, 3, [0, 3, 6]),  # steps land exactly on the end
    (0, 11, 4, 3, [0, 3, 6, 7]),  # last partial step: one window flush with the end
    (5, 16, 4, 3, [5, 8, 11, 12]),  # a region not at 0
    (0, 4, 4, 2, [0]),  # exactly one window
    (0, 3, 4, 2, []),  # too short for a window
    (0, 9, 4, 4, [0, 4, 5]),  # stride = window
    (0, 6, 4, 1, [0, 1, 2]),
])
def test_window_starts_hand_computed(start, end, window, stride, expected):
    assert window_starts(start, end, window, stride) == expected
    assert count_windows(start, end, window, stride) == len(expected)


@pytest.mark.parametrize(("length", "window", "stride"), [(101, 10, 3), (100, 10, 5), (37, 7, 7), (50, 50, 1)])
def test_tiling_covers_the_region_exactly(length, window, stride):
    genome = FakeGenome(200)
    region = Region("chr1", 13, 13 + length)
    wins = list(tile(genome, region, window, stride, chunk_bases=16))
    covered = set()
    for w in wins:
        assert region.start <= w.start and w.end <= region.end and w.end - w.start == window
        assert w.seq == genome.fetch("chr1", w.start, w.end)
        covered.update(range(w.start, w.end))
    assert covered == set(range(region.start, region.end))
    assert [w.start for w in wins] == window_starts(region.start, region.end, window, stride)


def test_tile_streams_in_bounded_chunks():
    genome = FakeGenome(1_000_000)
    windows = tile(genome, Region("chr1", 0, 1_000_000), 100, 50, chunk_bases=1000)
    assert isinstance(windows, types.GeneratorType)
    assert genome.fetches == []  # nothing read before the first window is asked for
    next(windows)
    assert genome.fetches == [(0, 1050)]  # 20 window starts: 19 x 50 + 100 bases
    for _ in windows:
        pass
    assert max(end - start for start, end in genome.fetches) <= 1000 + 100


def test_batched_never_holds_more_than_the_batch():
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([], 3)) == []


@pytest.mark.parametrize(("seq", "window", "expected"), [
    ("ACGTAC", 4, "CGTA"),  # excess 2: one base off each end
    ("ACGTACG", 4, "CGTA"),  # excess 3: one off the left, two off the right (odd base at the 3' end)
    ("ACG", 7, "NNACGNN"),  # shortfall 4: two N each side
    ("ACG", 6, "NACGNN"),  # shortfall 3: odd N at the 3' end
    ("ACGT", 4, "ACGT"),
])
def test_fit_to_window_centres(seq, window, expected):
    assert fit_to_window(seq, window) == expected


def test_check_tiling_errors():
    with pytest.raises(InputError, match="empty"):
        check_tiling(Region("chr1", 5, 5), 4, 2)
    with pytest.raises(InputError, match="fewer than the model's window"):
        check_tiling(Region("chr1", 0, 3), 4, 2)
    with pytest.raises(InputError, match="--stride"):
        check_tiling(Region("chr1", 0, 30), 4, 5)
