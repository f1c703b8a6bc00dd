"""Session life against the emulator: expiry and renewal, the session limit, many threads."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from client_support import end_user_sessions, make_site, new_user_id, proxy_sessions, qps

from qlikauth.auth.header import HeaderAuth
from qlikauth.auth.jwt import JwtAuth
from qlikauth.client import AsyncQlikClient, QlikClient
from qlikauth.credentials import QlikUser
from qlikauth.errors import ApiError, SessionExpiredError, SessionLimitError
from qlikauth.testing.clock import ManualClock
from qlikauth.testing.emulator import EmulatorInfo


def test_expired_session_is_renewed_transparently(
    qlik_emulator_factory: Any, manual_clock: ManualClock
) -> None:
    info = qlik_emulator_factory(session_timeout=60.0, clock=manual_clock)
    site = make_site(info, "hdr")
    user = QlikUser("QLIKEMU", new_user_id())
    with QlikClient(site, HeaderAuth(user=user.user_id)) as client:
        first = client.credentials()
        assert client.whoami() == user
        manual_clock.advance(61)  # the proxy forgets the idle session; the client does not know
        assert client.get("qrs/about").status == 200
        assert client.login_count == 2
        assert client.credentials().session_id != first.session_id
        with client.engine() as engine:
            assert engine.global_.engine_version()
        assert proxy_sessions(info, "hdr", user) == 1


def test_client_side_timer_logs_in_before_the_proxy_would_refuse(
    qlik_emulator: EmulatorInfo, manual_clock: ManualClock
) -> None:
    site = make_site(qlik_emulator, "hdr")
    user = QlikUser("QLIKEMU", new_user_id())
    client = QlikClient(
        site, HeaderAuth(user=user.user_id), session_timeout=40, leeway=10, clock=manual_clock
    )
    with client:
        first = client.credentials()
        manual_clock.advance(20)
        client.whoami()  # use restarts the inactivity timer
        manual_clock.advance(20)
        assert client.credentials() is first
        manual_clock.advance(40)
        renewed = client.credentials()
        assert renewed is not first
        assert client.login_count == 2
        # the old session was logged out before the new login: still one session
        assert proxy_sessions(qlik_emulator, "hdr", user) == 1


def test_an_open_engine_socket_keeps_the_timer_from_ending_its_session(
    qlik_emulator: EmulatorInfo, manual_clock: ManualClock
) -> None:
    # Engine-only work for longer than the client's timer must not make the next download
    # or REST call log out the session the open socket is using.
    site = make_site(qlik_emulator, "hdr")
    user = QlikUser("QLIKEMU", new_user_id())
    client = QlikClient(
        site, HeaderAuth(user=user.user_id), session_timeout=40, leeway=10, clock=manual_clock
    )
    with client, client.engine() as engine:
        first = client.credentials()
        for _ in range(4):
            manual_clock.advance(20)
            assert engine.global_.engine_version()
        assert client.credentials() is first
        assert client.login_count == 1
        assert engine.global_.engine_version()  # the socket's session is still there
        assert proxy_sessions(qlik_emulator, "hdr", user) == 1


def test_session_deleted_on_the_server_is_renewed_for_the_engine(
    qlik_emulator: EmulatorInfo, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qlikauth.client")
    site = make_site(qlik_emulator, "hdr")
    user = QlikUser("QLIKEMU", new_user_id())
    with QlikClient(site, HeaderAuth(user=user.user_id)) as client:
        client.whoami()
        end_user_sessions(qlik_emulator, "hdr", user)
        with client.engine() as engine:
            assert engine.global_.engine_version()
        assert client.login_count == 2
        assert "engine refused (WebSocketRejectedError)" in caplog.text
        assert proxy_sessions(qlik_emulator, "hdr", user) == 1


def test_existing_session_that_ended_raises_the_specific_error(
    qlik_emulator: EmulatorInfo,
) -> None:
    from client_support import AUTH_CASES

    case = next(c for c in AUTH_CASES if c.name == "existing")
    user_id = new_user_id()
    site = make_site(qlik_emulator, "hdr")
    with QlikClient(site, case.build(qlik_emulator, user_id)) as client:
        assert client.whoami() == QlikUser("CORP", user_id)
        end_user_sessions(qlik_emulator, "hdr", QlikUser("CORP", user_id))
        with pytest.raises(SessionExpiredError, match="not valid"):
            client.whoami()


def _refusal(client: QlikClient, mode: str) -> SessionLimitError:
    """The session limit's refusal as each emulator mode gives it: the login itself
    ("login"), or the engine websocket of a login that went through ("websocket", as live
    servers were seen to do)."""
    if mode == "login":
        with pytest.raises(SessionLimitError) as refused:
            client.whoami()
        return refused.value
    client.whoami()  # the login goes through
    with pytest.raises(SessionLimitError) as refused:
        client.engine()
    return refused.value


@pytest.mark.parametrize("mode", ["websocket", "login"])
@pytest.mark.parametrize("certificate", [True, False], ids=["qps-count", "proxy-count"])
def test_session_limit_says_how_many_and_how_to_free_them(
    qlik_emulator_factory: Callable[..., EmulatorInfo], certificate: bool, mode: str
) -> None:
    qlik_emulator = qlik_emulator_factory(session_limit=mode)
    user = QlikUser("QLIKEMU", new_user_id())
    site = make_site(qlik_emulator, "hdr", certificate=certificate)
    holders = [QlikClient(site, HeaderAuth(user=user.user_id)) for _ in range(5)]
    # The websocket mode lets the sixth login through: it holds a sixth session.
    held = 6 if mode == "websocket" else 5
    try:
        for holder in holders:
            holder.credentials()
        sixth = QlikClient(site, HeaderAuth(user=user.user_id))
        with sixth:
            error = _refusal(sixth, mode)
        assert error.session_count == held
        assert str(error.user) == str(user)
        text = str(error)
        assert f"{user} holds {held} proxy session(s) on all virtual proxies together" in text
        if certificate:
            assert f"{held} of them on virtual proxy 'hdr' (QPS user API)" in text
        else:
            assert "QPS could not be asked" in text
        assert f"/qps/hdr/user/QLIKEMU/{user.user_id}" in text
        assert "the limit counts the sessions on every virtual proxy together" in text
    finally:
        for holder in holders:
            holder.close()
    assert proxy_sessions(qlik_emulator, "hdr", user) == 0


@pytest.mark.parametrize("mode", ["websocket", "login"])
def test_the_session_limit_counts_every_virtual_proxy_and_its_hint_frees_them(
    qlik_emulator_factory: Callable[..., EmulatorInfo], mode: str
) -> None:
    info = qlik_emulator_factory(session_limit=mode)
    user = QlikUser("QLIKEMU", new_user_id())
    site = make_site(info, "hdr")
    other = make_site(info, "hdrdyn")  # the same user, through a dynamic-header proxy
    holders = [QlikClient(other, HeaderAuth(user=str(user))) for _ in range(3)]
    holders += [QlikClient(site, HeaderAuth(user=user.user_id)) for _ in range(2)]
    try:
        for holder in holders:
            holder.credentials()
        sixth = QlikClient(site, HeaderAuth(user=user.user_id))
        with sixth:
            error = _refusal(sixth, mode)
            on_hdr = 3 if mode == "websocket" else 2
            assert error.session_count == on_hdr + 3  # what the limit counts, not QPS's part
            text = str(error)
            assert f"holds {on_hdr + 3} proxy session(s) on all virtual proxies together" in text
            assert f"{on_hdr} of them on virtual proxy 'hdr' (QPS user API)" in text
            assert "virtual proxy 'hdrdyn'" not in text  # the client knows only its own
            # Follow the hint: the DELETE it names, then the same under the other prefix.
            url = next(w for w in (error.hint or "").split() if w.startswith("https://"))
            for target in (url, url.replace("/qps/hdr/", "/qps/hdrdyn/")):
                path = target.split("/qps/", 1)[1]
                assert qps(info, "DELETE", path).status_code == 200
            assert proxy_sessions(info, "hdr", user) == proxy_sessions(info, "hdrdyn", user) == 0
            # The sixth client, refused a moment ago, now works: one fresh session.
            with sixth.engine() as engine:
                assert engine.global_.engine_version()
            assert proxy_sessions(info, "hdr", user) == 1
    finally:
        for holder in holders:
            holder.close()


def test_hundred_threads_share_one_login_and_one_session(qlik_emulator: EmulatorInfo) -> None:
    site = make_site(qlik_emulator, "jwt")
    user = QlikUser("CORP", new_user_id())
    key = qlik_emulator.virtual_proxy("jwt")["jwt_private_key"]
    start = threading.Barrier(100)

    with QlikClient(site, JwtAuth(user=user.user_id, directory="CORP", key=key)) as client:

        def work(_: int) -> QlikUser:
            start.wait()
            assert client.get("qrs/about").status == 200
            return client.whoami()

        with ThreadPoolExecutor(max_workers=100) as pool:
            users = list(pool.map(work, range(100)))
        assert users == [user] * 100
        assert client.login_count == 1
        assert proxy_sessions(qlik_emulator, "jwt", user) == 1


def test_async_client_tasks_share_one_login(qlik_emulator: EmulatorInfo, tmp_path: Path) -> None:
    site = make_site(qlik_emulator, "hdr")
    user = QlikUser("QLIKEMU", new_user_id())

    async def main() -> None:
        async with AsyncQlikClient(site, HeaderAuth(user=user.user_id)) as client:
            users = await asyncio.gather(*(client.whoami() for _ in range(50)))
            assert users == [user] * 50
            about = await client.get("qrs/about")
            assert about.status == 200
            engine = await client.engine()
            try:
                assert await engine.global_.engine_version()
            finally:
                await engine.close()
            doc = await client.open_app(qlik_emulator.app_id("Sales"))
            cube = await doc.create_hypercube(["Region"], ["Sum(Amount)"])
            result = await client.download(await cube.export_data("CSV_C"), tmp_path / "s.csv")
            assert (tmp_path / "s.csv").read_bytes().startswith(b"Region,")
            assert result.size == (tmp_path / "s.csv").stat().st_size
            assert client.login_count == 1
            assert proxy_sessions(qlik_emulator, "hdr", user) == 1
            end_user_sessions(qlik_emulator, "hdr", user)
            assert await client.whoami() == user
            assert client.login_count == 2
        assert proxy_sessions(qlik_emulator, "hdr", user) == 0

    asyncio.run(main())


def test_a_server_error_is_not_called_an_expired_session(qlik_emulator_fresh: EmulatorInfo) -> None:
    info = qlik_emulator_fresh
    with QlikClient(make_site(info, "hdr"), HeaderAuth(user=new_user_id())) as client:
        client.whoami()
        info.set_faults(error_rate=1.0)
        try:
            with pytest.raises(ApiError) as failed:
                client.whoami()
        finally:
            info.set_faults(error_rate=0.0)
        assert not isinstance(failed.value, SessionExpiredError)
        assert failed.value.status == 503
        assert "not the credentials" in (failed.value.hint or "")
        assert client.login_count == 1  # a server error is no reason to log in again


def test_the_log_says_logged_in_only_for_a_session_qlikauth_made(
    qlik_emulator: EmulatorInfo, caplog: pytest.LogCaptureFixture
) -> None:
    from qlikauth.auth.existing import ExistingSessionAuth

    caplog.set_level(logging.INFO, logger="qlikauth.client")
    site = make_site(qlik_emulator, "hdr")
    user = QlikUser("QLIKEMU", new_user_id())
    with QlikClient(site, HeaderAuth(user=user.user_id), logout_on_close=False) as made:
        session_id = made.credentials().session_id
    assert caplog.text.count("logged in to") == 1
    caplog.clear()
    assert session_id
    with QlikClient(site, ExistingSessionAuth(session_id=session_id)) as reused:
        reused.whoami()

    async def reuse_async() -> None:
        async with AsyncQlikClient(site, ExistingSessionAuth(session_id=session_id)) as client:
            await client.whoami()

    asyncio.run(reuse_async())
    assert caplog.text.count(f"using a session on {site.origin}") == 2
    assert "logged in to" not in caplog.text
    end_user_sessions(qlik_emulator, "hdr", user)
