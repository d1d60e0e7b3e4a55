"""Known motifs (JASPAR, through pyjaspar) and Tomtom matches of discovered motifs against them.

Axes: Q query motifs, T target (database) motifs, w positions of a motif, 4 bases (A C G T).

:func:`jaspar_motifs` reads a JASPAR release from the SQLite database pyjaspar ships (no network):
the latest version of each matrix of a collection, optionally of one taxonomic group, as PPMs
(counts over their column total). :func:`match_motifs` compares query PPMs with them by Tomtom
(Gupta et al. 2007) as memelite implements it:

- what is compared: query PPM against target PPM, column by column, over every offset at which they
  overlap and against both the target and its reverse complement (the better strand is kept and its
  p-value corrected for the two tries: ``1 - (1 - p)^2``);
- the column score: minus the Euclidean distance between the two columns' base frequencies, less
  that query column's median score against every database column; an alignment's score sums its
  query columns, those overhanging the target scoring 0, the median (Tomtom's "complete" score);
- the null (background): each query column's scores against *every column of the database*, so the
  p-values depend on the database given (memelite warns below 25 targets); no nucleotide
  background enters;
- ``p_value``: the chance that a random database alignment of the same span scores as well;
  ``e_value`` = p × T; ``q_value``: Benjamini-Hochberg over the T targets of the query.

``offset`` and ``orientation`` place the query on the target: query column ``i`` faces target
column ``i + offset`` of the target as stored (``orientation`` ``+``) or of its reverse complement
(``-``); a negative offset means the query starts before the target.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from seqformer.errors import InputError

BASES = "ACGT"
DEFAULT_COLLECTION = "CORE"
TAX_GROUPS = ("vertebrates", "insects", "plants", "nematodes", "fungi", "urochordates", "trematodes", "diatoms")
MATCH_COLUMNS = ["query", "rank", "target_id", "target_name", "p_value", "e_value", "q_value", "offset", "overlap",
                 "orientation"]


@dataclass(frozen=True)
class MotifDatabase:
    """Known motifs as PPMs: one JASPAR release, collection and taxonomic group (or any set of PPMs)."""

    release: str  # e.g. "JASPAR2026"
    collection: str  # e.g. "CORE"
    tax_group: str | None  # "vertebrates", "insects", ...; None: every group
    ids: tuple[str, ...]  # matrix ids with version, e.g. "MA0139.2"
    names: tuple[str, ...]  # transcription-factor names, e.g. "CTCF"
    ppms: tuple[np.ndarray, ...]  # (w, 4) each, A C G T, rows summing to 1 (read-only)
    sites: tuple[float, ...]  # each matrix's count total per column (the sites it was built from)

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, motif_id: str) -> int:
        """The position of ``motif_id`` (with version, "MA0139.2", or without, "MA0139")."""
        for i, known in enumerate(self.ids):
            if known == motif_id or known.split(".")[0] == motif_id:
                return i
        raise KeyError(motif_id)

    def ppm(self, motif_id: str) -> np.ndarray:
        """The (w, 4) PPM of ``motif_id``."""
        return self.ppms[self.index(motif_id)]

    def subset(self, motif_ids) -> MotifDatabase:
        """The database of only ``motif_ids``, in their order."""
        keep = [self.index(motif_id) for motif_id in motif_ids]
        return MotifDatabase(self.release, self.collection, self.tax_group, tuple(self.ids[i] for i in keep),
                             tuple(self.names[i] for i in keep), tuple(self.ppms[i] for i in keep),
                             tuple(self.sites[i] for i in keep))

    def describe(self) -> str:
        """E.g. ``"JASPAR2026 CORE vertebrates (1,019 motifs)"``."""
        return f"{self.release} {self.collection} {self.tax_group or 'all groups'} ({len(self):,} motifs)"


def jaspar_releases() -> list[str]:
    """The JASPAR releases pyjaspar ships, newest first."""
    from pyjaspar import jaspar_releases as releases

    return sorted(releases, reverse=True)


def jaspar_motifs(collection: str = DEFAULT_COLLECTION, tax_group: str | None = None,
                  release: str | None = None) -> MotifDatabase:
    """The latest version of every JASPAR matrix of ``collection`` (and ``tax_group``), offline.

    Args:
        collection: JASPAR collection ("CORE", "UNVALIDATED", ...).
        tax_group: one of :data:`TAX_GROUPS`, or None for every group.
        release: e.g. "JASPAR2024"; None: the newest pyjaspar ships.

    Returns:
        The motifs in JASPAR's order (cached: a second call with the same arguments reads nothing).

    Raises:
        InputError: an unknown release, or no matrix matching the selection.
    """
    releases = jaspar_releases()
    release = release or releases[0]
    if release not in releases:
        raise InputError(f"unknown JASPAR release {release!r} (pyjaspar ships {', '.join(releases)})")
    if tax_group is not None and tax_group not in TAX_GROUPS:
        raise InputError(f"unknown JASPAR taxonomic group {tax_group!r} (one of {', '.join(TAX_GROUPS)})")
    return _read_jaspar(release, collection, tax_group)


@functools.lru_cache(maxsize=8)
def _read_jaspar(release: str, collection: str, tax_group: str | None) -> MotifDatabase:
    """:func:`jaspar_motifs` after its checks, cached on the normalised arguments."""
    from pyjaspar import jaspardb

    found = jaspardb(release=release).fetch_motifs(collection=collection, tax_group=tax_group)
    if not found:
        raise InputError(f"no {release} matrices in collection {collection!r}"
                         + (f" for {tax_group}" if tax_group else ""))
    ids, names, ppms, sites = [], [], [], []
    for motif in found:
        counts = np.array([motif.counts[base] for base in BASES], dtype=float).T  # (w, 4)
        total = counts.sum(axis=1, keepdims=True)
        ppm = counts / np.where(total > 0, total, 1.0)
        ppm[total[:, 0] == 0] = 0.25
        ppm.setflags(write=False)
        ids.append(motif.matrix_id)
        names.append(motif.name)
        ppms.append(ppm)
        sites.append(float(total.max()))
    return MotifDatabase(release, collection, tax_group, tuple(ids), tuple(names), tuple(ppms), tuple(sites))


def _check_ppm(name: str, ppm) -> np.ndarray:
    """A query PPM as a (4, w) float64 array for memelite (rows of ``ppm`` are positions)."""
    ppm = np.asarray(ppm, dtype=np.float64)
    if ppm.ndim != 2 or ppm.shape[1] != 4 or len(ppm) == 0:
        raise InputError(f"motif {name!r}: a PPM must be (w, 4) with w >= 1, got shape {ppm.shape}")
    if not np.isfinite(ppm).all() or (ppm < 0).any() or not (ppm.sum(axis=1) > 0).all():
        raise InputError(f"motif {name!r}: a PPM needs finite, non-negative rows with a positive sum")
    return np.ascontiguousarray(ppm.T)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of the last axis of ``p_values`` (scipy's ``false_discovery_control``)."""
    from scipy.stats import false_discovery_control

    p_values = np.asarray(p_values, dtype=float)
    if p_values.shape[-1] == 0:
        return p_values.copy()
    return false_discovery_control(np.clip(p_values, 0.0, 1.0), axis=-1, method="bh")


def match_motifs(query_ppms: Mapping[str, np.ndarray], jaspar: MotifDatabase, *, top: int = 5) -> pd.DataFrame:
    """Tomtom matches of each query PPM against the database (module docstring for what is compared).

    Args:
        query_ppms: name -> (w, 4) PPM (A C G T), e.g. ``{m.name: m.ppm for m in motifs}``.
        jaspar: the targets (:func:`jaspar_motifs`).
        top: the best this many targets per query, by p-value.

    Returns:
        :data:`MATCH_COLUMNS`: per query (in the given order) its ``top`` matches, ``rank`` 1 the best
        (smallest p-value; ties in database order).
    """
    if top < 1:
        raise InputError(f"top must be at least 1, got {top}")
    if len(jaspar) == 0:
        raise InputError("the motif database is empty")
    names = list(query_ppms)
    if not names:
        return pd.DataFrame({column: [] for column in MATCH_COLUMNS})
    queries = [_check_ppm(name, query_ppms[name]) for name in names]
    targets = [np.ascontiguousarray(np.asarray(ppm, dtype=np.float64).T) for ppm in jaspar.ppms]
    from memelite import tomtom

    p_values, _scores, offsets, overlaps, strands = tomtom(queries, targets)  # each (Q, T)
    q_values = benjamini_hochberg(p_values)
    rows = []
    for qi, name in enumerate(names):
        order = np.argsort(p_values[qi], kind="stable")[:top]
        for rank, ti in enumerate(order, start=1):
            rows.append({"query": name, "rank": rank, "target_id": jaspar.ids[ti], "target_name": jaspar.names[ti],
                         "p_value": float(p_values[qi, ti]), "e_value": float(p_values[qi, ti]) * len(jaspar),
                         "q_value": float(q_values[qi, ti]), "offset": int(offsets[qi, ti]),
                         "overlap": int(overlaps[qi, ti]), "orientation": "-" if strands[qi, ti] else "+"})
    return pd.DataFrame(rows, columns=MATCH_COLUMNS)


def oriented_ppm(jaspar: MotifDatabase, motif_id: str, orientation: str) -> np.ndarray:
    """The (w, 4) PPM of ``motif_id`` as it was matched: as stored (``+``) or reverse-complemented (``-``)."""
    ppm = jaspar.ppm(motif_id)
    return ppm[::-1, ::-1].copy() if orientation == "-" else ppm.copy()
