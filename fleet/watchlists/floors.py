"""The lowest cosine a gallery of each embedder matches at, whatever a watchlist asks.

A watchlist has one threshold, but embedders score on different scales: on the real
identities of bench/face_identity.py no FaceRes impostor pair scores above 0.73, while
dlib's ResNet puts impostors up to 0.96 (docs/faces.md, "Embedder choice"). A watchlist
tuned for one would raise an alert for every face under the other once its gallery is
re-embedded. So each gallery matches at no less than its embedder's own same-person
cosine, as the shipped manifest states it (`defaults.same_person_cosine`); an embedder
the manifest does not know keeps the watchlist's threshold as it is.
"""

from __future__ import annotations

import functools

from fleet.model_labels import manifest_entries
from fleet.watchlists.records import EmbedderKey


@functools.cache
def _floors() -> dict[tuple[str, str], float]:
    out = {}
    for entry in manifest_entries():  # unreadable: logged there, and no floors
        cosine = entry.get("defaults", {}).get("same_person_cosine")
        if entry.get("task") == "face-embedding" and isinstance(cosine, int | float):
            out[(str(entry["name"]), str(entry["version"]))] = float(cosine)
    return out


def floor(key: EmbedderKey) -> float:
    """The embedder's same-person cosine from the shipped manifest (0.0 when unknown)."""
    return _floors().get((key.name, key.version), 0.0)
