"""Point 2 (engine calls wait forever) and point 3's engine message cap, against a hostile
engine that greets and then stays silent, answers other ids, or sends one huge message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_support import HANG_GUARD, hang_guard

from qlikauth.auth.header import HeaderAuth
from qlikauth.cli import main
from qlikauth.client import AsyncQlikClient, QlikClient
from qlikauth.engine import DEFAULT_CALL_TIMEOUT, DEFAULT_MAX_MESSAGE_SIZE
from qlikauth.errors import EngineMessageTooLargeError, EngineTimeoutError, QlikAuthError
from qlikauth.testing.hostile import HostileServer

MIB = 1 << 20


@pytest.fixture
def silent() -> Iterator[HostileServer]:
    with HostileServer(engine="silent") as server:
        yield server


def test_an_engine_connection_has_a_default_call_deadline(silent: HostileServer) -> None:
    with QlikClient(silent.site(), HeaderAuth("mallory")) as client:
        connection = client.engine()
        assert connection.call_timeout == DEFAULT_CALL_TIMEOUT
        assert 0 < DEFAULT_CALL_TIMEOUT < float("inf")
        # No limit only when asked for.
        assert client.engine(call_timeout=None).call_timeout is None


def test_a_sent_call_waits_the_connections_deadline_by_default(silent: HostileServer) -> None:
    with QlikClient(silent.site(), HeaderAuth("mallory")) as client:
        connection = client.engine(call_timeout=0.5)
        call = connection.send(-1, "GetDocList")
        with hang_guard(silent.close) as run, pytest.raises(EngineTimeoutError, match=r"0\.5 s"):
            run(call.result)


def test_an_explicit_call_timeout_ends_a_silent_call(silent: HostileServer) -> None:
    with QlikClient(silent.site(), HeaderAuth("mallory")) as client:
        connection = client.engine(call_timeout=0.5)
        with hang_guard(silent.close) as run, pytest.raises(EngineTimeoutError):
            run(lambda: connection.call(-1, "GetDocList"))


def test_eval_with_a_timeout_ends_against_a_silent_engine(
    silent: HostileServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[profiles.hostile]\nserver = "localhost"\nprefix = "hdr"\n'
        f'cookie_name = "X-Qlik-Session-hdr"\nroot = "{silent.root}"\n'
        f'proxy_port = {silent.port}\nauthenticator = "header"\n'
        '[profiles.hostile.auth]\nuser = "mallory"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(config))
    monkeypatch.setenv("QLIKAUTH_SESSION_STORE", "file")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # A hang guard of six times the --timeout; not a speed limit.
    with hang_guard(silent.close, limit=6.0) as run:
        code = run(lambda: main(["eval", "Sales", "1+1", "--timeout", "1"]))
    assert code == 1
    err = capsys.readouterr().err
    assert "GetDocList got no answer within 1 s" in err
    assert "--timeout" in err  # the hint names the setting


def test_a_reply_with_an_unknown_id_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="qlikauth")
    with (
        HostileServer(engine="wrong-ids") as server,
        QlikClient(server.site(), HeaderAuth("mallory")) as client,
    ):
        connection = client.engine(call_timeout=1.0)
        call = connection.send(-1, "GetDocList")
        with pytest.raises(EngineTimeoutError):
            call.result(1.0)
    unknown = str(call.request_id + 10_000)
    assert any(
        r.name.startswith("qlikauth.engine")
        and r.name != "qlikauth.engine.websocket"  # the frames themselves, at DEBUG
        and r.levelno >= logging.INFO
        and unknown in r.getMessage()
        for r in caplog.records
    )


def test_a_huge_engine_message_is_refused_by_default() -> None:
    with (
        HostileServer(engine="huge", engine_bytes=48 * MIB) as server,
        QlikClient(server.site(), HeaderAuth("mallory")) as client,
    ):
        connection = client.engine(call_timeout=30.0)
        with pytest.raises(EngineMessageTooLargeError, match="larger than max_message_size") as e:
            connection.call(-1, "GetDocList")
    assert "32 MiB" in str(e.value) and e.value.method == "GetDocList"
    assert e.value.hint is not None and "max_message_size=" in e.value.hint
    assert DEFAULT_MAX_MESSAGE_SIZE == 32 * MIB


def test_the_engine_message_cap_is_configurable() -> None:
    with (
        HostileServer(engine="huge", engine_bytes=2 * MIB) as server,
        QlikClient(server.site(), HeaderAuth("mallory")) as client,
    ):
        small = client.engine(call_timeout=30.0, max_message_size=MIB)
        with pytest.raises(EngineMessageTooLargeError, match=r"\(1 MiB\)"):
            small.call(-1, "GetDocList")
        assert small.closed
        with pytest.raises(QlikAuthError, match="closed"):
            small.call(-1, "GetDocList")
        # The same answer fits the default cap, and is read whole.
        result = client.engine(call_timeout=30.0).call(-1, "GetDocList")
        assert len(str(result["pad"])) > 2 * MIB - 100


def test_the_asyncio_connection_has_the_same_deadline_and_cap() -> None:
    async def main(server: HostileServer) -> None:
        async with AsyncQlikClient(server.site(), HeaderAuth("mallory")) as client:
            connection = await client.engine()
            assert connection.call_timeout == DEFAULT_CALL_TIMEOUT
            small = await client.engine(max_message_size=MIB)
            with pytest.raises(EngineMessageTooLargeError, match=r"\(1 MiB\)"):
                await small.call(-1, "GetDocList", timeout=30.0)

    with HostileServer(engine="huge", engine_bytes=2 * MIB) as server:
        asyncio.run(asyncio.wait_for(main(server), HANG_GUARD))
