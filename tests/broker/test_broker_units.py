"""The broker's pure parts by hand: form tokens, the limit store and limiter, which login a
request is for, the pages and the audit log."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from qlikauth import Site, VirtualProxy
from qlikauth.broker import AuditLog, BrokerSettings, LimitSettings, VirtualProxyRoute
from qlikauth.broker.csrf import FormTokens, VerifiedToken
from qlikauth.broker.limits import LoginLimiter, MemoryStore, RateLimited, Reservation
from qlikauth.broker.pages import login_page, refusal_page
from qlikauth.broker.targets import LoginTarget, Refusal, login_target
from qlikauth.testing.clock import ManualClock
from qlikauth.validators import LogonUserValidator

T = TypeVar("T")
SECRET = b"k" * 40


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


# --------------------------------------------------------------------------- form tokens


def test_a_token_is_bound_to_its_cookie_and_login_and_expires() -> None:
    clock = ManualClock(1_000_000.0)
    tokens = FormTokens(SECRET, lifetime=600, clock=clock)
    cookie = FormTokens.new_cookie()
    token = tokens.issue(cookie, "route\nrest\ntarget")
    verified = tokens.verify(token, cookie, "route\nrest\ntarget")
    assert isinstance(verified, VerifiedToken) and verified.nonce in token
    assert tokens.verify(token, FormTokens.new_cookie(), "route\nrest\ntarget") == "invalid"
    assert tokens.verify(token, cookie, "route\nrest\nother-target") == "invalid"
    assert (
        FormTokens(b"x" * 40, lifetime=600, clock=clock).verify(
            token, cookie, "route\nrest\ntarget"
        )
        == "invalid"
    )
    issued, nonce, mac = token.split(".")
    assert (
        tokens.verify(f"{int(issued) + 1}.{nonce}.{mac}", cookie, "route\nrest\ntarget")
        == "invalid"
    )
    for broken in ("", "a.b", "x.y.z", "1.2.3.4", "9" * 300):
        assert tokens.verify(broken, cookie, "b") in ("missing", "invalid")
    assert tokens.verify(token, None, "route\nrest\ntarget") == "missing"
    clock.advance(601)
    assert tokens.verify(token, cookie, "route\nrest\ntarget") == "stale"
    clock.advance(-(601 + 3600))  # a token from the future: another clock far ahead
    assert tokens.verify(token, cookie, "route\nrest\ntarget") == "stale"


def test_form_cookies() -> None:
    assert FormTokens.is_cookie(FormTokens.new_cookie())
    assert not FormTokens.is_cookie(None)
    assert not FormTokens.is_cookie("")
    assert not FormTokens.is_cookie("x" * 65)
    assert not FormTokens.is_cookie("é")


# --------------------------------------------------------------------------- limits


def test_the_memory_store_counts_within_a_window() -> None:
    clock = ManualClock(1_000_000.0)
    store = MemoryStore(clock=clock)

    async def scenario() -> None:
        assert await store.reserve("k", 2, 10)
        assert await store.reserve("k", 2, 10)
        assert not await store.reserve("k", 2, 10)
        assert await store.retry_after("k") == 10
        clock.advance(4)
        await store.release("k")
        assert await store.reserve("k", 2, 10)
        clock.advance(6)  # the window began at the first attempt
        assert await store.retry_after("k") == 0
        assert await store.reserve("k", 2, 10)
        await store.clear("k")
        await store.release("k")
        assert await store.retry_after("k") == 0
        assert await store.first_use("n", 5)
        assert not await store.first_use("n", 5)
        clock.advance(5)
        assert await store.first_use("n", 5)

    run(scenario())


def test_the_limiter_settles_each_login() -> None:
    clock = ManualClock(1_000_000.0)
    store = MemoryStore(clock=clock)
    limiter = LoginLimiter(store, LimitSettings(per_user=2, per_address=3, window=60), SECRET)

    async def scenario() -> None:
        for _ in range(2):
            reservation = await limiter.reserve("alice", "10.0.0.1")
            assert isinstance(reservation, Reservation)
            await reservation.failed()
        refused = await limiter.reserve("alice", "10.0.0.2")
        assert isinstance(refused, RateLimited) and refused.scope == "user"
        assert refused.retry_after == 60
        # A refused attempt gave its address reservation back.
        assert isinstance(await limiter.reserve("bob", "10.0.0.2"), Reservation)
        # 10.0.0.1 has two failures; one more attempt is allowed, then it is refused.
        third = await limiter.reserve("carol", "10.0.0.1")
        assert isinstance(third, Reservation)
        await third.failed()
        by_address = await limiter.reserve("dave", "10.0.0.1")
        assert isinstance(by_address, RateLimited) and by_address.scope == "address"
        # Success forgets the user's failures and gives the address its attempt back.
        erin = await limiter.reserve("erin", "10.0.0.3")
        assert isinstance(erin, Reservation)
        await erin.failed()
        again = await limiter.reserve("erin", "10.0.0.3")
        assert isinstance(again, Reservation)
        await again.succeeded()
        for _ in range(2):
            undecided = await limiter.reserve("erin", "10.0.0.3")
            assert isinstance(undecided, Reservation)
            await undecided.undecided()
        assert isinstance(await limiter.reserve("erin", "10.0.0.3"), Reservation)
        clock.advance(61)
        assert isinstance(await limiter.reserve("alice", "10.0.0.1"), Reservation)
        assert await limiter.first_use("nonce", 10)
        assert not await limiter.first_use("nonce", 10)

    run(scenario())


def test_store_keys_hold_no_typed_names() -> None:
    limiter = LoginLimiter(MemoryStore(), LimitSettings(), SECRET)
    key = limiter.key("user", "alice")
    assert "alice" not in key and key.startswith("qlikauth:broker:user:")
    assert key == limiter.key("user", "alice") != limiter.key("address", "alice")
    assert LoginLimiter(MemoryStore(), LimitSettings(), b"z" * 40).key("user", "alice") != key


# --------------------------------------------------------------------------- targets

SITE = Site("qlik1.corp.example", VirtualProxy("ticket"))
NODE2 = Site("qlik2.corp.example", VirtualProxy("ticket"))
REST = "https://qlik2.corp.example:4243/qps/ticket/"


def settings() -> BrokerSettings:
    routes = (VirtualProxyRoute("sales", (SITE, NODE2)),)
    return BrokerSettings(routes=routes, validator=LogonUserValidator(), secret=SECRET)


def test_which_login_a_request_is_for() -> None:
    default = login_target(settings(), [], [])
    assert isinstance(default, LoginTarget) and default.node is SITE and default.target_id is None
    found = login_target(settings(), ["5f0c-guid"], [REST])
    assert isinstance(found, LoginTarget) and found.node is NODE2
    assert found.binding == f"sales\n{REST}\n5f0c-guid"
    cases = {
        "unknown_proxy_rest_uri": [
            ([], ["https://evil.example:4243/qps/ticket/"]),
            (["id"], []),
            (["id"], [REST, REST]),
        ],
        "missing_target_id": [([], [REST])],
        "malformed_target_id": [
            (["a b"], [REST]),
            (["<x>"], [REST]),
            (["a" * 129], [REST]),
            (["a", "b"], [REST]),
            ([""], [REST]),
        ],
    }
    for reason, requests in cases.items():
        for target_ids, rests in requests:
            refused = login_target(settings(), target_ids, rests)
            assert isinstance(refused, Refusal) and refused.reason == reason


# --------------------------------------------------------------------------- pages


def test_the_login_page_escapes_and_keeps_no_password() -> None:
    page = login_page(
        title="Qlik <Sense>",
        token="t.o.k",
        target_id="id-1",
        proxy_rest_uri='https://q/"x"',
        user='<b>"alice"</b>',
        error="Wrong & <again>",
    )
    assert "<b>" not in page and "&lt;b&gt;&quot;alice&quot;&lt;/b&gt;" in page
    assert "Qlik &lt;Sense&gt;" in page and "Wrong &amp; &lt;again&gt;" in page
    assert 'value="https://q/&quot;x&quot;"' in page
    assert 'type="password" autocomplete="current-password" required aria-invalid="true">' in page
    assert 'role="alert"' in page and 'aria-describedby="user-help login-error"' in page
    plain = login_page(title="Q", token="t", target_id=None, proxy_rest_uri=None)
    assert "targetId" not in plain and "role=" not in plain and "aria-invalid" not in plain
    refusal = refusal_page(title="Q", heading="No", message="<why>", ref="abc123")
    assert "&lt;why&gt;" in refusal and "abc123" in refusal and "<form" not in refusal


# --------------------------------------------------------------------------- audit


def test_the_audit_log_is_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    audit = AuditLog(path)
    audit.record("success", user="CORP\\alice", client="10.0.0.1", virtual_proxy="q/ticket")
    audit.record("refused", user=None, client="10.0.0.2", virtual_proxy=None, reason="x", ref="r")
    audit.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert first["user"] == "CORP\\alice" and first["result"] == "success"
    assert first["time"].endswith("+00:00") and "reason" not in first
    assert (second["user"], second["reason"], second["ref"]) == (None, "x", "r")
    AuditLog("-").record("success", user="u", client="c", virtual_proxy="v")
    assert json.loads(capsys.readouterr().out)["user"] == "u"
