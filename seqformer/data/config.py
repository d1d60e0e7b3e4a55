"""What a pretraining corpus is and how its windows are cut: one frozen dataclass.

Axes: L tokens per window ([CLS] and [SEP] included), W bases or residues per window.
"""

from __future__ import annotations

from dataclasses import dataclass

ALPHABETS = ("dna", "protein")


@dataclass(frozen=True)
class DataConfig:
    """A FASTA corpus, its tokenizer and its train/validation split."""

    fasta: tuple[str, ...] = ()  # corpus files: indexed genomes (DNA) or FASTA files (protein); several allowed
    alphabet: str = "dna"  # "dna" (k-mer tokens over random genome windows) or "protein" (residues of whole records)
    kmer: int = 6  # DNA: k of the k-mer tokenizer (1..8)
    stride: int = 1  # DNA: 1 = overlapping k-mers (DNABERT), k = non-overlapping
    max_length: int = 512  # L: tokens per window, [CLS] and [SEP] included
    regions: tuple[str, ...] = ()  # DNA: samtools regions (1-based, inclusive) the corpus keeps; () = all
    val_regions: tuple[str, ...] = ()  # DNA: regions held out for validation; () = the last val_fraction of each range
    val_fraction: float = 0.05  # DNA: held-out share at the end of each contig range; protein: share of records
    val_windows: int = 64  # how many validation windows (DNA, protein with concat) or records (protein) are evaluated
    max_n_fraction: float = 0.1  # DNA: windows with a larger share of N (or other ambiguity codes) are skipped
    reverse_complement: bool = True  # DNA: half of the training windows are read from the minus strand
    concat: bool = False  # protein: join whole framed records back to back into full windows of max_length
    #                       tokens (Performer's TrEMBL-concat); False = one cropped record per window

    def __post_init__(self) -> None:
        object.__setattr__(self, "fasta", tuple(str(path) for path in self.fasta))
        object.__setattr__(self, "regions", tuple(self.regions))
        object.__setattr__(self, "val_regions", tuple(self.val_regions))
        if self.alphabet not in ALPHABETS:
            raise ValueError(f"alphabet must be one of {ALPHABETS}, got {self.alphabet!r}")
        _positive_int("max_length", self.max_length, low=3)
        _positive_int("val_windows", self.val_windows, low=1)
        _positive_int("kmer", self.kmer, low=1)
        _positive_int("stride", self.stride, low=1)
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be between 0 and 1, got {self.val_fraction}")
        if not 0.0 <= self.max_n_fraction <= 1.0:
            raise ValueError(f"max_n_fraction must be between 0 and 1, got {self.max_n_fraction}")
        if self.alphabet == "protein" and (self.regions or self.val_regions):
            raise ValueError("regions and val_regions apply to DNA genomes, not protein corpora")
        if self.concat and self.alphabet != "protein":
            raise ValueError("concat (--concat) joins protein records into windows; it does not apply to "
                             "DNA corpora (pass --alphabet protein)")


def _positive_int(name: str, value: object, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")

