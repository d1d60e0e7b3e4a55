"""Dinucleotide-preserving shuffles of DNA: background sequences with a positive's composition.

Axes: none (strings). :func:`dinucleotide_shuffle` draws a sequence with exactly the same count of
every ordered pair of adjacent letters (and so the same letter counts, first letter and last
letter) as its input, uniformly among all such sequences: the Altschul–Erickson (1985) method
through random Eulerian walks (Kandel et al. 1996), as MEME's ``fasta-dinucleotide-shuffle`` does.

The sequence is a walk over a multigraph whose vertices are letters and whose edges are the
adjacent pairs. A random Eulerian walk from the first letter is made by choosing, for every
letter but the last, which of its out-edges is used last, such that those edges form a tree
leading to the last letter; the other out-edges of each letter are used in a random order first.
"""

from __future__ import annotations

import random
from collections import Counter


def dinucleotide_counts(seq: str) -> Counter:
    """Counts of each ordered adjacent pair of letters of ``seq``."""
    return Counter(seq[i:i + 2] for i in range(len(seq) - 1))


def _last_edges(edges: dict[str, list[str]], last: str, rng: random.Random) -> dict[str, int]:
    """For each letter but ``last``, the index of its last-used out-edge; together they lead to ``last``."""
    while True:
        chosen = {v: rng.randrange(len(out)) for v, out in edges.items() if v != last}
        reaches = {last}
        for start in chosen:
            path, v = [], start
            while v not in reaches and v not in path:
                path.append(v)
                v = edges[v][chosen[v]]
            if v in reaches:
                reaches.update(path)
        if reaches >= edges.keys():
            return chosen


def dinucleotide_shuffle(seq: str, rng: random.Random | int = 0) -> str:
    """A random sequence with the same dinucleotide counts, first and last letter as ``seq``.

    Args:
        seq: any string (DNA letters, N included); case is kept as written.
        rng: a ``random.Random`` or a seed for one.
    """
    if len(seq) < 3:
        return seq
    rng = rng if isinstance(rng, random.Random) else random.Random(rng)
    edges: dict[str, list[str]] = {}
    for a, b in zip(seq, seq[1:]):
        edges.setdefault(a, []).append(b)
    last = seq[-1]
    chosen = _last_edges(edges, last, rng)
    order: dict[str, list[str]] = {}
    for v, out in edges.items():
        rest = list(out)
        final = rest.pop(chosen[v]) if v in chosen else None
        rng.shuffle(rest)
        order[v] = rest + ([final] if final is not None else [])
    used = dict.fromkeys(order, 0)
    letters, here = [seq[0]], seq[0]
    for _ in range(len(seq) - 1):
        step = order[here][used[here]]
        used[here] += 1
        letters.append(step)
        here = step
    return "".join(letters)
