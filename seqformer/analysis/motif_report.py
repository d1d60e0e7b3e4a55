"""Files of ``seqformer motifs discover``: discovered motifs, their JASPAR matches, logos and a page.

Axes: M motifs, w positions of a motif, 4 bases (A C G T).

:func:`write_motif_report` writes into one folder:

- ``motifs.tsv``: one row per motif (name, sign, seqlets, width, consensus, best match id, name,
  p, q, offset, orientation; the match columns empty when there is none);
- ``matches.tsv``: the top Tomtom matches of each motif (:data:`~.motif_db.MATCH_COLUMNS`);
- ``motifs.meme``: the motifs' PPMs in MEME's minimal motif format (version 4), ``nsites`` their
  seqlet counts, for MEME-suite tools (Tomtom, FIMO, SEA);
- ``NAME.png`` / ``NAME.svg`` per motif: its CWM logo above the best match's information logo,
  aligned by the match's offset and orientation (:func:`~seqformer.figures.motifs.plot_motif`);
- ``report.html``: a static page with the table and the logos (the PNGs beside it).

Everything is computed, figures included, before the first file is written, and each file is
written to a temporary name and renamed. :func:`motif_report` is the whole verb: attributions file
in, folder out.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from seqformer.analysis.motif_db import (DEFAULT_COLLECTION, MotifDatabase, jaspar_motifs, match_motifs,
                                         oriented_ppm)
from seqformer.analysis.motifs import BASES, Motif, check_attribution_arrays, discover_motifs, load_attributions
from seqformer.errors import InputError
from seqformer.figures.motifs import plot_motif
from seqformer.figures.style import save_figure
from seqformer.io.atomic import atomic_open

MOTIF_COLUMNS = ["name", "sign", "n_seqlets", "width", "consensus", "best_match_id", "best_match_name",
                 "best_match_p", "best_match_q", "best_match_offset", "best_match_orientation"]
UNIFORM = (0.25, 0.25, 0.25, 0.25)
_NBSP = "\u00a0"  # keeps "p = 1e-10" on one line when a title wraps


def motif_table(motifs: Sequence[Motif], matches: pd.DataFrame) -> pd.DataFrame:
    """:data:`MOTIF_COLUMNS`: one row per motif, with its rank-1 match (empty when it has none)."""
    best = matches[matches["rank"] == 1].set_index("query") if len(matches) else None
    rows = []
    for motif in motifs:
        row = {"name": motif.name, "sign": "+" if motif.sign > 0 else "-", "n_seqlets": motif.n_seqlets,
               "width": motif.width, "consensus": motif.consensus}
        if best is not None and motif.name in best.index:
            match = best.loc[motif.name]
            row |= {"best_match_id": match["target_id"], "best_match_name": match["target_name"],
                    "best_match_p": match["p_value"], "best_match_q": match["q_value"],
                    "best_match_offset": int(match["offset"]), "best_match_orientation": match["orientation"]}
        rows.append(row)
    table = pd.DataFrame(rows, columns=MOTIF_COLUMNS)
    return table.astype({"best_match_offset": "Int64"})


def meme_text(motifs: Sequence[Motif], background: Sequence[float] = UNIFORM) -> str:
    """The motifs' PPMs in MEME minimal motif format (version 4), ``background`` A C G T frequencies."""
    lines = ["MEME version 4", "", f"ALPHABET= {BASES}", "", "strands: + -", "", "Background letter frequencies",
             " ".join(f"{base} {freq:.4f}" for base, freq in zip(BASES, background)), ""]
    for motif in motifs:
        lines += [f"MOTIF {motif.name} {motif.consensus}",
                  f"letter-probability matrix: alength= 4 w= {motif.width} nsites= {motif.n_seqlets} E= 0"]
        lines += [" ".join(f"{value:.6f}" for value in row) for row in motif.ppm]
        lines.append("")
    return "\n".join(lines)


def _format_p(value) -> str:
    return "" if pd.isna(value) else f"{value:.2g}"


def motif_figure(motif: Motif, matches: pd.DataFrame, jaspar: MotifDatabase | None, cwm_label: str = "contribution"):
    """:func:`~seqformer.figures.motifs.plot_motif` of ``motif`` and its rank-1 match in ``jaspar`` (if any)."""
    title = f"{motif.name}: CWM of {motif.n_seqlets:,} seqlets ({'positive' if motif.sign > 0 else 'negative'})"
    mine = matches[(matches["query"] == motif.name) & (matches["rank"] == 1)] if len(matches) else matches
    if jaspar is None or len(mine) == 0:
        return plot_motif(motif.cwm, title=title, cwm_label=cwm_label)
    match = mine.iloc[0]
    strand = "reverse complement" if match["orientation"] == "-" else "forward"
    return plot_motif(motif.cwm, title=title, cwm_label=cwm_label,
                      match_ppm=oriented_ppm(jaspar, match["target_id"], match["orientation"]),
                      match_offset=int(match["offset"]),
                      match_title=f"best {jaspar.release} match: {match['target_id']} {match['target_name']} "
                                  f"({strand}), p{_NBSP}={_NBSP}{_format_p(match['p_value'])}, "
                                  f"q{_NBSP}={_NBSP}{_format_p(match['q_value'])}")


def report_html(table: pd.DataFrame, *, title: str, notes: Sequence[str] = ()) -> str:
    """A static page: ``title``, ``notes`` (one paragraph each) and ``table`` with each motif's PNG logo."""
    head = ["motif", "sign", "seqlets", "width", "consensus", "best match", "p", "q", "logo"]
    rows = []
    for _, row in table.iterrows():
        match = "" if pd.isna(row["best_match_id"]) else f"{row['best_match_id']} {row['best_match_name']} " \
                                                         f"({row['best_match_orientation']})"
        cells = [row["name"], row["sign"], f"{row['n_seqlets']:,}", str(row["width"]), row["consensus"], match,
                 _format_p(row["best_match_p"]), _format_p(row["best_match_q"])]
        logo = html.escape(f"{row['name']}.png", quote=True)
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in cells)
                    + f'<td><img src="{logo}" alt="logo of {html.escape(row["name"])}" width="480"></td></tr>')
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:middle}</style>",
        "</head>", "<body>", f"<h1>{html.escape(title)}</h1>",
        *(f"<p>{html.escape(note)}</p>" for note in notes),
        "<table>", "<tr>" + "".join(f"<th>{name}</th>" for name in head) + "</tr>", *rows, "</table>",
        '<p>Files: <a href="motifs.tsv">motifs.tsv</a>, <a href="matches.tsv">matches.tsv</a>, '
        '<a href="motifs.meme">motifs.meme</a>.</p>', "</body>", "</html>", ""])


def write_motif_report(motifs: Sequence[Motif], matches: pd.DataFrame, out_dir: str | os.PathLike, *,
                       jaspar: MotifDatabase | None = None, background: Sequence[float] = UNIFORM,
                       title: str = "Motifs from attributions", notes: Sequence[str] = (),
                       cwm_label: str = "contribution") -> list[Path]:
    """Write the report folder (module docstring); returns the files written.

    Args:
        motifs: the discovered motifs (:func:`~seqformer.analysis.motifs.discover_motifs`).
        matches: their matches (:func:`~seqformer.analysis.motif_db.match_motifs`).
        out_dir: the folder (made if missing; files of the same names are replaced).
        jaspar: the database matched against, for the best match's logo (None: CWM logos alone).
        background: A C G T frequencies for the MEME file's background line.
        title, notes: the HTML page's heading and paragraphs under it.
        cwm_label: the CWM logos' y label.
    """
    names = [motif.name for motif in motifs]
    if len(set(names)) != len(names):
        raise InputError("motif names must be unique (they name the logo files)")
    table = motif_table(motifs, matches)
    texts = {"motifs.meme": meme_text(motifs, background),
             "report.html": report_html(table, title=title, notes=notes)}
    figures = {motif.name: motif_figure(motif, matches, jaspar, cwm_label) for motif in motifs}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in (("motifs.tsv", table), ("matches.tsv", matches)):
        with atomic_open(out / name) as handle:
            frame.to_csv(handle, sep="\t", index=False, float_format="%.6g")
        written.append(out / name)
    for name, fig in figures.items():
        written += save_figure(fig, out / f"{name}.png")
    for name, text in texts.items():
        with atomic_open(out / name) as handle:
            handle.write(text)
        written.append(out / name)
    return written


def motif_report(attributions: str | os.PathLike, out_dir: str | os.PathLike, *, tax_group: str | None = "vertebrates",
                 release: str | None = None, top: int = 5, max_seqlets: int = 20_000, window: int = 21,
                 flank: int = 10, min_seqlets: int = 100, leiden_runs: int = 50,
                 log: Callable[[str], None] | None = None) -> tuple[list[Motif], pd.DataFrame, list[Path]]:
    """``seqformer motifs discover``: motifs of an attributions file, matched to JASPAR, as a report folder.

    Args:
        attributions: ``attributions.npz`` or the folder holding it (:func:`~.motifs.load_attributions`).
        out_dir: the report folder (:func:`write_motif_report`).
        tax_group: JASPAR CORE taxonomic group to match against; None: every group.
        release: JASPAR release (None: the newest pyjaspar ships).
        top: matches kept per motif.
        max_seqlets, window, flank, min_seqlets, leiden_runs: see :func:`~.motifs.discover_motifs`.
        log: called with a line before each step (None: silent).

    Returns:
        (motifs, matches, files written).

    Raises:
        InputError: a bad attributions file, or no motifs found (nothing is written then).
    """
    say = log or (lambda line: None)
    data = load_attributions(attributions)
    jaspar = jaspar_motifs(DEFAULT_COLLECTION, tax_group, release)
    check_attribution_arrays(data.onehot, data.hypothetical, window=window, flank=flank)  # before any log line
    count, length = data.onehot.shape[:2]
    say(f"discovering motifs in {count:,} sequences of {length:,} bp ({data.method} attributions of {data.target})")
    motifs = discover_motifs(data.onehot, data.hypothetical, max_seqlets=max_seqlets, window=window, flank=flank,
                             min_seqlets=min_seqlets, leiden_runs=leiden_runs)
    if not motifs:
        raise InputError(f"no motifs found: no metacluster had more than {min_seqlets} seqlets, or their clusters "
                         f"made no pattern of 20 or more (give more sequences, or lower --min-seqlets)",
                         path=data.source)
    say(f"matching {len(motifs)} motifs against {jaspar.describe()}")
    matches = match_motifs({motif.name: motif.ppm for motif in motifs}, jaspar, top=top)
    frequencies = data.onehot.sum(axis=(0, 1))
    background = tuple(frequencies / frequencies.sum()) if frequencies.sum() > 0 else UNIFORM
    notes = [f"Attributions: {data.source} ({data.method} of {data.target}; {count:,} sequences of {length:,} bp).",
             f"Motifs: TF-MoDISco (modisco-lite) patterns, trimmed to positions with at least 0.3 of the largest "
             f"total |CWM|. Matches: Tomtom (memelite) of each motif's PPM against {jaspar.describe()}, "
             f"p-values against the database's columns, q-values Benjamini-Hochberg over its motifs."]
    files = write_motif_report(motifs, matches, out_dir, jaspar=jaspar, background=background,
                               title=f"Motifs of {data.target} ({data.method})", notes=notes)
    return motifs, matches, files
