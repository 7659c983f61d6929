"""GalleryService: the galleries per embedder version, and re-embedding them (admin).

Contracts in proto/oko/v1/galleries.proto; the work is `fleet.watchlists.reembed`.
"""

from __future__ import annotations

import grpc

from fleet.app import FleetApp
from fleet.auth import Principal, Role
from fleet.services.common import Context, Guarded, guarded
from fleet.watchlists.enrol import enrolment_embedder
from fleet.watchlists.reembed import Progress, drain, parse_embedder
from fleet.watchlists.runtime import Watchlists
from proto.oko.v1 import galleries_pb2 as pb
from proto.oko.v1 import galleries_pb2_grpc


def _progress(p: Progress) -> pb.ReembedProgress:
    return pb.ReembedProgress(
        photos=p.photos,
        done=p.done,
        embedded=p.embedded,
        skipped=p.skipped,
        refused=p.refused,
        refusal=p.refusal,
        finished=p.finished,
        templates=p.templates,
    )


class GalleryServicer(Guarded, galleries_pb2_grpc.GalleryServiceServicer):
    """The RPCs of GalleryService; roles are noted in the .proto."""

    def __init__(self, app: FleetApp, watchlists: Watchlists) -> None:
        self.app = app
        self.access = app.access
        self.wl = watchlists

    @guarded(Role.VIEWER)
    async def ListGalleries(  # noqa: N802
        self, request: pb.ListGalleriesRequest, context: Context, who: Principal
    ) -> pb.ListGalleriesResponse:
        """Every gallery in use, with its size and search mode."""
        out = []
        for key, gallery in sorted(self.wl.matcher.galleries().items(), key=lambda kv: str(kv[0])):
            out.append(
                pb.GalleryInfo(
                    embedder_name=key.name,
                    embedder_version=key.version,
                    templates=len(gallery),
                    subjects=len({sid for sid, _ in gallery.identities}),
                    dimensions=gallery.dimensions,
                    search="ann" if gallery.ann is not None else "exact",
                )
            )
        await self.app.audit(who.name, "gallery.list", "*", "")
        enrolling = enrolment_embedder(self.wl.models_manifest)
        return pb.ListGalleriesResponse(galleries=out, enrolment_embedder=str(enrolling))

    @guarded(Role.ADMIN)
    async def Reembed(  # type: ignore[override]  # noqa: N802
        self, request: pb.ReembedRequest, context: Context, who: Principal
    ) -> None:
        """Re-embed every stored photo with `embedder`, streaming progress; audited."""
        key = parse_embedder(request.embedder)
        await self.app.audit(who.name, "gallery.reembed.start", str(key), "")

        async def send(p: Progress) -> None:
            await context.write(_progress(p))

        last = await drain(self.wl.reembedder.run(key), send)
        detail = f"embedded {last.embedded} skipped {last.skipped} refused {last.refused}"
        await self.app.audit(who.name, "gallery.reembed", str(key), detail)


def register(app: FleetApp, watchlists: Watchlists, server: grpc.aio.Server) -> None:
    """Register GalleryService on `server` (after the watchlist runtime started)."""
    galleries_pb2_grpc.add_GalleryServiceServicer_to_server(
        GalleryServicer(app, watchlists), server
    )
