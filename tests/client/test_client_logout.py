"""Closing a client ends its own proxy session, and no other session of the same user,
wherever Qlik offers a way to do that (QPS, with the client certificate)."""

from __future__ import annotations

import time

import pytest
from client_support import make_site, new_user_id, proxy_sessions

from qlikauth.auth.header import HeaderAuth
from qlikauth.client import QlikClient
from qlikauth.credentials import QlikUser
from qlikauth.errors import EngineClosedError
from qlikauth.testing.emulator import EmulatorInfo


def test_closing_one_client_leaves_the_users_other_sessions(
    qlik_emulator: EmulatorInfo,
) -> None:
    info = qlik_emulator
    user = QlikUser("QLIKEMU", new_user_id())
    site = make_site(info, "hdr")  # with the client certificate: QPS ends one session
    with QlikClient(site, HeaderAuth(user=user.user_id)) as first:
        doc = first.open_app(info.app_id("Sales"))
        with QlikClient(site, HeaderAuth(user=user.user_id)) as second:
            assert second.whoami() == user
            assert proxy_sessions(info, "hdr", user) == 2
        assert proxy_sessions(info, "hdr", user) == 1
        assert doc.evaluate("2 * 21") == 42  # the first client's socket never noticed
        assert first.login_count == 1
    assert proxy_sessions(info, "hdr", user) == 0


def test_without_a_certificate_logout_is_the_users_and_says_so_on_other_sockets(
    qlik_emulator: EmulatorInfo,
) -> None:
    info = qlik_emulator
    user = QlikUser("QLIKEMU", new_user_id())
    site = make_site(info, "hdr", certificate=False)  # the personal API is all there is
    app_id = info.app_id("Sales")
    with QlikClient(site, HeaderAuth(user=user.user_id)) as first:
        engine = first.engine(app_id)
        doc = engine.open_doc(app_id)
        with QlikClient(site, HeaderAuth(user=user.user_id)) as second:
            second.whoami()
        # Qlik's personal-API logout ends every session of the user on the virtual proxy.
        assert proxy_sessions(info, "hdr", user) == 0
        deadline = time.monotonic() + 10
        while not engine.closed and time.monotonic() < deadline:
            time.sleep(0.01)  # the logout notice reaches the socket asynchronously
        with pytest.raises(EngineClosedError) as closed:
            doc.evaluate("1")
        assert "OnSessionLoggedOut" in (closed.value.hint or "")
        assert first.whoami() == user  # the client itself logs in again, once
        assert first.login_count == 2
