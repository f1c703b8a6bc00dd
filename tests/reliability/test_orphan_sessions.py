"""Point 5: no failure kind leaves a proxy session behind (counted through QPS).

A login can fail after the proxy made its session in three ways, and each has its cure:

* the answer is late (a timeout): the transport still awaits it and ends the session it set;
* the answer is lost (the connection was cut after the proxy acted): with the site's client
  certificate, the sessions QPS shows appeared meanwhile are ended; without it the session
  is left to the proxy's inactivity timeout (the documented limit, tested here too);
* the login is refused, or a later step of it fails: nothing is made, or the session the
  cookie names is ended.

Timeouts come from the emulator's own ``latency_ms`` fault; lost and delayed answers from a
:class:`FaultyRelay` in front of the proxy, which lets the emulator act and then drops or
delays its answer.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from reliability_support import emulator_site, new_user, sessions_of

from qlikauth.auth.base import Authenticator
from qlikauth.auth.header import HeaderAuth
from qlikauth.auth.jwt import JwtAuth
from qlikauth.auth.session import SessionAuth
from qlikauth.auth.ticket import TicketAuth
from qlikauth.client import AsyncQlikClient, QlikClient
from qlikauth.errors import ApiError, HandshakeError, QlikAuthError, TransportError
from qlikauth.http import HttpTransport
from qlikauth.identity import QlikUser
from qlikauth.site import Site
from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.testing.hostile import SeenRequest
from qlikauth.testing.relay import Fault, FaultyRelay

#: Longer than the client waits (TIMEOUT), so every login times out and answers late.
LATENCY_MS = 1200
TIMEOUT = 0.4
#: How long a timed-out login's answer is still awaited: longer than the latency.
GRACE = 10.0


def _jwt(info: EmulatorInfo, user: str) -> Authenticator:
    return JwtAuth(user, "QLIKEMU", key=Path(info.virtual_proxy("jwt")["jwt_private_key"]))


#: (virtual proxy, how to log in as the user, the directory the session is under)
LOGINS: dict[str, tuple[str, Callable[[EmulatorInfo, str], Authenticator]]] = {
    "header": ("hdrdyn", lambda info, user: HeaderAuth(user, directory="QLIKEMU")),
    "jwt": ("jwt", _jwt),
    "session": ("hdr", lambda info, user: SessionAuth(user, "QLIKEMU")),
    "ticket": ("ticket", lambda info, user: TicketAuth(user, "QLIKEMU")),
}


def _client(site: Site, auth: Authenticator) -> QlikClient:
    return QlikClient(site, auth, transport=HttpTransport(site, timeout=TIMEOUT, late_grace=GRACE))


@pytest.fixture
def relay(qlik_emulator: EmulatorInfo) -> Iterator[FaultyRelay]:
    """A relay in front of the shared emulator's proxy (QPS stays direct)."""
    with FaultyRelay(qlik_emulator["ports"]["proxy"], qlik_emulator.certs_dir) as relayed:
        yield relayed


def _on(path_end: str, fault: Fault) -> Callable[[int, SeenRequest], Fault]:
    """A plan: ``fault`` for the first request whose path ends so, the rest pass."""
    hit: list[int] = []

    def plan(index: int, request: SeenRequest) -> Fault:
        if request.path.endswith(path_end) and not hit:
            hit.append(index)
            return fault
        return Fault()

    return plan


# --------------------------------------------------------------------------- late answers


@pytest.mark.parametrize("kind", ["header", "jwt", "session"])
def test_a_login_that_times_out_leaves_no_session(
    qlik_emulator_fresh: EmulatorInfo, kind: str
) -> None:
    info = qlik_emulator_fresh
    prefix, make = LOGINS[kind]
    user = new_user()
    client = _client(emulator_site(info, prefix), make(info, user))
    info.set_faults(latency_ms=LATENCY_MS)
    with pytest.raises(TransportError, match="timed out"):
        client.whoami()
    info.set_faults(latency_ms=0)
    client.close()  # waits for the late answer, and ends the session it made
    assert sessions_of(info, prefix, QlikUser("QLIKEMU", user)) == 0
    assert info.counters()["sessions_created"] >= 1  # the proxy did make one


def test_without_the_certificate_a_late_answer_is_still_cleaned_up(
    qlik_emulator_fresh: EmulatorInfo,
) -> None:
    info = qlik_emulator_fresh
    user = new_user()
    client = _client(emulator_site(info, "hdr", certificate=False), HeaderAuth(user))
    info.set_faults(latency_ms=LATENCY_MS)
    with pytest.raises(TransportError):
        client.whoami()
    info.set_faults(latency_ms=0)
    client.close()
    assert sessions_of(info, "hdr", QlikUser("QLIKEMU", user)) == 0


def test_an_asyncio_login_that_times_out_leaves_no_session(
    qlik_emulator_fresh: EmulatorInfo,
) -> None:
    info = qlik_emulator_fresh
    user = new_user()
    site = emulator_site(info, "jwt")

    async def main() -> None:
        transport = HttpTransport(site, timeout=TIMEOUT, late_grace=GRACE)
        client = AsyncQlikClient(site, _jwt(info, user), transport=transport)
        info.set_faults(latency_ms=LATENCY_MS)
        with pytest.raises(TransportError):
            await client.whoami()
        info.set_faults(latency_ms=0)
        await client.close()

    asyncio.run(main())
    assert sessions_of(info, "jwt", QlikUser("QLIKEMU", user)) == 0


@pytest.mark.parametrize("kind", ["header", "jwt", "ticket"])
def test_a_login_answered_too_late_leaves_no_session(
    qlik_emulator: EmulatorInfo, relay: FaultyRelay, kind: str
) -> None:
    prefix, make = LOGINS[kind]
    user = new_user()
    login_path = "/hub/" if kind == "ticket" else "/qrs/about"
    relay.plan = _on(login_path, Fault("delay", seconds=1.2))
    site = emulator_site(qlik_emulator, prefix, proxy_port=relay.port)
    client = _client(site, make(qlik_emulator, user))
    with pytest.raises(TransportError, match="timed out"):
        client.whoami()
    client.close()
    assert sessions_of(qlik_emulator, prefix, QlikUser("QLIKEMU", user)) == 0


# --------------------------------------------------------------------------- lost answers


@pytest.mark.parametrize("kind", ["header", "jwt", "ticket"])
def test_a_login_whose_answer_is_lost_leaves_no_session(
    qlik_emulator: EmulatorInfo, relay: FaultyRelay, kind: str
) -> None:
    prefix, make = LOGINS[kind]
    user = new_user()
    login_path = "/hub/" if kind == "ticket" else "/qrs/about"
    relay.plan = _on(login_path, Fault("cut-after"))
    site = emulator_site(qlik_emulator, prefix, proxy_port=relay.port)
    with _client(site, make(qlik_emulator, user)) as client, pytest.raises(TransportError):
        client.whoami()
    seen = [(r.path, f.kind) for r, f in relay.log]
    assert (next(p for p, _ in seen if p.endswith(login_path)), "cut-after") in seen
    assert sessions_of(qlik_emulator, prefix, QlikUser("QLIKEMU", user)) == 0


def test_a_session_added_through_qps_whose_answer_is_lost_is_ended(
    qlik_emulator: EmulatorInfo,
) -> None:
    qps_port = qlik_emulator["ports"]["qps"]
    user = new_user()
    with FaultyRelay(qps_port, qlik_emulator.certs_dir, mutual=True) as qps_relay:
        qps_relay.plan = _on("/session", Fault("cut-after"))
        site = emulator_site(qlik_emulator, "hdr", qps_port=qps_relay.port)
        with (
            _client(site, SessionAuth(user, "QLIKEMU")) as client,
            pytest.raises((TransportError, HandshakeError)),
        ):
            client.whoami()
    assert sessions_of(qlik_emulator, "hdr", QlikUser("QLIKEMU", user)) == 0


def test_without_the_certificate_a_lost_answer_is_left_to_the_inactivity_timeout(
    qlik_emulator: EmulatorInfo, relay: FaultyRelay
) -> None:
    """The documented limit: only QPS can name a session whose cookie never arrived."""
    user = new_user()
    relay.plan = _on("/qrs/about", Fault("cut-after"))
    site = emulator_site(qlik_emulator, "hdr", certificate=False, proxy_port=relay.port)
    with _client(site, HeaderAuth(user)) as client, pytest.raises(TransportError):
        client.whoami()
    assert sessions_of(qlik_emulator, "hdr", QlikUser("QLIKEMU", user)) == 1


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("step", ["/qps/csrftoken", "/qps/user"])
@pytest.mark.parametrize("fault", ["fail", "cut-before", "cut-after"])
def test_a_login_failing_after_the_cookie_ends_its_session(
    qlik_emulator: EmulatorInfo, relay: FaultyRelay, step: str, fault: str
) -> None:
    user = new_user()
    # Every try of the step fails: reads are retried, and the retries must fail too.
    relay.plan = lambda index, request: Fault(fault) if request.path.endswith(step) else Fault()
    site = emulator_site(qlik_emulator, "hdrdyn", proxy_port=relay.port)
    auth = HeaderAuth(user, directory="QLIKEMU")
    with _client(site, auth) as client, pytest.raises((TransportError, ApiError)):
        client.whoami()
    assert sessions_of(qlik_emulator, "hdrdyn", QlikUser("QLIKEMU", user)) == 0


def test_a_refused_connection_leaves_no_session(qlik_emulator: EmulatorInfo) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        user = new_user()
        site = emulator_site(qlik_emulator, "hdrdyn", proxy_port=port)
        auth = HeaderAuth(user, directory="QLIKEMU")
        with _client(site, auth) as client, pytest.raises(TransportError, match="could not"):
            client.whoami()
    assert sessions_of(qlik_emulator, "hdrdyn", QlikUser("QLIKEMU", user)) == 0


def test_a_proxy_refusing_with_503_leaves_no_session(
    qlik_emulator: EmulatorInfo, relay: FaultyRelay
) -> None:
    user = new_user()
    relay.plan = lambda index, request: Fault("fail")
    site = emulator_site(qlik_emulator, "hdrdyn", proxy_port=relay.port)
    with (
        _client(site, HeaderAuth(user, directory="QLIKEMU")) as client,
        pytest.raises(QlikAuthError, match="503"),
    ):
        client.whoami()
    assert sessions_of(qlik_emulator, "hdrdyn", QlikUser("QLIKEMU", user)) == 0
