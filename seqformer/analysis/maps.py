"""``seqformer attention maps``: the attention of chosen sequences as arrays, figures and head statistics.

Axes: N layers, H heads, L tokens, n letters.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

from seqformer.analysis.attention import (AttentionMaps, check_extractable, extraction_limit,
                                          head_statistics, sequence_attention)
from seqformer.analysis.reports import write_json
from seqformer.data.corpus import check_letters
from seqformer.errors import InputError
from seqformer.figures.attention import plot_heads
from seqformer.figures.style import save_figure
from seqformer.io.atomic import atomic_open, atomic_path
from seqformer.io.fasta import read_fasta
from seqformer.models.encoder import encoder_of


def safe_name(name: str) -> str:
    """A file-name stem for a record id or region (``chr20:1-300`` → ``chr20_1-300``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "sequence"


class Selection(list):
    """The (name, sequence) pairs :func:`select_sequences` picked (a list of them), and what it left out.

    Attributes:
        skipped: (name, tokens) of each record read but left out as longer than ``limit`` tokens.
        limit: the model's attention-extraction limit (tokens, specials included).
        tss: 0-based offset of the TSS in the (one) region's sequence, or None.
    """

    def __init__(self, pairs=(), *, skipped=(), limit: int = 0, tss: int | None = None) -> None:
        super().__init__(pairs)
        self.skipped: list[tuple[str, int]] = list(skipped)
        self.limit = limit
        self.tss = tss


def select_sequences(model: nn.Module, *, fasta: str | Path | None = None, record: str | None = None,
                     genome: str | Path | None = None, region: str | None = None, max_seqs: int = 10,
                     tss: int | None = None) -> Selection:
    """(name, sequence) pairs: a genome region (DNA models), or FASTA records (``record``, else the first ``max_seqs``).

    FASTA records longer than the model's attention-extraction limit are skipped (listed in
    ``Selection.skipped``) and reading goes on until ``max_seqs`` fit; when none fits (or the one
    record or region asked for is too long) it is an :class:`InputError`. ``tss`` is a 1-based
    position on the region's contig (with ``region`` only).
    """
    from seqformer.io import Genome

    if (genome is None) != (region is None) or (genome is None) == (fasta is None):
        raise InputError("give either --genome with --region, or --fasta (with --record to pick one)")
    if tss is not None and region is None:
        raise InputError("--tss is a position on the --region's contig; it needs --genome and --region")
    alphabet = "dna" if model.tokenizer.type_name == "kmer" else "protein"
    limit = extraction_limit(model)
    if fasta is None:
        if alphabet != "dna":
            raise InputError("--genome/--region needs a DNA (k-mer) model; this one reads proteins")
        with Genome(genome) as ref:
            target = ref.region(region)
            if tss is not None and not target.start < tss <= target.end:
                raise InputError(f"--tss {tss:,} is outside the region {target}")
            seq = ref.fetch_region(target)
        check_extractable(model, model.tokenizer.num_tokens(seq), record=str(target))
        return Selection([(str(target), seq)], limit=limit, tss=None if tss is None else tss - 1 - target.start)
    chosen, skipped, first = [], [], True
    for entry in read_fasta(fasta, alphabet=alphabet):
        if first and record is None:
            check_letters(entry.seq, alphabet, str(fasta))
        first = False
        if record is not None and entry.id != record:
            continue
        tokens = model.tokenizer.num_tokens(entry.seq)
        if record is not None:
            check_extractable(model, tokens, record=record)
        if tokens > limit:
            skipped.append((entry.id, tokens))
        else:
            chosen.append((entry.id, entry.seq))
        if len(chosen) == (1 if record is not None else max_seqs):
            break
    if record is not None and not chosen:
        raise InputError(f"no record {record!r}", path=fasta)
    if not chosen:
        shortest = min(tokens for _, tokens in skipped)
        raise InputError(f"all {len(skipped):,} records are longer than the attention-extraction limit of "
                         f"{limit:,} tokens (the shortest has {shortest:,}); use shorter sequences", path=fasta)
    return Selection(chosen, skipped=skipped, limit=limit)


def maps_report(model: nn.Module, sequences: list[tuple[str, str]], out: str | Path, *,
                skipped: list[tuple[str, int]] = (), tss: int | None = None, model_name: str | None = None,
                shared_scale: bool = False) -> tuple[list[Path], dict]:
    """Attention maps of each (name, sequence) into ``out``; returns (the files written, the summary).

    Per sequence ``NAME.npz`` (``tokens`` (N, H, L, L), ``letters`` (N, H, n, n), ``spans`` (L, 2),
    ``token_labels`` (L,), ``seq``) and ``NAME.layerI.png`` + ``.svg`` (every head of layer I over
    letters, :func:`~seqformer.figures.attention.plot_heads`); for all of them ``heads.tsv``
    (:func:`~seqformer.analysis.attention.head_statistics`, with a ``sequence`` column) and
    ``summary.json`` (model, attention kind, extraction limit, the sequences, the records ``skipped``
    as too long, the figures' scale and TSS, the files).

    Args:
        skipped: (name, tokens) of records left out as too long, for summary.json.
        tss: 0-based offset of a TSS in the (one) sequence: the figures count bp from it.
        model_name: the model's name for the figures' titles.
        shared_scale: one colour scale for all heads of a figure (default: one per head).
    """
    if not sequences:
        raise InputError("no sequence to extract attention from")
    names = [safe_name(name) for name, _ in sequences]
    if len(set(names)) != len(names):
        raise InputError(f"two sequences share a file name: {sorted({n for n in names if names.count(n) > 1})}")
    if tss is not None and len(sequences) != 1:
        raise InputError("a TSS belongs to one sequence; give one region")
    maps = [sequence_attention(model, seq, name, tss=tss) for name, seq in sequences]  # every error before any file
    figures = [[plot_heads(one, layer, model=model_name, shared_scale=shared_scale) for layer in range(one.num_layers)]
               for one in maps]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for stem, one, drawn in zip(names, maps, figures):
        files.append(_write_npz(one, out / f"{stem}.npz"))
        for layer, fig in enumerate(drawn):
            files += save_figure(fig, out / f"{stem}.layer{layer}.png")
    table = pd.concat([head_statistics(one).assign(sequence=one.name) for one in maps], ignore_index=True)
    files.append(out / "heads.tsv")
    with atomic_open(files[-1]) as handle:
        table.to_csv(handle, sep="\t", index=False, float_format="%.6g")
    files.append(out / "summary.json")
    summary = {"model": model_name, "attention": encoder_of(model).config.attention,
               "limit_tokens": extraction_limit(model),
               "sequences": [{"name": one.name, "file": stem, "letters": len(one.seq), "tokens": len(one.tokens)}
                             for stem, one in zip(names, maps)],
               "skipped": len(skipped), "skipped_too_long": [{"name": name, "tokens": tokens}
                                                              for name, tokens in skipped],
               "scale": "shared by the heads of a layer" if shared_scale else "per head",
               "tss_offset": tss, "files": [path.name for path in files]}
    write_json(summary, files[-1])
    return files, summary


def _write_npz(maps: AttentionMaps, path: Path) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, tokens=maps.probs, letters=maps.letters(), spans=maps.spans,
                                token_labels=np.array(maps.tokens), seq=np.array(maps.seq))
    return path


def write_attention_maps(model: nn.Module, out: str | Path, *, model_name: str | None = None,
                         shared_scale: bool = False, **source) -> tuple[list[Path], dict]:
    """:func:`maps_report` of the sequences :func:`select_sequences` picks from ``source``; (files, summary)."""
    check_extractable(model)  # a kind without maps is the first thing said
    picked = select_sequences(model, **source)
    return maps_report(model, picked, out, skipped=picked.skipped, tss=picked.tss, model_name=model_name,
                       shared_scale=shared_scale)
