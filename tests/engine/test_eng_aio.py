"""The asyncio engine connector against the emulator (each test runs its own event loop)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable

import pytest
from engine_support import direct_credentials, make_proxy_session, make_site

from qlikauth.credentials import Credentials
from qlikauth.emulator.qix import EngineUser
from qlikauth.engine import AsyncEngineConnection, AsyncGenericObject, SessionState
from qlikauth.engine.protocol import EngineTimeoutError
from qlikauth.errors import (
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


def test_direct_evaluate_hypercube_and_export(site: Site, sales_app: str) -> None:
    async def main() -> None:
        async with await AsyncEngineConnection.open(
            site, direct_credentials(), sales_app, timeout=10
        ) as conn:
            assert conn.session_state is SessionState.CREATED
            docs = await conn.global_.get_doc_list()
            assert sales_app in {d.doc_id for d in docs}
            doc = await conn.open_doc()
            value = await doc.evaluate(SUM_AMOUNT)
            assert isinstance(value, float)
            assert await doc.EvaluateEx(SUM_AMOUNT) == await doc.call(
                "EvaluateEx", qExpression=SUM_AMOUNT
            )
            cube = await doc.create_hypercube(["Region", "Product"], [SUM_AMOUNT])
            assert isinstance(cube, AsyncGenericObject)
            whole = await cube.get_data()
            paged = await cube.get_data(page_cells=4, in_flight=3)
            assert [[c.value for c in r] for r in paged] == [[c.value for c in r] for r in whole]
            assert sum(r[2].number or 0 for r in whole) == pytest.approx(value)
            url = await cube.export_data("CSV_C")
            assert url.startswith("/tempcontent/")
        assert conn.closed

    asyncio.run(main())


def test_thousands_of_concurrent_calls_on_one_loop(site: Site, sales_app: str) -> None:
    async def main() -> None:
        async with await AsyncEngineConnection.open(site, direct_credentials(), sales_app) as conn:
            doc = await conn.open_doc()
            values = await asyncio.gather(*(doc.evaluate(f"{i} + 0") for i in range(2000)))
            assert values == [float(i) for i in range(2000)]

    asyncio.run(main())


def test_engine_errors_and_closed_handles(site: Site, sales_app: str) -> None:
    async def main() -> None:
        async with await AsyncEngineConnection.open(site, direct_credentials(), sales_app) as conn:
            doc = await conn.open_doc()
            with pytest.raises(MethodNotFoundError):
                await doc.NoSuchMethod()
            cube = await doc.create_hypercube(["Region"], [SUM_AMOUNT])
            closed = asyncio.Event()
            cube.on_close(closed.set)
            assert await doc.destroy_session_object(cube.generic_id)
            await asyncio.wait_for(closed.wait(), 5)
            with pytest.raises(ObjectNotFoundError):
                await cube.get_layout()

    asyncio.run(main())


def test_call_timeout_abandons_only_that_call(site: Site, sales_app: str) -> None:
    async def main() -> None:
        async with await AsyncEngineConnection.open(site, direct_credentials(), sales_app) as conn:
            doc = await conn.open_doc()
            backlog = [await conn.send(doc.handle, "EvaluateEx", [SUM_AMOUNT]) for _ in range(1500)]
            late = await conn.send(doc.handle, "EvaluateEx", [SUM_AMOUNT])
            with pytest.raises(EngineTimeoutError):
                await late.result(0.001)
            # The call is over for everyone holding it: done, and failing again at once.
            assert late.done()
            with pytest.raises(EngineTimeoutError):
                await late.result()
            answers = [await call.result(60) for call in backlog]
            assert all(a == answers[0] for a in answers)
            assert await doc.call("EvaluateEx", qExpression=SUM_AMOUNT) == answers[0]

    asyncio.run(main())


def test_dropped_socket_fails_every_pending_call(qlik_emulator_fresh: EmulatorInfo) -> None:
    info = qlik_emulator_fresh

    async def main() -> None:
        conn = await AsyncEngineConnection.open(
            make_site(info), direct_credentials(), info.app_id("Sales"), timeout=10
        )
        doc = await conn.open_doc()
        calls = [await conn.send(doc.handle, "EvaluateEx", [SUM_AMOUNT]) for _ in range(3000)]
        await asyncio.to_thread(info.set_faults, drop_websockets=True)
        outcomes = await asyncio.gather(*(c.result(60) for c in calls), return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        assert failures
        assert all(isinstance(f, EngineClosedError) for f in failures)
        assert conn.closed
        with pytest.raises(EngineClosedError):
            await doc.evaluate(SUM_AMOUNT)
        await conn.close()

    asyncio.run(main())


def test_greeting_error_state(qlik_emulator_fresh: EmulatorInfo) -> None:
    info = qlik_emulator_fresh
    info.emulator.core.engine.license_denied_users = frozenset({EngineUser("QLIKEMU", "dave")})

    async def main() -> None:
        with pytest.raises(EngineSessionError) as exc:
            await AsyncEngineConnection.open(
                make_site(info), direct_credentials("dave"), info.app_id("Sales"), timeout=10
            )
        assert exc.value.parameter == "SESSION_ERROR_NO_LICENSE"

    asyncio.run(main())


def test_proxy_csrf_mode(qlik_emulator: EmulatorInfo) -> None:
    session = make_proxy_session(qlik_emulator, "hdr", "carol")
    site = make_site(qlik_emulator, "hdr")
    app = qlik_emulator.app_id("Sales")

    async def main() -> None:
        async with await AsyncEngineConnection.open(site, session.credentials(), app) as conn:
            assert isinstance(await (await conn.open_doc()).evaluate(SUM_AMOUNT), float)
        with pytest.raises(WebSocketRejectedError) as info:
            await AsyncEngineConnection.open(site, session.credentials(csrf=False), app)
        assert info.value.status == 403
        assert "csrf" in (info.value.hint or "").lower()

    asyncio.run(main())


def test_proxy_session_end_reaches_listeners_and_pending_calls(
    qlik_emulator_fresh: EmulatorInfo,
) -> None:
    info = qlik_emulator_fresh
    session = make_proxy_session(info, "hdr")
    site = make_site(info, "hdr")

    async def main() -> None:
        conn = await AsyncEngineConnection.open(site, session.credentials(), info.app_id("Sales"))
        heard: asyncio.Queue[str] = asyncio.Queue()

        async def listener(method: str, params: object) -> None:
            await heard.put(method)

        conn.on_notification("OnSessionClosed", listener)
        await asyncio.to_thread(session.delete)
        assert await asyncio.wait_for(heard.get(), 10) == "OnSessionClosed"
        with pytest.raises(EngineClosedError) as failure:
            await conn.call(-1, "EngineVersion", timeout=10)
        assert isinstance(conn.close_reason, SessionExpiredError)
        assert failure.value.__cause__ is conn.close_reason
        await conn.close()

    asyncio.run(main())


@pytest.fixture
def legacy(qlik_emulator_factory: Callable[..., EmulatorInfo]) -> EmulatorInfo:
    return qlik_emulator_factory(release="2024-05")


def test_legacy_proxy_greeting_errors(legacy: EmulatorInfo) -> None:
    async def main() -> None:
        with pytest.raises(MustAuthenticateError):
            await AsyncEngineConnection.open(make_site(legacy, "ticket"), Credentials())
        site = make_site(legacy, "hdr")
        header_login = Credentials(headers={"header_user": "dave"})
        opened = [
            await AsyncEngineConnection.open(site, header_login)
            for _ in range(legacy["max_parallel_sessions"])
        ]
        try:
            assert all(c.authentication for c in opened)
            with pytest.raises(SessionLimitError):
                await AsyncEngineConnection.open(site, header_login)
        finally:
            for conn in opened:
                await conn.close()

    asyncio.run(main())


def test_transport_and_tls_failures(site: Site) -> None:
    async def main() -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with pytest.raises(TransportError, match="refused"):
            await AsyncEngineConnection.connect(f"ws://127.0.0.1:{port}/app/engineData")
        with pytest.raises(TLSError):
            await AsyncEngineConnection.connect(
                direct_credentials().websocket_url(site), ssl_context=ssl.create_default_context()
            )

    asyncio.run(main())
