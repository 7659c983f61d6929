"""AdminService: what okoctl calls. Each RPC names the role it needs in its decorator."""

from __future__ import annotations

import logging
import secrets

import grpc
from typing_extensions import override

from fleet import __version__, bus, config_push, desired, redaction
from fleet.app import FleetApp, now_us
from fleet.auth import MAX_ENROLL_TTL_S, Principal, Role, mint_api_token, mint_enrollment_token
from fleet.errors import InvalidRequestError, NotFoundError
from fleet.model_labels import reported_detector
from fleet.redaction import mask_url
from fleet.services import certs, convert
from fleet.services.common import Context, Guarded, guarded
from fleet.store.cert_records import CertSummary
from fleet.store.records import ApiToken, Device, EnrollmentToken, EventFilter, Webhook
from fleet.twin import set_config
from fleet.webhooks import check_secret, new_secret
from proto.oko.v1 import admin_pb2, admin_pb2_grpc, agent_pb2

log = logging.getLogger(__name__)
MAX_FIELD_CHARS = 128


def _bounded(value: str, field: str) -> str:
    value = value.strip()
    if not 0 < len(value) <= MAX_FIELD_CHARS:
        raise InvalidRequestError(f"{field} must be 1..{MAX_FIELD_CHARS} characters")
    return value


def _for_role(view: admin_pb2.ConfigView, who: Principal) -> admin_pb2.ConfigView:
    """Below admin, every secret in the documents (and in the box's error) is masked."""
    if who.role >= Role.ADMIN:
        return view
    for name in ("desired", "rendered"):
        if view.HasField(name):
            doc = getattr(view, name)
            doc.document = redaction.mask_document(doc.document)
    view.reported_document = redaction.mask_document(view.reported_document)
    view.last_apply_error = redaction.mask_text(view.last_apply_error)
    return view


def _push_response(pushed: config_push.PushResult) -> admin_pb2.SetConfigsResponse:
    outcome = pushed.outcome
    return admin_pb2.SetConfigsResponse(
        selector=pushed.selector,
        matched=len(outcome.outcomes),
        changed=outcome.count("changed"),
        unchanged=outcome.count("unchanged"),
        failed=outcome.count("failed"),
        delivered=len(pushed.delivered),
        sha256=outcome.sha256,
        devices=[
            admin_pb2.DeviceConfigResult(
                device_id=o.device_id,
                version=o.version,
                unchanged=o.unchanged,
                error=redaction.mask_text(o.error),
                delivered=o.device_id in pushed.delivered,
            )
            for o in outcome.outcomes
        ],
    )


class AdminServicer(Guarded, admin_pb2_grpc.AdminServiceServicer):
    """AdminService for okoctl and integrations.

    Each RPC's contract is documented in proto/oko/v1/admin.proto (the `@override`s implement
    the generated base class); every call is authorised by role first, and each change is
    written to the audit log.
    """

    def __init__(self, app: FleetApp) -> None:
        self.app = app
        self.access = app.access

    # Tokens ---------------------------------------------------------------------------
    @override
    @guarded(Role.OPERATOR)
    async def CreateEnrollmentToken(
        self, request: admin_pb2.CreateEnrollmentTokenRequest, context: Context, who: Principal
    ) -> admin_pb2.CreateEnrollmentTokenResponse:
        site = _bounded(request.site, "site")
        if not 0 < request.ttl_seconds <= MAX_ENROLL_TTL_S:
            raise InvalidRequestError(f"ttl_seconds must be 1..{MAX_ENROLL_TTL_S}")
        minted = mint_enrollment_token(self.app.ca.pin)
        at = now_us()
        expires = at + request.ttl_seconds * 1_000_000
        await self.app.store.add_enrollment_token(
            EnrollmentToken(
                token_id=minted.token_id,
                site=site,
                note=request.note[:MAX_FIELD_CHARS],
                secret_hash=minted.secret_hash,
                created_us=at,
                expires_us=expires,
            )
        )
        await self.app.audit(who.name, "token.enrollment.create", minted.token_id, site)
        return admin_pb2.CreateEnrollmentTokenResponse(
            token=minted.text,
            token_id=minted.token_id,
            expires_at=convert.ts(expires),
            ca_sha256=self.app.ca.fingerprint,
        )

    @override
    @guarded(Role.ADMIN)
    async def CreateApiToken(
        self, request: admin_pb2.CreateApiTokenRequest, context: Context, who: Principal
    ) -> admin_pb2.CreateApiTokenResponse:
        name = _bounded(request.name, "name")
        if request.role not in (r.value for r in Role):
            raise InvalidRequestError("role must be viewer, operator or admin")
        minted = mint_api_token()
        at = now_us()
        expires = at + request.ttl_seconds * 1_000_000 if request.ttl_seconds else 0
        await self.app.store.add_api_token(
            ApiToken(
                token_id=minted.token_id,
                name=name,
                role=request.role,
                secret_hash=minted.secret_hash,
                created_us=at,
                expires_us=expires,
            )
        )
        await self.app.audit(
            who.name,
            "token.api.create",
            minted.token_id,
            f"{name} {Role(request.role).name.lower()}",
        )
        return admin_pb2.CreateApiTokenResponse(
            token=minted.text, token_id=minted.token_id, expires_at=convert.ts(expires)
        )

    @override
    @guarded(Role.ADMIN)
    async def RevokeApiToken(
        self, request: admin_pb2.RevokeApiTokenRequest, context: Context, who: Principal
    ) -> admin_pb2.RevokeApiTokenResponse:
        """Refuse the token from now on and end its open streams at once."""
        token = await self.app.store.delete_api_token(request.token_id)
        if token is None:
            raise NotFoundError(f"API token {request.token_id!r} not found")
        reason = request.reason[:200] or "revoked"
        detail = f"API token {token.name!r} was revoked: {reason}"
        ended = self.app.streams.end_token(token.token_id, detail)
        await self.app.replication.notify(bus.TOKEN_REVOKED, token_id=token.token_id, reason=detail)
        await self.app.audit(
            who.name,
            "token.api.revoke",
            token.token_id,
            f"{token.name}: {reason} ({ended} streams)",
        )
        return admin_pb2.RevokeApiTokenResponse(
            token_id=token.token_id, name=token.name, streams_ended=ended
        )

    @override
    @guarded(Role.ADMIN)
    async def ListTokens(
        self, request: admin_pb2.ListTokensRequest, context: Context, who: Principal
    ) -> admin_pb2.ListTokensResponse:
        out = [
            admin_pb2.TokenInfo(
                token_id=t.token_id,
                kind="api",
                name=t.name,
                role=admin_pb2.Role.Name(t.role),
                created_at=convert.ts(t.created_us),
                expires_at=convert.ts(t.expires_us),
            )
            for t in await self.app.store.list_api_tokens()
        ]
        out += [
            admin_pb2.TokenInfo(
                token_id=t.token_id,
                kind="enrollment",
                name=t.note,
                site=t.site,
                created_at=convert.ts(t.created_us),
                expires_at=convert.ts(t.expires_us),
                used=bool(t.used_us),
                used_by_device=t.used_by,
            )
            for t in await self.app.store.list_enrollment_tokens()
        ]
        return admin_pb2.ListTokensResponse(tokens=out)

    # Devices and cameras --------------------------------------------------------------
    async def _device_proto(
        self,
        device: Device,
        with_cameras: bool = False,
        summaries: dict[str, CertSummary] | None = None,
    ) -> admin_pb2.Device:
        rendered = await self.app.store.get_desired(device.device_id)
        cameras = await self.app.store.list_cameras(device.device_id) if with_cameras else None
        if summaries is None:
            summaries = await self.app.store.certificate_summaries(device.device_id)
        at = now_us()
        out = convert.device_to_proto(
            device,
            self.app.replication.connected(device.device_id),
            at,
            rendered.version if rendered else 0,
            cameras,
        )
        return certs.fill_certificate_fields(out, device, summaries.get(device.device_id), at)

    async def _device(self, device_id: str) -> Device:
        device = await self.app.store.get_device(device_id)
        if device is None:
            raise NotFoundError(f"device {device_id!r} not found")
        return device

    @override
    @guarded(Role.VIEWER)
    async def ListDevices(
        self, request: admin_pb2.ListDevicesRequest, context: Context, who: Principal
    ) -> admin_pb2.ListDevicesResponse:
        devices = await self.app.store.list_devices(request.site)
        summaries = await self.app.store.certificate_summaries()  # one read for all devices
        return admin_pb2.ListDevicesResponse(
            devices=[await self._device_proto(d, summaries=summaries) for d in devices]
        )

    @override
    @guarded(Role.VIEWER)
    async def GetDevice(
        self, request: admin_pb2.GetDeviceRequest, context: Context, who: Principal
    ) -> admin_pb2.Device:
        return await self._device_proto(await self._device(request.device_id), with_cameras=True)

    @override
    @guarded(Role.ADMIN)
    async def RevokeDevice(
        self, request: admin_pb2.RevokeDeviceRequest, context: Context, who: Principal
    ) -> admin_pb2.Device:
        device = await self.app.store.revoke_device(
            request.device_id, request.reason[:200] or "revoked", now_us()
        )
        self.app.revocations.add(device.cert_serial)
        self.app.certs.refresher.touch()  # a revoked device leaves the expiry gauges
        cut = self.app.sessions.cut(
            device.device_id, grpc.StatusCode.PERMISSION_DENIED, "device revoked"
        )
        await self.app.replication.notify(
            bus.REVOKE, device_id=device.device_id, serial=device.cert_serial
        )
        await self.app.audit(
            who.name, "device.revoke", device.device_id, f"{request.reason} (was connected: {cut})"
        )
        return await self._device_proto(device)

    @override
    @guarded(Role.VIEWER)
    async def ListCameras(
        self, request: admin_pb2.ListCamerasRequest, context: Context, who: Principal
    ) -> admin_pb2.ListCamerasResponse:
        cams = await self.app.store.list_cameras(request.device_id, request.site)
        return admin_pb2.ListCamerasResponse(cameras=[convert.camera_to_proto(c) for c in cams])

    # Desired state ----------------------------------------------------------------------
    @override
    @guarded(Role.VIEWER)
    async def GetConfig(
        self, request: admin_pb2.GetConfigRequest, context: Context, who: Principal
    ) -> admin_pb2.ConfigView:
        device = await self._device(request.device_id)
        docs = await self.app.store.get_config_docs(device.device_id)
        rendered = await self.app.store.get_desired(device.device_id)
        view = convert.config_view(device, request.camera_id, docs.get(request.camera_id), rendered)
        return _for_role(view, who)

    async def _keep_secrets(self, device_id: str, scope: str, text: str) -> str:
        """A document read masked and sent back keeps the real secrets (see redaction).

        The secrets come from the scope's current document or, for the box scope, from the
        rendered one (what `okoctl config get DEVICE` shows, camera documents merged in).
        """
        if redaction.MARKER not in text:
            return text
        where = f"{device_id}/{scope}" if scope else device_id
        docs = await self.app.store.get_config_docs(device_id)
        sources = [docs[scope].document] if scope in docs else []
        rendered = await self.app.store.get_desired(device_id) if not scope else None
        if rendered is not None:
            sources.append(rendered.document)
        sent = desired.parse(text, where)
        first_error = ""
        for source in sources or [""]:
            current = desired.parse(source, where) if source else {}
            try:
                return redaction.restore_document(text, sent, current, where)
            except ValueError as err:
                first_error = first_error or str(err)
        raise InvalidRequestError(first_error)

    @override
    @guarded(Role.OPERATOR)
    async def SetConfig(
        self, request: admin_pb2.SetConfigRequest, context: Context, who: Principal
    ) -> admin_pb2.ConfigView:
        device = await self._device(request.device_id)
        document = await self._keep_secrets(device.device_id, request.camera_id, request.document)
        outcome = await set_config(
            self.app.store,
            device.device_id,
            request.camera_id,
            document,
            expected_version=request.expected_version,
            author=who.name,
            dry_run=request.dry_run,
            detector=reported_detector(device.reported),
        )
        doc, rendered = outcome.doc, outcome.rendered
        if not (request.dry_run or outcome.unchanged):
            session = self.app.sessions.get(device.device_id)
            if session is not None:
                session.send(convert.desired_to_proto(rendered))
            await self.app.replication.notify(bus.CONFIG, device_id=device.device_id)
            await self.app.audit(
                who.name,
                "config.set",
                f"{device.device_id}/{request.camera_id}",
                f"v{doc.version} sha256={doc.sha256}",
            )
        view = convert.config_view(device, request.camera_id, doc, rendered)
        view.unchanged = outcome.unchanged
        return _for_role(view, who)

    @override
    @guarded(Role.OPERATOR)
    async def SetConfigs(
        self, request: admin_pb2.SetConfigsRequest, context: Context, who: Principal
    ) -> admin_pb2.SetConfigsResponse:
        pushed = await config_push.push_configs(
            self.app,
            who.name,
            selector_text=request.selector,
            scope=request.camera_id,
            text=request.document,
            dry_run=request.dry_run,
        )
        return _push_response(pushed)

    @override
    @guarded(Role.OPERATOR)
    async def SendCommand(
        self, request: admin_pb2.SendCommandRequest, context: Context, who: Principal
    ) -> admin_pb2.SendCommandResponse:
        device = await self._device(request.device_id)
        kind = _bounded(request.kind, "kind")
        command_id = "cmd-" + secrets.token_hex(6)
        command = agent_pb2.Command(command_id=command_id, kind=kind, args=dict(request.args))
        delivered = await self.app.replication.send_command(device.device_id, command)
        await self.app.audit(who.name, "command.send", device.device_id, f"{command_id} {kind}")
        return admin_pb2.SendCommandResponse(command_id=command_id, delivered=delivered)

    # Webhooks -------------------------------------------------------------------------
    @override
    @guarded(Role.ADMIN)
    async def CreateWebhook(
        self, request: admin_pb2.CreateWebhookRequest, context: Context, who: Principal
    ) -> admin_pb2.Webhook:
        if not request.url.startswith(("http://", "https://")):
            raise InvalidRequestError("url must start with http:// or https://")
        stats = await self.app.store.stats()
        hook = Webhook(
            webhook_id="wh-" + secrets.token_hex(6),
            url=request.url,
            secret=check_secret(request.secret) if request.secret else new_secret(),
            filter=EventFilter.of(
                request.camera_ids, request.sites, request.types, request.device_ids
            ),
            created_us=now_us(),
            cursor=stats.last_cursor,
        )
        await self.app.store.add_webhook(hook)
        self.app.webhooks.start_hook(hook)
        await self.app.replication.notify(bus.WEBHOOKS)
        await self.app.audit(who.name, "webhook.create", hook.webhook_id, mask_url(hook.url))
        return convert.webhook_to_proto(hook, with_secret=True)

    @override
    @guarded(Role.VIEWER)
    async def ListWebhooks(
        self, request: admin_pb2.ListWebhooksRequest, context: Context, who: Principal
    ) -> admin_pb2.ListWebhooksResponse:
        hooks = [convert.webhook_to_proto(h) for h in await self.app.store.list_webhooks()]
        if who.role < Role.ADMIN:  # keys often live in the URL (path or query)
            for hook in hooks:
                hook.url = mask_url(hook.url)
        return admin_pb2.ListWebhooksResponse(webhooks=hooks)

    @override
    @guarded(Role.ADMIN)
    async def DeleteWebhook(
        self, request: admin_pb2.DeleteWebhookRequest, context: Context, who: Principal
    ) -> admin_pb2.DeleteWebhookResponse:
        await self.app.store.delete_webhook(request.webhook_id)
        await self.app.webhooks.stop_hook(request.webhook_id)
        await self.app.replication.notify(bus.WEBHOOKS)
        await self.app.audit(who.name, "webhook.delete", request.webhook_id)
        return admin_pb2.DeleteWebhookResponse()

    @override
    @guarded(Role.VIEWER)
    async def GetStatus(
        self, request: admin_pb2.GetStatusRequest, context: Context, who: Principal
    ) -> admin_pb2.ServerStatus:
        stats = await self.app.store.stats()
        return admin_pb2.ServerStatus(
            version=__version__,
            started_at=convert.ts(self.app.started_us),
            devices=stats.devices,
            devices_online=len(self.app.sessions),
            devices_revoked=stats.devices_revoked,
            events_stored=stats.events,
            last_cursor=stats.last_cursor,
            subscribers=self.app.broadcaster.subscribers,
            ingest_events_per_second=self.app.metrics.ingest_rate(),
            store=self.app.store.description,
            webhook_dead_letters=stats.webhook_dead_letters,
        )
