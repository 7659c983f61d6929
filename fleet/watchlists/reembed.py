"""Re-embedding: a new embedder version's gallery made from the stored enrolment photos.

Boxes tag every face with the embedder that made it, and a face is only ever compared with
templates of that same embedder name and version (vectors of two versions are not
comparable). So before boxes move to a new embedder, the fleet needs that embedder's
gallery: `okoctl watchlist reembed --embedder faceres@2.0.0` runs every stored photo
through the enrolment chain with that embedder (which the fleet's model manifest,
`watchlists.models_manifest`, must hold) and keeps the templates beside the old ones.

Chosen over re-embedding automatically on the first face of an unknown version: a box is
untrusted, and a face claiming some version must not be able to start minutes of model
work at the fleet; and the gallery has to exist before the rollout, not after its first
missed face. Faces of a version without a gallery are counted
(`oko_fleet_faces_no_gallery_total`) and logged, never matched.

Resumable: photos that already have a template for the embedder are skipped, so running
the command again after an interruption finishes the job. One run at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from fleet.errors import FleetError, InvalidRequestError, NotFoundError, VersionConflictError
from fleet.store.base import Store
from fleet.watchlists.records import EmbedderKey, Template

if TYPE_CHECKING:
    from fleet.watchlists.enrol import FaceEnroller

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
#: Progress is reported at least every this many photos that were skipped.
SKIPPED_EVERY = 100
Reload = Callable[[], Awaitable[None]]
Audit = Callable[[str, str, str, str], Awaitable[None]]


def parse_embedder(text: str) -> EmbedderKey:
    """'NAME@VERSION' -> EmbedderKey; InvalidRequestError naming the field otherwise."""
    name, sep, version = text.partition("@")
    if not sep or not _NAME.fullmatch(name) or not _VERSION.fullmatch(version):
        raise InvalidRequestError(
            f"embedder must be NAME@VERSION (e.g. faceres@1.0.0), got {text[:80]!r}"
        )
    return EmbedderKey(name, version)


@dataclass(frozen=True)
class Progress:
    """Where a run is; `finished` once the gallery is the one searched."""

    photos: int
    done: int = 0
    embedded: int = 0
    skipped: int = 0
    refused: int = 0
    refusal: str = ""
    finished: bool = False
    templates: int = 0


class Reembedder:
    """One per server; runs the enrolment chain of another embedder over stored photos."""

    def __init__(
        self, store: Store, pool: ThreadPoolExecutor, manifest: Path | None, reload: Reload
    ) -> None:
        self._store = store
        self._pool = pool
        self._manifest = manifest
        self._reload = reload
        self._lock = asyncio.Lock()
        self._enrollers: dict[EmbedderKey, FaceEnroller] = {}

    def _enroller(self, key: EmbedderKey) -> FaceEnroller:
        """The enrolment chain with embedder `key` (loaded once); refused if not held."""
        from fleet.watchlists.enrol import FaceEnroller  # loads OpenCV + ONNX Runtime

        if key not in self._enrollers:
            try:
                enroller = FaceEnroller.load(manifest=self._manifest, embedder_name=key.name)
            except FleetError as err:
                raise InvalidRequestError(f"embedder {key}: {err}") from err
            if enroller.embedder_key != key:
                where = self._manifest or "the shipped models"
                raise InvalidRequestError(
                    f"embedder {key}: the fleet's model manifest ({where}) has "
                    f"{enroller.embedder_key}; set watchlists.models_manifest to one with {key}"
                )
            self._enrollers[key] = enroller
        return self._enrollers[key]

    async def run(self, key: EmbedderKey) -> AsyncIterator[Progress]:
        """Embed every photo that has no `key` template yet; yields progress per photo."""
        if self._lock.locked():
            raise VersionConflictError("a re-embed is already running; wait for it to finish")
        async with self._lock:
            loop = asyncio.get_running_loop()
            enroller = await loop.run_in_executor(self._pool, self._enroller, key)
            photos = await self._store.photo_keys()
            have = await self._store.template_keys(key)
            log.info("re-embed %s: %d photos, %d already embedded", key, len(photos), len(have))
            p = Progress(len(photos))
            for subject_id, index in photos:
                if (subject_id, index) in have:
                    p = replace(p, done=p.done + 1, skipped=p.skipped + 1)
                    if p.skipped % SKIPPED_EVERY == 0:
                        yield p
                    continue
                p = await self._one(enroller, key, subject_id, index, p)
                yield p
            await self._reload()
            p = replace(p, finished=True, templates=len(await self._store.template_keys(key)))
            log.info(
                "re-embed %s done: %d embedded, %d skipped, %d refused; gallery %d templates",
                key,
                p.embedded,
                p.skipped,
                p.refused,
                p.templates,
            )
            yield p

    async def _one(
        self, enroller: FaceEnroller, key: EmbedderKey, subject_id: str, index: int, p: Progress
    ) -> Progress:
        """One photo through the chain into the store."""
        from fleet.watchlists.enrol import PhotoRefusedError

        p = replace(p, done=p.done + 1)
        try:
            data = await self._store.photo_data(subject_id, index)
            got = await asyncio.get_running_loop().run_in_executor(self._pool, enroller.enrol, data)
        except NotFoundError:  # the subject was removed meanwhile
            return replace(p, skipped=p.skipped + 1)
        except PhotoRefusedError as err:
            why = f"subject {subject_id} photo {index + 1}: {err}"
            log.warning("re-embed %s: refused %s", key, why)
            return replace(p, refused=p.refused + 1, refusal=why)
        template = Template(subject_id, key, index, got.dimensions, got.vector)
        if not await self._store.add_template(template):
            return replace(p, skipped=p.skipped + 1)
        return replace(p, embedded=p.embedded + 1)


async def drain(
    runs: AsyncIterator[Progress], send: Callable[[Progress], Awaitable[None]]
) -> Progress:
    """Send every progress of `runs`; the last one (closes the run if `send` fails)."""
    last: Progress | None = None
    async with contextlib.aclosing(runs) as progress:  # type: ignore[type-var]
        async for p in progress:
            await send(p)
            last = p
    if last is None:  # unreachable: a run always yields its final progress
        raise FleetError("re-embed ended without a result")
    return last
