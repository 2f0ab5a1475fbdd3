"""Cluster names from their members' verbs: what consumers use as primitive keys.

``name_clusters`` gives each cluster its members' majority verb (the most frequent one; a tie
goes to the alphabetically first verb), as a safe identifier: lower-case ``[a-z0-9_]``, each run
of other characters turned into one ``_`` (``"pick up"`` -> ``pick_up``), at most 40 characters.
A cluster whose members have no verb (no endpoint, every answer failed, no members) is named
``primitive_{id:02d}``; a negative id (unclustered / noise) is ``unclustered`` for -1 and
``unclustered_{-id:02d}`` below, and never takes a verb name.

Names are unique. Clusters that share a verb are ordered by size (members), largest first, then
by id: the first gets the verb, the next ``<verb>_2``, ``<verb>_3``, ... (a suffix already taken,
say by a verb that is literally ``tighten 2``, is skipped). The same inputs give the same names.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

MAX_NAME_CHARS = 40
_UNSAFE = re.compile(r"[^a-z0-9]+")


def safe_name(verb: str) -> str:
    """``verb`` as an identifier of ``[a-z0-9_]`` (possibly empty), at most 40 characters."""
    return _UNSAFE.sub("_", verb.lower()).strip("_")[:MAX_NAME_CHARS].rstrip("_")


def fallback_name(cluster_id: int) -> str:
    if cluster_id == -1:
        return "unclustered"
    if cluster_id < 0:
        return f"unclustered_{-cluster_id:02d}"
    return f"primitive_{cluster_id:02d}"


def majority_verb(verbs: Iterable[str | None]) -> str | None:
    """The most frequent non-empty verb; ties to the alphabetically first; None if none."""
    counts = Counter(v for v in verbs if v)
    if not counts:
        return None
    return min(counts, key=lambda v: (-counts[v], v))


def name_clusters(
    cluster_of: Mapping[str, int],
    verb_of: Mapping[str, str | None],
    cluster_ids: Iterable[int],
) -> dict[int, str]:
    """cluster id -> unique name, for every id in ``cluster_ids`` (module doc). Segments of
    ``cluster_of`` in a cluster not listed are ignored; a segment missing from ``verb_of``
    counts as having no verb."""
    ids = sorted({int(c) for c in cluster_ids})
    members: dict[int, list[str]] = {c: [] for c in ids}
    for seg, c in cluster_of.items():
        if c in members:
            members[c].append(seg)
    names: dict[int, str] = {}
    wanted: dict[int, str] = {}
    for c in ids:
        verb = majority_verb(verb_of.get(s) for s in members[c]) if c >= 0 else None
        base = safe_name(verb) if verb else ""
        if base and not base[0].isalpha():
            base = f"v_{base}"[:MAX_NAME_CHARS]
        if base:
            wanted[c] = base
        else:
            names[c] = fallback_name(c)
    taken = set(names.values())
    for c in sorted(wanted, key=lambda c: (wanted[c], -len(members[c]), c)):
        name, k = wanted[c], 1
        while name in taken:
            k += 1
            suffix = f"_{k}"
            name = wanted[c][: MAX_NAME_CHARS - len(suffix)] + suffix
        taken.add(name)
        names[c] = name
    return dict(sorted(names.items()))
