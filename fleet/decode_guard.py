"""Requests that are not protobuf: INVALID_ARGUMENT and a counter, never a traceback.

Left alone, grpc parses each request with the generated `FromString` and, when that
raises `DecodeError`, logs a ~700-byte traceback and answers UNKNOWN: two bytes from
anyone who can open a TCP connection buy 350 times as much log, unauthenticated. This
interceptor wraps every handler's request parser so a corrupt message becomes a marker
the handler answers with INVALID_ARGUMENT (naming the message type), counted per method
in `oko_fleet_requests_malformed_total`, and logged once per method, not per request.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from prometheus_client import CollectorRegistry, Counter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Malformed:
    """Stands in for a request that did not parse."""

    reason: str


class DecodeGuard(grpc.aio.ServerInterceptor):
    """Server interceptor: see the module docstring."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.counter = Counter(
            "oko_fleet_requests_malformed",
            "Requests that did not parse as their protobuf message (answered INVALID_ARGUMENT)",
            ["method"],
            registry=registry,
        )
        self._logged: set[str] = set()

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """The method's own handler, with its request parser guarded."""
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        return self._guarded(handler, handler_call_details.method)

    def _parser(self, parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
        def checked(raw: bytes) -> Any:
            try:
                return parse(raw)
            except DecodeError as err:
                return Malformed(str(err))

        return checked

    def _refuse(self, method: str, bad: Malformed) -> str:
        """Count (and, the first time per method, log) a malformed request; its message."""
        self.counter.labels(method).inc()
        if method not in self._logged:
            self._logged.add(method)
            log.warning(
                "malformed %s request: %s (further ones are only counted, in "
                "oko_fleet_requests_malformed_total)",
                method,
                bad.reason,
            )
        return f"{method}: request is not a valid protobuf message ({bad.reason})"

    def _guarded(
        self, handler: grpc.RpcMethodHandler[Any, Any], method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        assert handler.request_deserializer is not None
        parse = self._parser(handler.request_deserializer)
        serialize = handler.response_serializer
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, method), parse, serialize
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._unary(handler.unary_stream, method), parse, serialize
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._streaming(handler.stream_unary, method), parse, serialize
            )
        assert handler.stream_stream is not None
        return grpc.stream_stream_rpc_method_handler(
            self._streaming(handler.stream_stream, method), parse, serialize
        )

    def _unary(self, behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
        """One request: refuse it before the servicer sees it."""
        if inspect.isasyncgenfunction(behaviour):

            async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                if isinstance(request, Malformed):
                    await context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT, self._refuse(method, request)
                    )
                async for item in behaviour(request, context):
                    yield item

            return stream

        async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            if isinstance(request, Malformed):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, self._refuse(method, request))
            return await behaviour(request, context)

        return call

    def _streaming(self, behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
        """A request stream: a malformed message aborts the call with INVALID_ARGUMENT."""

        def checked(
            requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            async def messages() -> AsyncIterator[Any]:
                async for request in requests:
                    if isinstance(request, Malformed):
                        await context.abort(
                            grpc.StatusCode.INVALID_ARGUMENT, self._refuse(method, request)
                        )
                    yield request

            return messages()

        if inspect.isasyncgenfunction(behaviour):

            async def stream(
                requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
            ) -> Any:
                async for item in behaviour(checked(requests, context), context):
                    yield item

            return stream

        async def call(
            requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
        ) -> Any:
            return await behaviour(checked(requests, context), context)

        return call
