"""The QPS client: request builders and answer readers by hand, then the emulator's QPS."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from qlikauth import (
    ApiError,
    ConfigurationError,
    HandshakeError,
    QlikUser,
    SessionLimitError,
    Site,
    TicketError,
    TlsConfig,
    TlsError,
    TransportError,
    VirtualProxy,
    XrfkeyRejectedError,
)
from qlikauth.http import Flow, HttpRequest, HttpResponse, with_xrfkey
from qlikauth.pki import make_test_pki
from qlikauth.qps import (
    AsyncQpsClient,
    QpsClient,
    Ticket,
    add_session_flow,
    add_session_request,
    attribute_list,
    delete_session_request,
    get_session_request,
    list_sessions_request,
    logout_user_request,
    parse_session,
    parse_sessions,
    parse_ticket,
    ticket_request,
    user_sessions_request,
)
from qlikauth.qps.flows import list_sessions_flow, retried
from qlikauth.testing.contract import emulator_site
from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.tls import CertificateBundle

SITE = Site("qlik.example.com", VirtualProxy("vp", "X-Qlik-Session-vp"))
ALICE = QlikUser("CORP", "alice")


def _key_of(request: HttpRequest) -> str:
    key = parse_qs(urlsplit(request.url).query)["xrfkey"][0]
    assert request.headers["X-Qlik-Xrfkey"] == key
    assert len(key) == 16 and key.isalnum()
    return key


def _json(status: int, data: object) -> HttpResponse:
    return HttpResponse(status, (("Content-Type", "application/json"),), json.dumps(data).encode())


# --- requests ------------------------------------------------------------------------------


def test_ticket_request_shape() -> None:
    request = ticket_request(
        SITE, ALICE, attributes={"Group": ["Sales", "EU"], "Email": ""}, target_id="t-1"
    )
    parts = urlsplit(request.url)
    assert (request.method, parts.scheme, parts.port, parts.path) == (
        "POST",
        "https",
        4243,
        "/qps/vp/ticket",
    )
    _key_of(request)
    assert request.headers["Content-Type"] == "application/json"
    assert request.body is not None
    assert json.loads(request.body) == {
        "UserDirectory": "CORP",
        "UserId": "alice",
        "Attributes": [{"Group": "Sales"}, {"Group": "EU"}, {"Email": ""}],
        "TargetId": "t-1",
    }
    assert _key_of(ticket_request(SITE, ALICE)) != _key_of(ticket_request(SITE, ALICE))
    assert _key_of(ticket_request(SITE, ALICE, xrfkey="abcdefghijklmnop")) == "abcdefghijklmnop"


def test_attribute_forms() -> None:
    assert attribute_list(None) == []
    assert attribute_list([("Group", "a"), ("Group", "b")]) == [{"Group": "a"}, {"Group": "b"}]
    with pytest.raises(ConfigurationError):
        attribute_list({"": "x"})


def test_session_and_user_requests() -> None:
    session_id = str(uuid.uuid4())
    add = add_session_request(SITE, ALICE, session_id)
    assert add.body is not None and json.loads(add.body)["SessionId"] == session_id
    weird = QlikUser("CORP X", "a/b")
    cases = [
        (get_session_request(SITE, session_id), "GET", f"/qps/vp/session/{session_id}"),
        (list_sessions_request(SITE), "GET", "/qps/vp/session"),
        (delete_session_request(SITE, session_id), "DELETE", f"/qps/vp/session/{session_id}"),
        (user_sessions_request(SITE, weird), "GET", "/qps/vp/user/CORP%20X/a%2Fb"),
        (logout_user_request(SITE, ALICE), "DELETE", "/qps/vp/user/CORP/alice"),
    ]
    for request, method, path in cases:
        assert (request.method, urlsplit(request.url).path) == (method, path)
        _key_of(request)
    default = list_sessions_request(SITE.with_prefix(""))
    assert urlsplit(default.url).path == "/qps/session"


# --- answers -------------------------------------------------------------------------------


def test_parse_ticket() -> None:
    answer = _json(201, {"Ticket": "T1", "TargetUri": "https://qlik.example.com/vp/hub/"})
    ticket = parse_ticket(answer, SITE, ALICE, now=1000.0)
    assert (ticket.ticket, ticket.expires_at, ticket.prefix) == ("T1", 1060.0, "vp")
    assert "T1" not in repr(ticket) and "T1" not in str(ticket)
    assert ticket.redirect_url(SITE) == "https://qlik.example.com/vp/hub/?qlikTicket=T1"
    camel = parse_ticket(_json(200, {"ticket": "T2", "targetUri": None}), SITE, ALICE, now=0)
    assert camel.ticket == "T2"
    assert camel.redirect_url(SITE) == "https://qlik.example.com/vp/hub/?qlikTicket=T2"
    foreign = Ticket("T3", "https://evil.example/", ALICE, 0.0, "vp")
    with pytest.raises(ConfigurationError, match="not on this site"):
        foreign.redirect_url(SITE)


def test_a_ticket_target_may_name_the_proxy_by_a_configured_name() -> None:
    ticket = Ticket("T4", "https://qlik-lb.example.com/vp/hub/?x=1", ALICE, 0.0, "vp")
    with pytest.raises(ConfigurationError, match="proxy_names"):
        ticket.redirect_url(SITE)
    assert (
        ticket.redirect_url(SITE, proxy_names=["QLIK-LB.example.com"])
        == "https://qlik-lb.example.com/vp/hub/?x=1&qlikTicket=T4"
    )
    assert ticket.redirect_url(SITE, proxy_names="qlik-lb.example.com:443").endswith("T4")
    refused = {
        "another name": ["other.example.com"],
        "another port": ["qlik-lb.example.com:8443"],
        "a near miss": ["lb.example.com", "qlik-lb.example.co"],
    }
    for names in refused.values():
        with pytest.raises(ConfigurationError, match="not on this site"):
            ticket.redirect_url(SITE, proxy_names=names)
    for target in (
        "http://qlik-lb.example.com/vp/hub/",  # not the site's scheme
        "https://qlik-lb.example.com:9443/vp/hub/",  # a port the name does not allow
        "https://user:pw@qlik-lb.example.com/vp/hub/",  # credentials in the URL
        "https://qlik-lb.example.com.evil.example/vp/hub/",
    ):
        with pytest.raises(ConfigurationError, match="not on this site"):
            Ticket("T5", target, ALICE, 0.0, "vp").redirect_url(
                SITE, proxy_names=["qlik-lb.example.com"]
            )
    on_proxy_port = Site("qlik.example.com", VirtualProxy("vp"), proxy_port=8443)
    alias = Ticket("T6", "https://alias.example.com:8443/vp/hub/", ALICE, 0.0, "vp")
    assert alias.redirect_url(on_proxy_port, proxy_names=["alias.example.com"]).endswith("T6")


def test_ticket_errors_name_the_cause() -> None:
    xsrf = HttpResponse(403, (), b"XSRF prevention check failed. Possible XSRF discovered.")
    with pytest.raises(XrfkeyRejectedError, match="Xrfkey"):
        parse_ticket(xsrf, SITE, ALICE, now=0)
    with pytest.raises(TicketError, match="UserId may not be empty") as error:
        parse_ticket(HttpResponse(400, (), b"UserId may not be empty."), SITE, ALICE, now=0)
    assert error.value.status == 400
    with pytest.raises(TicketError, match="prefix"):
        parse_ticket(HttpResponse(404, (), b"Not found."), SITE, ALICE, now=0)
    with pytest.raises(ApiError) as server:
        parse_ticket(HttpResponse(500, (), b"boom"), SITE, ALICE, now=0)
    assert not isinstance(server.value, TicketError)
    with pytest.raises(TicketError, match="no ticket"):
        parse_ticket(_json(201, {"UserId": "alice"}), SITE, ALICE, now=0)


def test_parse_sessions() -> None:
    struct = {"UserDirectory": "CORP", "UserId": "alice", "SessionId": "s-1", "Attributes": []}
    one = parse_session(_json(200, struct))
    assert one is not None and one.user == ALICE and one.session_id == "s-1"
    assert "s-1" not in repr(one)
    assert parse_session(HttpResponse(404, (), b"No such session.")) is None
    camel = parse_sessions(_json(200, [{"userDirectory": "CORP", "userId": "b", "sessionId": "x"}]))
    assert [(s.user, s.session_id) for s in camel] == [(QlikUser("CORP", "b"), "x")]
    assert parse_sessions(HttpResponse(200)) == []
    with pytest.raises(ApiError, match="404") as info:  # an unknown prefix, not "no sessions"
        parse_sessions(HttpResponse(404, (), b"No such virtual proxy or resource."))
    assert "prefix" in (info.value.hint or "")


def test_session_limit_says_how_many_and_how_to_free() -> None:
    flow = add_session_flow(SITE, ALICE, str(uuid.uuid4()))
    next(flow)
    text = (
        b"Access denied for user 'CORP\\alice': the maximum number of parallel sessions "
        b"is reached. SessionCount: '5', limit: 5."
    )
    with pytest.raises(SessionLimitError) as error:
        flow.send(HttpResponse(403, (), text))
    assert error.value.session_count == 5
    assert error.value.user == ALICE
    assert "5 sessions on all virtual proxies together" in str(error.value)
    assert "logout_user" in str(error.value)
    assert "site.with_prefix(PREFIX)" in str(error.value)  # the others count too


# --- retries: only reads are retried (a real TLS server that drops every request) ----------


class _DroppingServer:
    """Completes the TLS handshake, reads the request, closes without answering."""

    def __init__(self, pki_dir: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(pki_dir / "server.pem", pki_dir / "server_key.pem")
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            try:
                with self.context.wrap_socket(raw, server_side=True) as tls:
                    tls.recv(65536)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def dropping(tmp_path: Path) -> Iterator[tuple[_DroppingServer, Site]]:
    make_test_pki(tmp_path, pfx_password="pfx-pass-1")
    server = _DroppingServer(tmp_path)
    site = Site(
        "localhost",
        qps_port=server.port,
        tls=TlsConfig(bundle=CertificateBundle.from_folder(tmp_path)),
    )
    try:
        yield server, site
    finally:
        server.close()


def test_reads_are_retried_tickets_never(dropping: tuple[_DroppingServer, Site]) -> None:
    server, site = dropping
    with QpsClient(site, retries=2) as qps:
        with pytest.raises((TransportError, TlsError)):
            qps.list_sessions()
        assert server.connections == 3
        with pytest.raises((TransportError, TlsError)):
            qps.issue_ticket(ALICE)
        assert server.connections == 4
        with pytest.raises((TransportError, TlsError)):
            qps.add_session(ALICE)
        assert server.connections == 5


def test_run_retries_only_safe_flows() -> None:
    attempts: list[bool] = []

    def failing(safe: bool) -> Flow[None]:
        attempts.append(safe)
        if attempts:  # always: the flow fails before its first request
            raise TransportError("network down")
        yield HttpRequest("GET", "https://qlik.example.com/")

    with QpsClient(SITE, retries=3) as qps:
        with pytest.raises(TransportError):
            qps.run(lambda: failing(True), safe=True)
        with pytest.raises(TransportError):
            qps.run(lambda: failing(False))
    assert attempts == [True] * 4 + [False]


# --- against the emulator's QPS ----------------------------------------------------------------


@pytest.fixture
def qps(qlik_emulator: EmulatorInfo) -> Iterator[QpsClient]:
    with QpsClient(emulator_site(qlik_emulator, "hdr")) as client:
        yield client


def test_many_calls_one_tls_connection(qps: QpsClient) -> None:
    for _ in range(10):
        assert qps.issue_ticket("QLIKEMU\\reuse").ticket
    assert qps.list_sessions() is not None
    url = qps.site.qps_url("ticket")
    adapter = qps.transport._session.get_adapter(url)
    pools = list(adapter.poolmanager.pools._container.values())  # type: ignore[attr-defined]
    assert sum(pool.num_connections for pool in pools) == 1


def test_sessions_add_get_list_delete_and_users(qps: QpsClient) -> None:
    user = QlikUser("QLIKEMU", "qps_sessions")
    session = qps.add_session(user, attributes={"Group": "Ops"})
    assert uuid.UUID(session.session_id).version == 4
    assert session.user == user
    fetched = qps.get_session(session.session_id)
    assert fetched is not None and fetched.user == user
    assert session.session_id in [s.session_id for s in qps.list_sessions()]
    assert [s.session_id for s in qps.user_sessions(user)] == [session.session_id]
    deleted = qps.delete_session(session.session_id)
    assert deleted is not None and deleted.session_id == session.session_id
    assert qps.get_session(session.session_id) is None
    assert qps.delete_session(session.session_id) is None
    second = qps.add_session(user)
    removed = qps.logout_user(user)
    assert [s.session_id for s in removed] == [second.session_id]
    assert qps.user_sessions(user) == []


def test_for_prefix_shares_the_connection(qps: QpsClient) -> None:
    other = qps.for_prefix("ticket")
    assert other.transport is qps.transport
    ticket = other.issue_ticket("QLIKEMU\\prefixed")
    assert ticket.prefix == "ticket"
    other.close()
    assert qps.list_sessions() is not None


def test_session_limit_from_qps(qlik_emulator_factory: Callable[..., EmulatorInfo]) -> None:
    # The emulator's "login" limit (its default refuses the websocket, not the login).
    with QpsClient(emulator_site(qlik_emulator_factory(session_limit="login"), "hdr")) as qps:
        for _ in range(5):
            qps.add_session("QLIKEMU\\busy")
        with pytest.raises(SessionLimitError) as error:
            qps.add_session("QLIKEMU\\busy")
    assert error.value.session_count == 5
    assert "delete_session" in str(error.value)


def test_wrong_xrfkey_through_the_flow_functions(
    qlik_emulator: EmulatorInfo, qps: QpsClient
) -> None:
    request = ticket_request(qps.site, ALICE)
    mismatched = request.with_headers({"X-Qlik-Xrfkey": "Zz" * 8})
    with pytest.raises(XrfkeyRejectedError, match="XSRF prevention check failed") as error:
        parse_ticket(qps.transport.send(mismatched), qps.site, ALICE, now=0)
    assert error.value.status == 403
    assert "Zz" * 8 not in str(error.value)
    bare = HttpRequest("GET", qps.site.qps_url("session"))
    with pytest.raises(XrfkeyRejectedError):
        parse_sessions(qps.transport.send(bare))
    assert parse_sessions(qps.transport.send(with_xrfkey(bare))) is not None


def test_qlik_message_on_a_bad_ticket_request(qps: QpsClient) -> None:
    request = with_xrfkey(
        HttpRequest.json("POST", qps.site.qps_url("ticket"), {"UserDirectory": " ", "UserId": "x"})
    )
    with pytest.raises(TicketError) as error:
        parse_ticket(qps.transport.send(request), qps.site, ALICE, now=0)
    assert error.value.status == 400
    assert "Invalid ticket request" in str(error.value)


def test_unknown_virtual_proxy(qps: QpsClient) -> None:
    with pytest.raises(TicketError, match="prefix"):
        qps.for_prefix("nosuchvp").issue_ticket(ALICE)


def test_no_client_certificate_configured(qlik_emulator: EmulatorInfo) -> None:
    site = emulator_site(qlik_emulator, "hdr", client_certificate=False)
    with QpsClient(site) as qps, pytest.raises(ConfigurationError, match="client certificate"):
        qps.issue_ticket(ALICE)


def test_client_certificate_not_trusted(qlik_emulator: EmulatorInfo, tmp_path: Path) -> None:
    make_test_pki(tmp_path, pfx_password="pfx-pass-3")
    foreign = CertificateBundle(
        client_cert=tmp_path / "client.pem",
        client_key=tmp_path / "client_key.pem",
        root=qlik_emulator.root,
    )
    base = emulator_site(qlik_emulator, "hdr")
    site = Site(
        base.host, base.virtual_proxy, qps_port=base.qps_port, tls=TlsConfig(bundle=foreign)
    )
    with QpsClient(site, retries=0) as qps, pytest.raises(HandshakeError) as error:
        qps.issue_ticket(ALICE)
    text = str(error.value)
    assert str(site.qps_port) in text
    assert "client certificate" in text
    assert "root" in text


def test_async_client(qlik_emulator: EmulatorInfo) -> None:
    async def scenario() -> tuple[str, list[str]]:
        async with AsyncQpsClient(emulator_site(qlik_emulator, "hdr")) as qps:
            ticket = await qps.issue_ticket("QLIKEMU\\async_user")
            session = await qps.add_session("QLIKEMU\\async_user")
            listed = [s.session_id for s in await qps.user_sessions("QLIKEMU\\async_user")]
            await qps.delete_session(session.session_id)
            return ticket.ticket, [sid for sid in listed if sid == session.session_id]

    ticket, listed = asyncio.run(scenario())
    assert ticket
    assert len(listed) == 1


def test_retried_runs_a_fresh_flow_after_each_network_failure() -> None:
    flow = retried(lambda: list_sessions_flow(SITE), attempts=3)
    first = next(flow)
    second = flow.throw(TransportError("reset"))
    third = flow.throw(HandshakeError("reset after the handshake"))
    assert [r.method for r in (first, second, third)] == ["GET"] * 3
    assert len({_key_of(r) for r in (first, second, third)}) == 3  # a fresh Xrfkey each time
    with pytest.raises(TransportError):
        flow.throw(TransportError("reset"))
    once = retried(lambda: list_sessions_flow(SITE), attempts=1)
    next(once)
    with pytest.raises(TransportError):
        once.throw(TransportError("reset"))
    answered = retried(lambda: list_sessions_flow(SITE), attempts=2)
    next(answered)
    with pytest.raises(StopIteration) as done:
        answered.send(_json(200, []))
    assert done.value.value == []
