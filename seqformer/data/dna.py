"""DNA corpora: random windows of indexed genomes, with a validation split held apart by coordinates.

Axes: W bases per window. Coordinates are 0-based, half-open (:mod:`seqformer.io.regions`).

The corpus is one or more indexed genomes (plain or BGZF FASTA), limited to ``regions`` when
given. Each contig range loses a held-out stretch for validation (``val_regions``, or the last
``val_fraction`` of the range); training windows lie wholly inside what is left, so no training
base is ever a validation base. A training window is drawn from a generator keyed on
``(seed, step, rank)``: its position (uniform over every possible window start), its strand
(minus half the time with ``reverse_complement``), and fresh draws while it holds more than
``max_n_fraction`` N. The windows of a step therefore depend on nothing but the step number,
which is all a checkpoint needs to record, and ranks of a distributed run draw different ones.
Validation windows tile the held-out stretches without overlap, plus strand only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqformer.errors import InputError
from seqformer.io.genome import Genome
from seqformer.io.regions import Region, subtract_ranges

MAX_DRAWS = 200  # fresh draws allowed for one window before the corpus is declared mostly N


@dataclass(frozen=True)
class Stretch:
    """A 0-based half-open interval of one contig of genome number ``genome``."""

    genome: int  # index into the corpus files
    region: Region  # the interval

    def __len__(self) -> int:
        return len(self.region)


def subtract(stretch: Stretch, holes: list[Stretch]) -> list[Stretch]:
    """The parts of ``stretch`` outside every interval of ``holes`` (:func:`~seqformer.io.regions.subtract_ranges`)."""
    own = [hole.region for hole in holes if hole.genome == stretch.genome]
    return [Stretch(stretch.genome, piece) for piece in subtract_ranges(stretch.region, own)]


def n_fraction(seq: str) -> float:
    """Share of letters in ``seq`` that are not A, C, G or T."""
    known = seq.count("A") + seq.count("C") + seq.count("G") + seq.count("T")
    return 1.0 - known / max(len(seq), 1)


class GenomeWindows:
    """Training and validation windows of ``window`` bases from indexed genomes."""

    def __init__(self, paths: list[str], window: int, *, regions: tuple[str, ...] = (),
                 val_regions: tuple[str, ...] = (), val_fraction: float = 0.05, val_windows: int = 64,
                 max_n_fraction: float = 0.1, reverse_complement: bool = True, seed: int = 0) -> None:
        self.paths = list(paths)
        self.window = window
        self.max_n_fraction = max_n_fraction
        self.reverse_complement = reverse_complement
        self.seed = seed
        self.genomes = [Genome(path) for path in self.paths]
        ranges = self._parse(regions) if regions else [
            Stretch(g, Region(chrom, 0, length))
            for g, genome in enumerate(self.genomes) for chrom, length in genome.contigs.items()]
        self.held_out = self._parse(val_regions) if val_regions else [
            piece for stretch in ranges if (piece := self._tail(stretch, val_fraction)) is not None]
        train = [piece for stretch in ranges for piece in subtract(stretch, self.held_out)]
        self.train = [piece for piece in train if len(piece) >= window]
        if not self.train:
            raise InputError(f"no usable sequence: no training stretch is as long as one window ({window:,} "
                             "bases) once the validation stretches are held out; lower --max-length or use a "
                             "longer genome",
                             path=self.paths[0])
        self._cumulative = np.cumsum([len(piece) - window + 1 for piece in self.train])
        self._validation = self._validation_windows(val_windows)
        self.train_sequences(0, 0, 1, 1)  # fails now, not mid-run, if windows are mostly N

    def _parse(self, texts: tuple[str, ...]) -> list[Stretch]:
        """Samtools-style regions as stretches, each on the first genome that has its contig."""
        stretches = []
        for text in texts:
            chrom = text.rsplit(":", 1)[0] if ":" in text else text
            g = next((g for g, genome in enumerate(self.genomes) if chrom in genome.contigs), 0)
            stretches.append(Stretch(g, self.genomes[g].region(text)))
        return stretches

    def _tail(self, stretch: Stretch, fraction: float) -> Stretch | None:
        """The held-out end of ``stretch``: ``fraction`` of it, at least one window; None if too short."""
        size = max(int(round(len(stretch) * fraction)), self.window)
        if len(stretch) < size + self.window:
            return None
        region = stretch.region
        return Stretch(stretch.genome, Region(region.chrom, region.end - size, region.end))

    def _fetch(self, stretch: Stretch, start: int, strand: str = "+") -> str:
        return self.genomes[stretch.genome].fetch(stretch.region.chrom, start, start + self.window, strand)

    def _validation_windows(self, count: int) -> list[tuple[Stretch, int]]:
        """Up to ``count`` non-overlapping held-out windows with few N, spread at random (seeded)."""
        tiles = [(stretch, start) for stretch in self.held_out
                 for start in range(stretch.region.start, stretch.region.end - self.window + 1, self.window)]
        order = np.random.default_rng([self.seed, 1]).permutation(len(tiles))
        chosen = []
        for index in order[: 20 * count]:
            stretch, start = tiles[index]
            if n_fraction(self._fetch(stretch, start)) <= self.max_n_fraction:
                chosen.append(tiles[index])
                if len(chosen) == count:
                    break
        if not chosen:
            raise InputError(f"no usable sequence: no validation window of {self.window:,} bases with at most "
                             f"{self.max_n_fraction:.0%} N in the held-out stretches "
                             f"({', '.join(str(s.region) for s in self.held_out[:3]) or 'none'})",
                             path=self.paths[0])
        return sorted(chosen, key=lambda tile: (tile[0].genome, tile[0].region.chrom, tile[1]))

    def train_sequences(self, step: int, rank: int, world_size: int, batch_size: int) -> list[str]:
        """The ``batch_size`` training windows of ``step`` on ``rank`` (world_size plays no part)."""
        rng = np.random.default_rng([self.seed, step, rank])
        return [self._draw(rng) for _ in range(batch_size)]

    def _draw(self, rng: np.random.Generator) -> str:
        """One window with few N: uniform over every start in the training stretches."""
        for _ in range(MAX_DRAWS):
            position = int(rng.integers(self._cumulative[-1]))
            index = int(np.searchsorted(self._cumulative, position, side="right"))
            offset = position - (int(self._cumulative[index - 1]) if index else 0)
            stretch = self.train[index]
            strand = "-" if self.reverse_complement and rng.random() < 0.5 else "+"
            seq = self._fetch(stretch, stretch.region.start + offset, strand)
            if n_fraction(seq) <= self.max_n_fraction:
                return seq
        raise InputError(f"no usable sequence: no window of {self.window:,} bases with at most "
                         f"{self.max_n_fraction:.0%} N in {MAX_DRAWS} draws: the training stretches are mostly N",
                         path=self.paths[0])

    def validation_sequences(self) -> list[str]:
        """The validation windows, in genome order (the same on every call)."""
        return [self._fetch(stretch, start) for stretch, start in self._validation]

    def validation_regions(self) -> list[tuple[int, Region]]:
        """(genome index, region) of each validation window."""
        return [(stretch.genome, Region(stretch.region.chrom, start, start + self.window))
                for stretch, start in self._validation]

    def describe(self) -> dict:
        """Sizes for the log: training and held-out bases, validation windows."""
        return {"train_bases": int(sum(len(s) for s in self.train)),
                "held_out_bases": int(sum(len(s) for s in self.held_out)),
                "validation_windows": len(self._validation), "window_bases": self.window}
