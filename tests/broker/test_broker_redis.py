"""Two broker instances behind one load balancer: one limit, one replay guard, through a real
redis-server; and what happens without Redis, or when it is down."""

from __future__ import annotations

import asyncio
import socket

import pytest
from broker_support import FormClient, Stage, login_link, running_broker

from qlikauth import TransportError
from qlikauth.broker.redis_store import RedisStore

pytestmark = pytest.mark.timeout(120)


def second_client(stage: Stage, url: str) -> FormClient:
    client = stage.client()
    client.open(url + "?" + login_link(stage.info).split("?", 1)[1])
    return client


def test_two_instances_enforce_one_limit_through_redis(stage: Stage, redis_url: str) -> None:
    settings = stage.settings(redis_url=redis_url, limits={"per_user": 3, "per_address": 50})
    with running_broker(settings, stage.sock) as first, running_broker(settings) as second:
        assert first.port != second.port
        a = stage.client()
        a.open(login_link(stage.info))
        b = second_client(stage, second.url)
        assert a.submit("QLIKEMU\\carol", "wrong").status_code == 401
        assert b.submit("QLIKEMU\\carol", "wrong").status_code == 401
        assert a.submit("QLIKEMU\\carol", "wrong").status_code == 401
        refused = b.submit("QLIKEMU\\carol", stage.info.windows_password("carol"))
        assert refused.status_code == 429
        # A form used on one instance cannot be replayed on the other.
        a.open(login_link(stage.info))
        used = dict(a.form)
        assert a.submit("QLIKEMU\\dave", "wrong").status_code == 401
        b.form = used
        replay = b.submit("QLIKEMU\\dave", stage.info.windows_password("dave"))
        assert replay.status_code == 403


def test_in_memory_each_instance_counts_alone(stage: Stage) -> None:
    settings = stage.settings(limits={"per_user": 2, "per_address": 50})
    with running_broker(settings, stage.sock), running_broker(settings) as second:
        a = stage.client()
        a.open(login_link(stage.info))
        b = second_client(stage, second.url)
        assert a.submit("QLIKEMU\\carol", "wrong").status_code == 401
        assert a.submit("QLIKEMU\\carol", "wrong").status_code == 401
        assert a.submit("QLIKEMU\\carol", "wrong").status_code == 429
        # The other instance has not seen those failures: why several instances need Redis.
        assert b.submit("QLIKEMU\\carol", "wrong").status_code == 401


def test_logins_are_refused_while_redis_is_down(stage: Stage) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nobody listens here once the probe is closed
    with running_broker(stage.settings(redis_url=f"redis://127.0.0.1:{port}/0"), stage.sock):
        client = stage.client()
        client.open(login_link(stage.info))
        answer = client.submit("QLIKEMU\\bob", stage.info.windows_password("bob"))
        assert answer.status_code == 503
        assert "not possible right now" in answer.text
    entry = stage.audit()[-1]
    assert entry["result"] == "unavailable" and "TransportError" in entry["reason"]


def test_the_store_semantics_in_redis(redis_url: str) -> None:
    async def scenario() -> None:
        store = RedisStore(redis_url)
        try:
            assert await store.reserve("k", 2, 60)
            assert await store.reserve("k", 2, 60)
            assert not await store.reserve("k", 2, 60)
            assert 59 < await store.retry_after("k") <= 60
            await store.release("k")
            assert await store.reserve("k", 2, 60)
            await store.clear("k")
            assert await store.retry_after("k") == 0
            await store.release("k")  # never below zero, never revives an expired key
            assert await store.retry_after("k") == 0
            assert await store.first_use("nonce", 60)
            assert not await store.first_use("nonce", 60)
        finally:
            await store.close()
        assert "@" not in repr(RedisStore("redis://user:pw@127.0.0.1:1/0"))

    asyncio.run(scenario())


def test_an_unreachable_redis_is_a_transport_error() -> None:
    async def scenario() -> None:
        store = RedisStore("redis://127.0.0.1:1/0", timeout=2)
        try:
            with pytest.raises(TransportError, match="rate-limit store"):
                await store.reserve("k", 1, 1)
        finally:
            await store.close()

    asyncio.run(scenario())
