"""The console in a real browser: Debian's Chromium against a real fleet and a real box.

One fleet process with its console, one `oko-agent run` box on a looped real clip, one
headless Chromium for the module; each person gets their own browser context (cookies).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from proto.oko.v1 import admin_pb2, watchlists_pb2_grpc
from proto.oko.v1 import watchlists_pb2 as pb
from proto.transport import bearer_metadata
from tests.console.alerts import raise_alert
from tests.console.conftest import CAMERA, SITE, Stack, shoot
from tests.support.net import wait_until

pytestmark = pytest.mark.timeout(240)
Page = Any


def login(page: Page, stack: Stack, token: str) -> None:
    page.goto(stack.url + "/login")
    page.fill("#token", token)
    with page.expect_navigation():
        page.click("button[type=submit]")


def post_form(page: Page, action: str, fields: dict[str, str]) -> Any:
    """Submit a form the page did not offer (what a forged or tampered post looks like).

    Waits for the DOM only: a live page's picture is a stream that may never "load".
    """
    with page.expect_navigation(wait_until="domcontentloaded") as nav:
        page.evaluate(
            """([action, fields]) => {
                const form = document.createElement("form");
                form.method = "post"; form.action = action;
                for (const [k, v] of Object.entries(fields)) {
                    const input = document.createElement("input");
                    input.type = "hidden"; input.name = k; input.value = v;
                    form.appendChild(input);
                }
                document.body.appendChild(form); form.submit();
            }""",
            [action, fields],
        )
    return nav.value


def csrf_of(page: Page) -> str:
    return str(page.get_attribute("form[action='/logout'] input[name=csrf]", "value"))


def audit_actions(stack: Stack, actor: str) -> list[tuple[str, str, str]]:
    stub = watchlists_pb2_grpc.WatchlistServiceStub(stack.handle.channel())
    rows = stub.ListAudit(
        pb.ListAuditRequest(actor=actor, limit=5000),
        metadata=bearer_metadata(stack.handle.admin_token),
    ).records
    return [(r.action, r.target, r.detail) for r in rows]


def test_a_wrong_token_is_refused_and_a_right_one_logs_in(
    stack: Stack, new_page: Callable[[], Page]
) -> None:
    page = new_page()
    page.goto(stack.url + "/alerts")
    assert page.url.endswith("/login?reason=required")
    shoot(page, "login")
    page.fill("#token", "okoa.0123456789abcdef.not-the-secret")
    with page.expect_navigation() as nav:
        page.click("button[type=submit]")
    assert nav.value.status == 401
    assert "Login refused: unknown API token" in page.inner_text("#login-message")
    login(page, stack, stack.tokens["alice"])
    assert page.url == stack.url + "/alerts"
    assert page.inner_text(".who").startswith("alice")
    cookie = next(c for c in page.context.cookies() if c["name"] == "__Host-oko_session")
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert any(
        a[0] == "console.login" and a[2] == "role operator" for a in audit_actions(stack, "alice")
    )


def test_an_event_from_the_box_arrives_live(stack: Stack, new_page: Callable[[], Page]) -> None:
    page = new_page()
    login(page, stack, stack.tokens["alice"])
    page.goto(stack.url + "/events")
    cursor = int(
        re.findall(r"after=(\d+)", page.get_attribute("tbody[data-stream]", "data-stream"))[0]
    )
    page.wait_for_selector("[data-live-state].on")
    page.wait_for_function(
        """after => [...document.querySelectorAll("#events tbody tr.fresh")]
                      .some(r => parseInt(r.id.split("-")[1]) > after)""",
        arg=cursor,
        timeout=90_000,
    )
    fresh = page.locator("#events tbody tr.fresh").first
    text = fresh.inner_text()
    assert CAMERA in text and ("crossed 'road'" in text or "'junction'" in text), text
    assert SITE in text  # the site's markup shown as text
    assert page.locator("#events tbody b").count() == 0
    shoot(page, "events")


def test_cameras_show_the_box_and_a_live_view_streams_only_while_open(
    stack: Stack, new_page: Callable[[], Page]
) -> None:
    page = new_page()
    login(page, stack, stack.tokens["alice"])
    page.goto(stack.url + "/cameras")
    row = page.locator(f"#cam-{stack.device_id}-{CAMERA}")
    assert "online" in row.inner_text() and "gate-box" in row.inner_text()
    assert SITE in row.inner_text() and page.locator("#cameras b").count() == 0
    shoot(page, "cameras")
    sent = stack.agent.metric("oko_agent_live_frames_sent_total")
    time.sleep(2)
    assert stack.agent.metric("oko_agent_live_frames_sent_total") == sent  # nothing unasked
    with page.expect_navigation():
        row.locator("button", has_text="Live view").click()
    assert re.search(r"/live/lv-[0-9a-f]{16}$", page.url), page.content()
    page.wait_for_function(
        "() => document.getElementById('live-frame').naturalWidth > 0", timeout=60_000
    )
    wait_until(lambda: int(page.inner_text("[data-field=frames]")) >= 2, 30, "two frames shown")
    assert page.inner_text("[data-field=size]").startswith("768×576")
    assert stack.agent.metric("oko_agent_live_views") == 1
    page.set_viewport_size({"width": 800, "height": 450})  # a small picture for the docs
    shoot(page, "live", photo=True)
    page.close()  # the page goes: the box must stop at once (and within a lease at worst)
    wait_until(lambda: stack.agent.metric("oko_agent_live_views") == 0, 10, "the box to stop")
    after = stack.agent.metric("oko_agent_live_frames_sent_total")
    assert after > sent
    time.sleep(2)
    assert stack.agent.metric("oko_agent_live_frames_sent_total") == after
    closes = [a for a in audit_actions(stack, "alice") if a[0] == "console.live.close"]
    assert closes and closes[-1][1] == f"{stack.device_id}/{CAMERA}"
    assert "the page was closed" in closes[-1][2]
    opens = [a for a in audit_actions(stack, "alice") if a[0] == "console.live.open"]
    assert opens and opens[-1][2] in closes[-1][2]


def test_two_operators_confirm_an_alert_and_one_cannot_confirm_twice(
    stack: Stack, new_page: Callable[[], Page]
) -> None:
    alice, bob = new_page(), new_page()
    login(alice, stack, stack.tokens["alice"])
    alice.wait_for_selector("[data-live-state].on")
    alert_id = raise_alert(stack, answer=True)
    row = alice.locator(f"#alert-{alert_id}")
    row.wait_for(timeout=30_000)  # arrived live, without a reload
    assert "Eileen Collins" in row.inner_text() and "candidate" in row.inner_text()
    # The box's best shot arrives after the alert: the row shows it, live too.
    alice.wait_for_function(
        """id => { const img = document.querySelector(`#alert-${id} td.evidence img`);
                   return img && img.complete && img.naturalWidth === 112; }""",
        arg=alert_id,
        timeout=60_000,
    )
    with alice.expect_navigation():
        row.locator("button.confirm").click()
    assert "1 more confirmation needed" in alice.inner_text(".flash")
    shoot(alice, "alerts")
    with alice.expect_navigation() as nav:
        alice.locator(f"#alert-{alert_id} button.confirm").click()
    assert nav.value.status == 409
    refusal = alice.inner_text("#decision-error")
    assert "has already decided it; a second operator must confirm" in refusal, refusal
    login(bob, stack, stack.tokens["bob"])
    with bob.expect_navigation():
        bob.locator(f"#alert-{alert_id} button.confirm").click()
    assert "it is now confirmed" in bob.inner_text(".flash")
    assert "confirmed" in bob.inner_text(f"#alert-{alert_id} .state")
    # Alice's page learns it live.
    alice.wait_for_selector(f"#alert-{alert_id}.confirmed", timeout=20_000)
    decisions = alice.inner_text(f"#alert-{alert_id} .decisions")
    assert "confirmed by alice" in decisions and "confirmed by bob" in decisions
    actions = audit_actions(stack, "alice")
    assert ("alert.confirm", alert_id, "now candidate") in actions
    assert any(a[0] == "evidence.view" and a[1] == alert_id for a in actions)
    assert any(a[0] == "console.refused" and alert_id in a[1] for a in actions)


def test_a_viewer_sees_alerts_but_is_refused_decisions_live_views_and_the_audit(
    stack: Stack, new_page: Callable[[], Page]
) -> None:
    alert_id = raise_alert(stack)
    page = new_page()
    login(page, stack, stack.tokens["victor"])
    page.locator(f"#alert-{alert_id}").wait_for()
    assert page.locator("button.confirm").count() == 0
    evidence = page.locator(f"#alert-{alert_id} td.evidence").inner_text()
    assert evidence == "evidence asked of the box"  # this test box never answers
    reply = post_form(
        page, f"/alerts/{alert_id}/decide", {"csrf": csrf_of(page), "kind": "confirm"}
    )
    assert reply.status == 403
    assert "has role viewer, this call needs operator" in page.inner_text("#refusal")
    page.goto(stack.url + "/cameras")
    assert page.locator("button", has_text="Live view").count() == 0
    reply = post_form(
        page, "/live", {"csrf": csrf_of(page), "device": stack.device_id, "camera": CAMERA}
    )
    assert reply.status == 403
    reply = page.goto(stack.url + "/audit")
    assert reply.status == 403 and "needs admin" in page.inner_text("#refusal")
    refused = [a for a in audit_actions(stack, "victor") if a[0] == "console.refused"]
    assert {r[1] for r in refused} >= {"alert decision", "live view", "audit"}
    stub = watchlists_pb2_grpc.WatchlistServiceStub(stack.handle.channel())
    alert = stub.GetAlert(
        pb.GetAlertRequest(alert_id=alert_id), metadata=bearer_metadata(stack.handle.admin_token)
    )
    assert not alert.decisions  # nothing was decided


def test_a_post_without_the_csrf_token_is_refused(
    stack: Stack, new_page: Callable[[], Page]
) -> None:
    alert_id = raise_alert(stack)
    page = new_page()
    login(page, stack, stack.tokens["bob"])
    reply = post_form(page, f"/alerts/{alert_id}/decide", {"kind": "reject"})
    assert reply.status == 403 and "no valid CSRF token" in page.inner_text("#refusal")
    reply = post_form(page, f"/alerts/{alert_id}/decide", {"kind": "reject", "csrf": "x" * 43})
    assert reply.status == 403
    page.goto(stack.url + "/alerts")
    assert "candidate" in page.inner_text(f"#alert-{alert_id} .state")


def test_an_expired_session_goes_back_to_the_login(
    stack: Stack, new_page: Callable[[], Page]
) -> None:
    """The session ends with its token: a token valid for 8 s, then a page after that."""
    created = time.monotonic()
    token = stack.token("shortlived", admin_pb2.ROLE_OPERATOR, ttl_seconds=8)
    page = new_page()
    login(page, stack, token)
    assert page.url == stack.url + "/alerts", page.inner_text("body")
    time.sleep(max(0.0, created + 8.5 - time.monotonic()))
    page.goto(stack.url + "/cameras")
    assert "/login?reason=" in page.url
    assert "expired" in page.inner_text("#login-message")
    reply = post_form(page, "/logout", {"csrf": "whatever"})
    assert reply.url.endswith("/login?reason=logout")


def test_markup_in_a_camera_id_is_refused_and_shown_as_text(
    stack: Stack, new_page: Callable[[], Page]
) -> None:
    page = new_page()
    login(page, stack, stack.tokens["alice"])
    evil = '<img src=x id=pwn onerror="document.title=1">'
    reply = post_form(
        page, "/live", {"csrf": csrf_of(page), "device": stack.device_id, "camera": evil}
    )
    assert reply.status == 400
    assert evil in page.inner_text("#refusal")
    assert page.locator("#pwn").count() == 0 and page.title() != "1"
    reply = page.goto(
        stack.url + "/counts?camera=" + "%3Cscript%3Edocument.title%3D1%3C%2Fscript%3E"
    )
    assert reply.status == 400 and "<script>" in page.inner_text("#refusal")
    assert page.title() != "1"
    page.goto(stack.url + "/cameras")
    post_form(page, "/live", {"csrf": csrf_of(page), "device": stack.device_id, "camera": "nocam"})
    page.wait_for_function(  # a well-formed id the box does not have: the box says so
        "() => document.querySelector('[data-field=box_error]').textContent.includes('nocam')"
    )
    assert "this box has no camera 'nocam'" in page.inner_text("[data-field=box_error]")


def test_counts_and_audit_pages(stack: Stack, new_page: Callable[[], Page]) -> None:
    page = new_page()
    login(page, stack, stack.tokens["admin"])
    page.goto(stack.url + "/counts?minutes=5&step=15")
    headings = page.locator(".chart-box h2").all_inner_texts()
    assert any(f"{CAMERA} · line road" == h for h in headings), headings
    assert any(f"{CAMERA} · zone junction occupancy" == h for h in headings), headings
    assert page.locator("svg.chart rect.in").count() > 0
    shoot(page, "counts")
    page.goto(stack.url + "/audit")
    with page.expect_navigation():
        page.click("button[name=verify]")
    verdict = page.inner_text("#verdict")
    assert verdict.startswith("Verified: ") and "every link holds" in verdict, verdict
    assert page.locator("#audit tbody tr").count() > 5
    shoot(page, "audit")
    page.fill("input[name=actor]", "alice")
    with page.expect_navigation():
        page.click("button:text('Show')")
    actors = set(page.locator("#audit tbody tr td:nth-child(3)").all_inner_texts())
    assert actors == {"alice"}
