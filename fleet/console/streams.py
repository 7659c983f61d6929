"""Long-lived responses (server-sent events, MJPEG) that end the moment their page goes.

Starlette's StreamingResponse notices a client that left only at its next write, which for
a quiet stream can be never: a live view would keep a box streaming to nobody. This
response watches for the disconnect itself and then closes the body generator, so the
`finally` of every stream (stopping a live view, auditing it) runs at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

log = logging.getLogger(__name__)

NO_STORE = {
    "cache-control": "no-store",
    "x-accel-buffering": "no",  # a reverse proxy must pass each chunk on at once
    "x-content-type-options": "nosniff",
}


class LiveResponse(Response):
    """A response streaming `body` until it ends, the client goes, or `closing` is set."""

    def __init__(self, body: AsyncIterator[bytes], media_type: str, closing: asyncio.Event) -> None:
        super().__init__(status_code=200, media_type=media_type)
        self.body_stream = body
        self.closing = closing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send headers, then chunks until the first of: body done, client gone, closing."""
        headers = [(b"content-type", str(self.media_type).encode())]
        headers += [(k.encode(), v.encode()) for k, v in NO_STORE.items()]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

        async def pump() -> None:
            async for chunk in self.body_stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})

        async def gone() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        tasks = [
            asyncio.create_task(pump(), name="console-stream"),
            asyncio.create_task(gone(), name="console-stream-disconnect"),
            asyncio.create_task(self.closing.wait(), name="console-stream-closing"),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            await self.body_stream.aclose()  # type: ignore[attr-defined]
        for result in results:
            if isinstance(result, Exception) and not isinstance(result, OSError):
                log.error("console stream failed", exc_info=result)
        with contextlib.suppress(Exception):  # the client may be gone already
            await send({"type": "http.response.body", "body": b"", "more_body": False})
