"""Files of ``seqformer attention blosum``, and the writers the attention reports share.

Axes: N layers, H heads, L tokens, n letters, A = 20 amino acids.
Everything is computed before the first file is written, and every file is written to a
temporary name and renamed, so a failure (bad input raises :class:`InputError`) leaves no outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from seqformer.analysis.attention import check_extractable
from seqformer.analysis.long_attention import max_tokens
from seqformer.analysis.substitution import (AA_GROUPS, DEFAULT_BOOTSTRAP, DEFAULT_MATRIX,
                                             DEFAULT_MIN_HEAD_WEIGHT, DEFAULT_MIN_HEADS, DEFAULT_THRESHOLD,
                                             SubstitutionAnalysis, substitution_analysis)
from seqformer.data.corpus import check_letters
from seqformer.errors import InputError
from seqformer.figures.style import save_figure
from seqformer.figures.substitution import plot_head_enrichment, plot_substitution_comparison
from seqformer.io.atomic import atomic_open
from seqformer.io.fasta import read_fasta
from seqformer.models.encoder import encoder_of

def read_proteins(fasta: str | Path, *, max_seqs: int | None, max_residues: int) -> tuple[list[str], int]:
    """The first ``max_seqs`` records of a protein FASTA, each cut to its first ``max_residues``; (seqs, cut)."""
    seqs, cut = [], 0
    for record in read_fasta(fasta, alphabet="protein"):
        if not seqs:
            check_letters(record.seq, "protein", str(fasta))
        if max_seqs is not None and len(seqs) >= max_seqs:
            break
        cut += len(record.seq) > max_residues
        seqs.append(record.seq[:max_residues])
    return seqs, cut


def write_json(data: dict, path: Path) -> None:
    """``data`` as indented JSON, atomically."""
    with atomic_open(path) as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")


def blosum_report(model: nn.Module, fasta: str | Path, out: str | Path, *, matrix: str = DEFAULT_MATRIX,
                  max_seqs: int | None = 500, threshold: float = DEFAULT_THRESHOLD,
                  min_head_weight: float = DEFAULT_MIN_HEAD_WEIGHT, max_length: int | None = None,
                  control_seed: int = 0, batch_size: int = 8, min_heads: int = DEFAULT_MIN_HEADS,
                  bootstrap: int = DEFAULT_BOOTSTRAP, model_name: str = "the model") -> tuple[SubstitutionAnalysis, dict]:
    """Run :func:`~seqformer.analysis.substitution.substitution_analysis` on a FASTA file; write the report.

    Records are read in file order up to ``max_seqs`` and cut to their first ``max_length - 2``
    residues (default: the model's ``max_length``; Vig et al. cut at 512 tokens; inputs above the dense
    extraction limit are summed a chunk of query rows at a time). Writes into ``out``:
    ``summary.json``, ``attention_correlations.csv``, ``control_correlations.csv``,
    ``substitution_matrix.csv`` (the 20 x 20 matrices), ``head_shares.csv`` and ``head_enrichment.csv``
    (kept heads x 20: shares, and their log2 enrichment over ``background.csv``),
    ``comparison.png``/``.svg`` (the model at θ and at θ = 0, the control at θ = 0, the matrix, on one
    z-score scale in physicochemical order) and ``head_enrichment.png``/``.svg``. Returns (analysis, summary).
    """
    check_extractable(model)
    limit = max_tokens(model)
    if max_length is None:
        max_length = limit
    if not 3 <= max_length <= limit:
        raise InputError(f"--max-length must be from 3 to the model's attention-extraction limit {limit:,}, "
                         f"got {max_length:,}")
    seqs, cut = read_proteins(fasta, max_seqs=max_seqs, max_residues=max_length - 2)
    analysis = substitution_analysis(model, seqs, matrix=matrix, threshold=threshold,
                                     min_head_weight=min_head_weight, control_seed=control_seed,
                                     batch_size=batch_size, source=fasta, min_heads=min_heads, bootstrap=bootstrap)
    name = model_name
    figures = {"comparison": plot_substitution_comparison(analysis.panels(), analysis.matrix, matrix_name=matrix,
                                                          groups=AA_GROUPS),
               "head_enrichment": plot_head_enrichment(analysis.enrichment(), analysis.background, groups=AA_GROUPS,
                                                       title=f"{name} on {Path(fasta).name}: attention landing on "
                                                             f"each amino acid over the background (θ = {threshold:g})")}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = {"attention_correlations.csv": analysis.learned.correlations,
              "control_correlations.csv": analysis.control.correlations,
              "substitution_matrix.csv": analysis.matrix, "head_shares.csv": analysis.learned.shares,
              "head_enrichment.csv": analysis.enrichment(), "background.csv": analysis.background.to_frame()}
    files = [out / name for name in tables] + [out / f"{stem}{suffix}" for stem in figures for suffix in (".png", ".svg")]
    files.append(out / "summary.json")
    summary = {**analysis.summary(), "background": analysis.background.round(6).to_dict(), "fasta": str(fasta),
               "max_length": max_length, "cropped": cut, "attention": encoder_of(model).config.attention,
               "amino_acid_groups": {group: letters for group, letters in AA_GROUPS},
               "files": [f.name for f in files]}
    for table_name, table in tables.items():
        with atomic_open(out / table_name) as handle:
            table.to_csv(handle, float_format="%.6g")
    for stem, figure in figures.items():
        save_figure(figure, out / f"{stem}.png")
    write_json(summary, out / "summary.json")
    return analysis, summary
