"""An operations-centre subscriber: `Subscribe` on the fleet's event stream, in a thread."""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

import grpc

from proto.oko.v1 import stream_pb2, stream_pb2_grpc
from proto.transport import CLIENT_OPTIONS, bearer_metadata

log = logging.getLogger(__name__)


class Subscriber:
    """Receives every event the fleet commits, from the start of its store, into a queue."""

    def __init__(self, address: str, ca_file: Path, token: str) -> None:
        creds = grpc.ssl_channel_credentials(root_certificates=ca_file.read_bytes())
        self._channel = grpc.secure_channel(address, creds, options=CLIENT_OPTIONS)
        self._stub = stream_pb2_grpc.EventServiceStub(self._channel)
        self._token = token
        self.received: queue.Queue[stream_pb2.EventEnvelope] = queue.Queue()
        self.error: str = ""
        self._stopped = False
        self._call: grpc.Call | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="occ-subscriber", daemon=True)

    def start(self) -> Subscriber:
        """Subscribe from the first event; waits up to 10 s for the stream to open (or fail)."""
        self._thread.start()
        self._ready.wait(10)
        return self

    def _run(self) -> None:
        request = stream_pb2.SubscribeRequest(resume_cursor=0)
        try:
            call = self._stub.Subscribe(request, metadata=bearer_metadata(self._token))
            self._call = call
            self._ready.set()
            for envelope in call:
                self.received.put(envelope)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.CANCELLED:
                self.error = f"{err.code().name}: {err.details()}"
                log.warning("subscriber stopped: %s", self.error)
        finally:
            self._ready.set()

    def stop(self) -> None:
        """Cancel the stream and close the channel; calling it again does nothing."""
        if self._stopped:
            return
        self._stopped = True
        if self._call is not None:
            self._call.cancel()
        self._thread.join(5)
        self._channel.close()
