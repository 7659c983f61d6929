"""A resuming Subscribe client in a thread (the fleet process itself: `tests.support.fleet`)."""

from __future__ import annotations

import threading
import time
from collections import Counter

import grpc

from proto.oko.v1 import stream_pb2, stream_pb2_grpc
from proto.transport import CLIENT_OPTIONS, bearer_metadata


class ResumingSubscriber:
    """An integration client done right: remembers the last cursor it processed and
    resubscribes from it after any failure (the fleet being killed, say)."""

    def __init__(self, address: str, ca: bytes, token: str) -> None:
        self.address, self.ca, self.token = address, ca, token
        self.received: list[stream_pb2.EventEnvelope] = []
        self.reconnects = 0
        self._stop = threading.Event()
        self._call: grpc.Call | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> ResumingSubscriber:
        self._thread.start()
        return self

    def _run(self) -> None:
        creds = grpc.ssl_channel_credentials(root_certificates=self.ca)
        while not self._stop.is_set():
            cursor = self.received[-1].cursor if self.received else 0
            with grpc.secure_channel(self.address, creds, options=CLIENT_OPTIONS) as channel:
                stub = stream_pb2_grpc.EventServiceStub(channel)
                call = stub.Subscribe(
                    stream_pb2.SubscribeRequest(resume_cursor=cursor),
                    metadata=bearer_metadata(self.token),
                )
                self._call = call
                try:
                    for envelope in call:
                        self.received.append(envelope)
                except grpc.RpcError:
                    self.reconnects += 1
                    time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()
        if self._call is not None:
            self._call.cancel()
        self._thread.join(timeout=10)


def assert_delivered_once_in_order(received: list[stream_pb2.EventEnvelope], total: int) -> None:
    """Every one of `total` events reached the subscriber once, in cursor order, and each
    camera's sequence arrived without a hole or a repeat."""
    ids = [e.event.event_id for e in received]
    assert len(ids) == total
    assert not [i for i, n in Counter(ids).items() if n > 1]
    cursors = [e.cursor for e in received]
    assert cursors == sorted(set(cursors))
    per_stream: dict[tuple[str, str], list[int]] = {}
    for e in received:
        per_stream.setdefault((e.event.device_id, e.event.camera_id), []).append(e.event.sequence)
    for key, sequences in per_stream.items():
        assert sequences == list(range(1, len(sequences) + 1)), key
