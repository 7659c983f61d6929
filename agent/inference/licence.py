"""Which model licences the box may run without telling anyone. Pure.

Every manifest entry records the licence of its weights (`upstream.licence`). Oko ships
only permissively licensed weights; a model built on request (`make models EXTRA=yolov5s`,
GPL-3.0/AGPL-3.0 weights) or pushed by a fleet may carry other terms, and whoever runs it
must be able to see that: `load_spec` logs `licence_warning` at WARNING level and
`oko-agent doctor` prints it.
"""

from __future__ import annotations

import re

# SPDX identifiers (and the one non-SPDX phrase) whose terms impose nothing on a deployment
# beyond attribution.
PERMISSIVE = (
    "Apache-2.0",
    "MIT",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "Zlib",
    "Unlicense",
    "CC0-1.0",
    "public domain",
)
_COPYLEFT = re.compile(r"\b(A?GPL|LGPL|SSPL|EUPL|MPL|CC-BY-SA)", re.IGNORECASE)
_DOUBT = re.compile(
    r"unverified|unknown|not recorded|research|non-commercial|noncommercial|CC-BY-NC",
    re.IGNORECASE,
)
_PERMISSIVE = re.compile(
    "|".join(rf"(?<![\w-]){re.escape(p)}(?![\w-])" for p in PERMISSIVE), re.IGNORECASE
)


def licence_kind(licence: str) -> str:
    """Classify a licence text: "copyleft" (GPL family etc.), "unverified" or "permissive".

    Doubt wins over a permissive name in the same text: "unverified: ... (MIT wrapper)" is
    unverified, because the MIT there is the package's, not the weights'.
    """
    if _COPYLEFT.search(licence):
        return "copyleft"
    if _DOUBT.search(licence) or not _PERMISSIVE.search(licence):
        return "unverified"
    return "permissive"


def licence_warning(key: str, licence: str) -> str | None:
    """The line to log when model `key` (name:precision) is not permissively licensed."""
    kind = licence_kind(licence)
    if kind == "permissive":
        return None
    if kind == "copyleft":
        return (
            f"model licence: {key} weights are licensed {licence}; copyleft terms apply to "
            "whoever distributes or serves this model (read them before deploying)"
        )
    return (
        f"model licence: {key} weights are licensed {licence!r}; not verified as permissive "
        "(check before commercial use)"
    )
