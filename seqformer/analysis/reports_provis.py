"""Files of ``seqformer attention blosum --mode provis``: a seeded sample of a FASTA file, provis's statistic.

Axes: S records, N layers, H heads, K = N·H heads, A = 20 amino acids.
Like :mod:`seqformer.analysis.reports`, everything is computed before the first file is written and
every file is written atomically, so bad input (:class:`InputError`) leaves no outputs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from torch import nn

from seqformer.analysis.reports import write_json
from seqformer.analysis.substitution import AA_GROUPS, DEFAULT_MATRIX, DEFAULT_MIN_HEADS, enrichment
from seqformer.analysis.substitution_provis import (PROVIS_MIN_HEAD_EDGES, PROVIS_NUM_SEQUENCES, PROVIS_THRESHOLD,
                                                    ProvisBlosum, provis_blosum, sample_indices)
from seqformer.data.corpus import check_letters
from seqformer.figures.style import save_figure
from seqformer.figures.substitution import plot_head_enrichment, plot_substitution_comparison
from seqformer.io.atomic import atomic_open
from seqformer.io.fasta import read_fasta
from seqformer.models.encoder import encoder_of


def sample_fasta(fasta: str | Path, num_sequences: int, seed: int = 0) -> tuple[pd.DataFrame, list[str], int]:
    """provis's sample of a protein FASTA's records: (table ``record, id, residues`` in draw order, sequences, S).

    Two passes over the file (count, then keep the drawn records), so only the sample is held in
    memory; ``record`` is the 0-based position in the file (:func:`sample_indices` over S records).
    """
    total = 0
    for record in read_fasta(fasta, alphabet="protein"):
        if not total:
            check_letters(record.seq, "protein", str(fasta))
        total += 1
    drawn = sample_indices(total, num_sequences, seed)
    wanted = {int(index): rank for rank, index in enumerate(drawn)}
    picked: list[tuple[str, str] | None] = [None] * len(drawn)
    for number, record in enumerate(read_fasta(fasta, alphabet="protein")):
        if number in wanted:
            picked[wanted[number]] = (record.id, record.seq)
    table = pd.DataFrame({"record": drawn.astype(int), "id": [name for name, _ in picked],
                          "residues": [len(seq) for _, seq in picked]})
    return table, [seq for _, seq in picked], total


def provis_report(model: nn.Module, fasta: str | Path, out: str | Path, *, matrix: str = DEFAULT_MATRIX,
                  num_sequences: int = PROVIS_NUM_SEQUENCES, seed: int = 0, threshold: float = PROVIS_THRESHOLD,
                  min_head_edges: int = PROVIS_MIN_HEAD_EDGES, min_heads: int = DEFAULT_MIN_HEADS,
                  max_length: int | None = None, batch_size: int = 8,
                  model_name: str = "the model") -> tuple[ProvisBlosum, dict]:
    """Run :func:`~seqformer.analysis.substitution_provis.provis_blosum` on a sample of a FASTA file; write the report.

    Writes into ``out``: ``summary.json``, ``attention_correlations.csv`` and ``substitution_matrix.csv``
    (20 x 20), ``heads.csv`` (every head: its edges, kept or not, its 20 shares of edges),
    ``top_heads.csv`` (per amino acid, the kept head attending to it most), ``background.csv``,
    ``sample.csv`` (the sampled records: file position, id, residues before cutting),
    ``comparison.png``/``.svg`` (the model's pair correlations beside the matrix, one z-score scale)
    and ``head_enrichment.png``/``.svg``. Returns (result, summary).
    """
    sample, seqs, total = sample_fasta(fasta, num_sequences, seed)
    result = provis_blosum(model, seqs, threshold=threshold, num_sequences=None, matrix=matrix, max_length=max_length,
                           min_head_edges=min_head_edges, min_heads=min_heads, batch_size=batch_size,
                           source=str(fasta))
    label = f"model (provis), {len(seqs):,} sampled sequences"
    figures = {"comparison": plot_substitution_comparison({label: result.comparison}, result.matrix,
                                                          matrix_name=matrix, groups=AA_GROUPS),
               "head_enrichment": plot_head_enrichment(
                   enrichment(result.comparison.shares, result.background), result.background, groups=AA_GROUPS,
                   title=f"{model_name} on {len(seqs):,} records sampled from {Path(fasta).name}: edges "
                         f"(α > {threshold:g}) into each amino acid over the background")}
    tables = {"attention_correlations.csv": (result.comparison.correlations, True),
              "substitution_matrix.csv": (result.matrix, True), "heads.csv": (result.heads(), False),
              "top_heads.csv": (result.top_heads(), True), "background.csv": (result.background.to_frame(), True),
              "sample.csv": (sample, False)}
    out = Path(out)
    files = [out / name for name in tables]
    files += [out / f"{stem}{suffix}" for stem in figures for suffix in (".png", ".svg")]
    files.append(out / "summary.json")
    summary = {**result.summary(), "num_sequences": num_sequences, "sampled_from": total, "seed": seed,
               "fasta": str(fasta),
               "attention": encoder_of(model).config.attention, "background": result.background.round(6).to_dict(),
               "amino_acid_groups": {group: letters for group, letters in AA_GROUPS},
               "files": [f.name for f in files]}
    out.mkdir(parents=True, exist_ok=True)
    for name, (table, index) in tables.items():
        with atomic_open(out / name) as handle:
            table.to_csv(handle, index=index, float_format="%.6g")
    for stem, figure in figures.items():
        save_figure(figure, out / f"{stem}.png")
    write_json(summary, out / "summary.json")
    return result, summary
