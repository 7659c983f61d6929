"""ModelService: the model registry for okoctl (contracts in proto/oko/v1/models.proto).

Servicers convert protobuf <-> records here; the checks live in `fleet.models.registry`
(push, keys) and `fleet.models.assign` (assignments, status).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from typing_extensions import override

from fleet.app import FleetApp
from fleet.auth import Principal, Role
from fleet.errors import FleetError, InvalidRequestError
from fleet.models import assign, registry, wire
from fleet.models.records import DETECTOR_SLOT, ModelVersion
from fleet.services.common import Context, Guarded, abort, guarded
from fleet.services.convert import ts
from proto.oko.v1 import models_pb2 as pb
from proto.oko.v1 import models_pb2_grpc


async def _info(app: FleetApp, version: ModelVersion) -> pb.ModelInfo:
    return pb.ModelInfo(
        name=version.name,
        version=version.version,
        sha256=version.sha256,
        size=version.size,
        manifest=version.manifest,
        key_id=version.key_id,
        pushed_at=ts(version.pushed_us),
        pushed_by=version.pushed_by,
        frames=len(version.frames),
        assigned_devices=await app.store.count_assigned(version.name, version.version),
    )


def _assigned(results: list[assign.AssignResult]) -> pb.AssignModelResponse:
    return pb.AssignModelResponse(
        assignments=[
            pb.DeviceAssignment(
                device_id=r.assignment.device_id,
                assignment_id=r.assignment.assignment_id,
                delivered=r.delivered,
                name=r.assignment.name,
                version=r.assignment.version,
            )
            for r in results
        ]
    )


class ModelServicer(Guarded, models_pb2_grpc.ModelServiceServicer):
    """ModelService; every call authorised by role first, every change audited."""

    def __init__(self, app: FleetApp) -> None:
        self.app = app
        self.access = app.access

    @override
    @guarded(Role.ADMIN)
    async def AddSigningKey(
        self, request: pb.AddSigningKeyRequest, context: Context, who: Principal
    ) -> pb.SigningKey:
        return wire.key_to_proto(await registry.add_signing_key(self.app, request, who.name))

    @override
    @guarded(Role.VIEWER)
    async def ListSigningKeys(
        self, request: pb.ListSigningKeysRequest, context: Context, who: Principal
    ) -> pb.ListSigningKeysResponse:
        keys = await self.app.store.list_signing_keys()
        return pb.ListSigningKeysResponse(keys=[wire.key_to_proto(k) for k in keys])

    async def PushModel(  # noqa: N802
        self, request_iterator: AsyncIterator[pb.PushModelRequest], context: Context
    ) -> pb.ModelInfo:
        """Client stream: header, then each file and its data (see models.proto)."""
        try:
            who = await self.access.check(context.invocation_metadata(), Role.ADMIN)
            version = await registry.push_model(self.app, request_iterator, who.name)
            return await _info(self.app, version)
        except FleetError as err:
            await abort(context, err)

    @override
    @guarded(Role.VIEWER)
    async def ListModels(
        self, request: pb.ListModelsRequest, context: Context, who: Principal
    ) -> pb.ListModelsResponse:
        versions = await self.app.store.list_model_versions(request.name)
        return pb.ListModelsResponse(models=[await _info(self.app, v) for v in versions])

    @override
    @guarded(Role.VIEWER)
    async def GetModel(
        self, request: pb.GetModelRequest, context: Context, who: Principal
    ) -> pb.ModelInfo:
        version = await assign.get_version(self.app.store, request.name, request.version)
        return await _info(self.app, version)

    @override
    @guarded(Role.OPERATOR)
    async def AssignModel(
        self, request: pb.AssignModelRequest, context: Context, who: Principal
    ) -> pb.AssignModelResponse:
        results = await assign.assign_model(
            self.app,
            list(request.device_ids),
            request.name,
            request.version,
            who.name,
            slot=request.slot or DETECTOR_SLOT,
        )
        return _assigned(results)

    @override
    @guarded(Role.OPERATOR)
    async def RollbackModel(
        self, request: pb.RollbackModelRequest, context: Context, who: Principal
    ) -> pb.AssignModelResponse:
        results = await assign.rollback_model(
            self.app, list(request.device_ids), who.name, slot=request.slot or DETECTOR_SLOT
        )
        return _assigned(results)

    @override
    @guarded(Role.VIEWER)
    async def GetModelStatus(
        self, request: pb.GetModelStatusRequest, context: Context, who: Principal
    ) -> pb.ModelStatusResponse:
        if len(request.device_id) > 128:
            raise InvalidRequestError("device_id: at most 128 characters")
        ids = [request.device_id] if request.device_id else []
        statuses = await assign.model_statuses(self.app.store, ids)
        return pb.ModelStatusResponse(slots=[wire.status_to_proto(s) for s in statuses])


def add_to_server(app: FleetApp, server: grpc.aio.Server) -> None:
    """Serve ModelService on `server` (both ports, like every service); hook the streams."""
    models_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(app), server)
    assign.attach(app)
