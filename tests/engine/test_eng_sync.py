"""The sync engine connector against the emulator, over real sockets and real TLS."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from engine_support import direct_credentials, make_proxy_session, make_site

from qlikauth.credentials import Credentials, Route
from qlikauth.emulator.qix import EngineUser
from qlikauth.engine import (
    Doc,
    EngineConnection,
    EngineTimeoutError,
    GenericObject,
    HandleState,
    SessionState,
)
from qlikauth.errors import (
    AppNotFoundError,
    ConfigurationError,
    EngineClosedError,
    EngineSessionError,
    MethodNotFoundError,
    MustAuthenticateError,
    ObjectNotFoundError,
    SessionExpiredError,
    SessionLimitError,
    TLSError,
    TransportError,
    WebSocketRejectedError,
)
from qlikauth.site import Site
from qlikauth.testing.emulator import EmulatorInfo

SUM_AMOUNT = "Sum(Amount)"


@pytest.fixture
def conn(site: Site, sales_app: str) -> Iterator[EngineConnection]:
    with EngineConnection.open(site, direct_credentials(), sales_app, timeout=10) as connection:
        yield connection


@pytest.fixture
def doc(conn: EngineConnection) -> Doc:
    return conn.open_doc()


# -- the direct engine port -------------------------------------------------------------------


def test_direct_open_reads_the_greeting(conn: EngineConnection, sales_app: str) -> None:
    assert conn.session_state is SessionState.CREATED
    assert conn.engine_version
    assert not conn.closed
    names = {d.name: d.doc_id for d in conn.global_.get_doc_list()}
    assert names["Sales"] == sales_app


def test_evaluate_by_helper_by_name_and_by_attribute(doc: Doc) -> None:
    value = doc.evaluate(SUM_AMOUNT)
    assert isinstance(value, float)
    by_name = doc.call("EvaluateEx", qExpression=SUM_AMOUNT)
    by_position = doc.EvaluateEx(SUM_AMOUNT)
    assert by_name == by_position
    q_value = by_name["qValue"]
    assert isinstance(q_value, dict)
    assert q_value["qNumber"] == value
    assert doc.evaluate_ex("'a' & 'b'").value == "ab"
    with pytest.raises(TypeError, match="not both"):
        doc.call("EvaluateEx", "x", qExpression="y")
    with pytest.raises(AttributeError):
        doc.evalute  # noqa: B018 - lowercase names are not engine methods


def test_hypercube_paging_returns_the_same_rows_as_one_page(doc: Doc) -> None:
    cube = doc.create_hypercube(["Region", "Product"], [SUM_AMOUNT])
    assert isinstance(cube, GenericObject)
    whole = cube.get_data()
    paged = cube.get_data(page_cells=3, in_flight=2)
    assert len(whole) > 3
    assert [[c.value for c in row] for row in paged] == [[c.value for c in row] for row in whole]
    assert len(cube.get_data(max_rows=2)) == 2
    total = sum(row[2].number or 0 for row in whole)
    assert total == pytest.approx(doc.evaluate(SUM_AMOUNT))


def test_export_data_returns_a_tempcontent_url(doc: Doc) -> None:
    cube = doc.create_hypercube(["Region"], [SUM_AMOUNT])
    url = cube.export_data("CSV_C")
    assert url.startswith("/tempcontent/")
    assert "serverNodeId=" in url


def test_engine_errors_raise_their_classes(doc: Doc, site: Site) -> None:
    with pytest.raises(MethodNotFoundError) as info:
        doc.call("NoSuchMethod")
    assert info.value.method == "NoSuchMethod"
    assert doc.evaluate(SUM_AMOUNT)  # the connection survives engine errors
    with EngineConnection.open(site, direct_credentials(), timeout=10) as global_only:
        with pytest.raises(AppNotFoundError):
            global_only.open_doc("no-such-app")
        with pytest.raises(ConfigurationError):
            global_only.open_doc()


def test_closed_handles_fail_without_a_round_trip(doc: Doc) -> None:
    cube = doc.create_hypercube(["Region"], [SUM_AMOUNT])
    closed = threading.Event()
    cube.on_close(closed.set)
    assert cube.state is HandleState.OPEN
    assert doc.destroy_session_object(cube.generic_id)
    assert closed.wait(5)
    assert cube.closed
    with pytest.raises(ObjectNotFoundError, match="closed by the engine"):
        cube.get_layout()


def test_pipelined_calls_from_eight_threads(conn: EngineConnection, doc: Doc) -> None:
    def work(worker: int) -> list[float | str]:
        calls = [
            conn.send(doc.handle, "EvaluateEx", {"qExpression": f"{worker} * 1000 + {i}"})
            for i in range(40)
        ]
        out: list[float | str] = []
        for call in calls:
            value = call.result(30)["qValue"]
            assert isinstance(value, dict)
            number = value["qNumber"]
            assert isinstance(number, int | float)
            out.append(number)
        return out

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(8)))
    for worker, values in enumerate(results):
        assert values == [worker * 1000 + i for i in range(40)]
    ids = [conn.send(-1, "EngineVersion").request_id for _ in range(3)]
    assert ids == sorted(set(ids))


def test_a_call_timeout_abandons_the_call_and_the_connection_lives_on(
    conn: EngineConnection, doc: Doc
) -> None:
    backlog = [conn.send(doc.handle, "EvaluateEx", [SUM_AMOUNT]) for _ in range(1500)]
    late = conn.send(doc.handle, "EvaluateEx", [SUM_AMOUNT])
    with pytest.raises(EngineTimeoutError) as info:
        late.result(0.001)
    assert isinstance(info.value, TimeoutError)
    assert "EvaluateEx" in str(info.value)
    assert late.done()
    with pytest.raises(EngineTimeoutError):
        late.result()
    answers = [call.result(60) for call in backlog]
    assert all(a == answers[0] for a in answers)
    assert doc.call("EvaluateEx", qExpression=SUM_AMOUNT) == answers[0]


def test_listener_cannot_wait_for_calls_on_the_reader_thread(
    conn: EngineConnection, doc: Doc
) -> None:
    errors: list[BaseException] = []
    cube = doc.create_hypercube(["Region"], [SUM_AMOUNT])

    def on_close() -> None:
        try:
            conn.call(doc.handle, "EvaluateEx", [SUM_AMOUNT], timeout=5)
        except RuntimeError as exc:
            errors.append(exc)

    cube.on_close(on_close)
    doc.destroy_session_object(cube.generic_id)
    doc.evaluate(SUM_AMOUNT)  # the close listener ran before this answer was read
    assert len(errors) == 1
    assert "reader thread" in str(errors[0])


# -- failures: socket, greeting, upgrade ------------------------------------------------------


def test_server_dropping_the_socket_fails_every_pending_call(
    qlik_emulator_fresh: EmulatorInfo,
) -> None:
    info = qlik_emulator_fresh
    site = make_site(info)
    conn = EngineConnection.open(site, direct_credentials(), info.app_id("Sales"), timeout=10)
    doc = conn.open_doc()
    calls = [conn.send(doc.handle, "EvaluateEx", [SUM_AMOUNT]) for _ in range(3000)]
    info.set_faults(drop_websockets=True)
    failures: list[BaseException] = []
    for call in calls:
        try:
            call.result(60)
        except EngineClosedError as exc:
            failures.append(exc)
    assert failures
    assert all(isinstance(f, EngineClosedError) and f.method == "EvaluateEx" for f in failures)
    assert conn.closed
    with pytest.raises(EngineClosedError):
        doc.evaluate(SUM_AMOUNT)
    conn.close()


def test_greeting_error_state(qlik_emulator_fresh: EmulatorInfo) -> None:
    info = qlik_emulator_fresh
    engine = info.emulator.core.engine
    engine.license_denied_users = frozenset({EngineUser("QLIKEMU", "dave")})
    with pytest.raises(EngineSessionError) as exc:
        EngineConnection.open(make_site(info), direct_credentials("dave"), info.app_id("Sales"))
    assert exc.value.parameter == "SESSION_ERROR_NO_LICENSE"
    assert exc.value.hint


def test_resume_with_identity_is_explicit(qlik_emulator_fresh: EmulatorInfo) -> None:
    info = qlik_emulator_fresh
    site, app = make_site(info), info.app_id("Sales")
    with EngineConnection.open(site, direct_credentials(), app, identity="job-1", ttl=60) as first:
        assert first.session_state is SessionState.CREATED
        first.open_doc()
    with EngineConnection.open(
        site, direct_credentials(), app, identity="job-1", ttl=60, require_attached=True
    ) as again:
        assert again.session_state is SessionState.ATTACHED
        assert again.get_active_doc().generic_id == app
    with pytest.raises(EngineSessionError, match="not resumed"):
        EngineConnection.open(site, direct_credentials(), app, identity="other", ttl=60,
                              require_attached=True)  # fmt: skip


def test_direct_port_without_client_certificate_is_a_tls_error(
    qlik_emulator: EmulatorInfo, site: Site
) -> None:
    url = direct_credentials().websocket_url(site)
    with pytest.raises(TLSError):
        EngineConnection.connect(
            url,
            ssl_context=site.tls.server_context(),
            headers=direct_credentials().websocket_headers(),
            timeout=10,
        )


def test_untrusted_server_is_a_tls_error(site: Site) -> None:
    context = ssl.create_default_context()
    with pytest.raises(TLSError):
        EngineConnection.connect(direct_credentials().websocket_url(site), ssl_context=context)


def test_connection_refused_is_a_transport_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransportError, match="refused"):
        EngineConnection.connect(f"ws://127.0.0.1:{port}/app/engineData", timeout=5)


# -- through the proxy ------------------------------------------------------------------------


def test_proxy_with_session_cookie_and_csrf_token(qlik_emulator: EmulatorInfo) -> None:
    session = make_proxy_session(qlik_emulator, "hdr", "carol")
    site = make_site(qlik_emulator, "hdr")
    app = qlik_emulator.app_id("Sales")
    with EngineConnection.open(site, session.credentials(), app, timeout=10) as conn:
        assert conn.session_state is SessionState.CREATED
        assert "qlik-csrf-token=[secure]" in conn.url or "qlik-csrf-token=%5Bsecure%5D" in conn.url
        assert isinstance(conn.open_doc().evaluate(SUM_AMOUNT), float)


@pytest.mark.parametrize("case", ["no-token", "wrong-token", "no-cookie"])
def test_proxy_refusing_the_upgrade_is_a_cswsh_error(
    qlik_emulator: EmulatorInfo, case: str
) -> None:
    session = make_proxy_session(qlik_emulator, "hdr")
    credentials = session.credentials(csrf=case != "no-token")
    if case == "wrong-token":
        credentials = credentials.replace(csrf_token="not-the-token-of-this-session")
    if case == "no-cookie":
        credentials = credentials.replace(cookies={})
    site = make_site(qlik_emulator, "hdr")
    with pytest.raises(WebSocketRejectedError) as info:
        EngineConnection.open(site, credentials, qlik_emulator.app_id("Sales"), timeout=10)
    assert info.value.status == 403
    assert info.value.hint
    text = str(info.value)
    assert session.session_id not in text
    assert "not-the-token" not in text
    assert (session.csrf_token or "") not in text


def test_authorization_header_on_the_upgrade_gets_its_own_hint(
    qlik_emulator: EmulatorInfo,
) -> None:
    site = make_site(qlik_emulator, "jwt")
    url = Credentials(route=Route.PROXY).websocket_url(site)
    with pytest.raises(WebSocketRejectedError) as info:
        EngineConnection.connect(
            url,
            ssl_context=site.tls.server_context(),
            headers={"Authorization": "Bearer abc.def.ghi"},
            origin=site.origin,
            timeout=10,
        )
    assert "Authorization" in (info.value.hint or "")
    assert "abc.def" not in str(info.value)


def test_proxy_ending_the_session_fails_pending_calls_with_the_reason(
    qlik_emulator_fresh: EmulatorInfo,
) -> None:
    info = qlik_emulator_fresh
    session = make_proxy_session(info, "hdr")
    site = make_site(info, "hdr")
    conn = EngineConnection.open(site, session.credentials(), info.app_id("Sales"), timeout=10)
    seen: list[str] = []
    done = threading.Event()

    def listener(method: str, params: object) -> None:
        seen.append(method)
        done.set()

    conn.on_notification("*", listener)
    session.delete()
    assert done.wait(10)
    assert seen == ["OnSessionClosed"]
    with pytest.raises(EngineClosedError) as failure:
        conn.call(-1, "EngineVersion", timeout=10)
    assert isinstance(conn.close_reason, SessionExpiredError)
    assert failure.value.__cause__ is conn.close_reason
    conn.close()


# -- the older proxy (before November 2024) ---------------------------------------------------


@pytest.fixture
def legacy(qlik_emulator_factory: Callable[..., EmulatorInfo]) -> EmulatorInfo:
    return qlik_emulator_factory(release="2024-05")


def test_legacy_proxy_with_cookie_reports_the_user(legacy: EmulatorInfo) -> None:
    session = make_proxy_session(legacy, "hdr", "bob")
    site = make_site(legacy, "hdr")
    credentials = session.credentials(csrf=False)
    with EngineConnection.open(site, credentials, legacy.app_id("Sales"), timeout=10) as conn:
        assert conn.authentication is not None
        assert conn.authentication["userId"] == "bob"
        assert conn.open_doc().evaluate(SUM_AMOUNT)


def test_legacy_proxy_without_session_must_authenticate(legacy: EmulatorInfo) -> None:
    site = make_site(legacy, "ticket")
    with pytest.raises(MustAuthenticateError) as info:
        EngineConnection.open(site, Credentials(), legacy.app_id("Sales"), timeout=10)
    assert info.value.login_uri


def test_legacy_proxy_session_limit(legacy: EmulatorInfo) -> None:
    site = make_site(legacy, "hdr")
    header_login = Credentials(headers={"header_user": "dave"})
    opened: list[EngineConnection] = []
    try:
        for _ in range(legacy["max_parallel_sessions"]):
            opened.append(EngineConnection.open(site, header_login, timeout=10))
        with pytest.raises(SessionLimitError) as info:
            EngineConnection.open(site, header_login, timeout=10)
        # The sixth socket's own login made a sixth session; the socket is then refused.
        assert info.value.session_count == legacy["max_parallel_sessions"] + 1
    finally:
        for conn in opened:
            conn.close()
