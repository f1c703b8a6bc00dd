"""A reusable test suite every authenticator passes, built-in or plug-in.

Subclass :class:`AuthenticatorContract` in a test module and provide three fixtures; the
tests come with it (as keyring's ``BackendBasicTests`` does for keyring backends)::

    from qlikauth.testing.contract import AuthenticatorContract, emulator_site

    class TestMyAuth(AuthenticatorContract):
        @pytest.fixture
        def authenticator(self):
            return MyAuth(user="alice")

        @pytest.fixture
        def site(self, qlik_emulator):
            return emulator_site(qlik_emulator, "hdr")

        @pytest.fixture
        def expected_user(self):
            return QlikUser("QLIKEMU", "alice")

Logins run as drivers run them: ``authenticator.prepare(site)``, then its ``login`` flow.
Optional fixtures: ``secrets`` (strings that must never appear in a repr), and the class
attributes ``logout_ends_session`` (set it to ``False`` for authenticators whose logout
leaves the proxy session alone) and ``releases`` (the release modes to run against). Each
test logs out what it logged in, so a shared emulator does not run into the per-user
session limit.

Every test of the class runs once per Qlik Sense release mode (ids ``2024-05`` and
``2024-11``): inside the class, ``qlik_emulator`` is the session emulator of that release
(the plug-in's ``qlik_emulator_release``), and ``qlik_emulator_factory`` starts emulators
that behave as it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

from qlikauth.auth.base import Authenticator, get_authenticator
from qlikauth.credentials import Credentials, QlikUser, Route
from qlikauth.http import (
    Flow,
    HttpRequest,
    HttpResponse,
    HttpTransport,
    check_response,
    run_flow,
    run_flow_async,
    with_xrfkey,
)
from qlikauth.qps import user_sessions_flow
from qlikauth.site import Site
from qlikauth.testing.emulator_info import site_from_emulator

__all__ = ["AuthenticatorContract", "RecordingDriver", "emulator_site"]


def emulator_site(info: Any, prefix: str = "", *, client_certificate: bool = True) -> Site:
    """A :class:`Site` for one virtual proxy of a running emulator (``EmulatorInfo``).

    It trusts the emulator's root and, unless ``client_certificate`` is false, presents its
    client certificate on the trusted ports.
    """
    raw = info.raw if hasattr(info, "raw") else info
    return site_from_emulator(raw, prefix, client_certificate=client_certificate)


class RecordingDriver:
    """Runs a flow over a real transport, keeping every request and response it saw."""

    def __init__(self, transport: HttpTransport) -> None:
        self.transport = transport
        self.exchanges: list[tuple[HttpRequest, HttpResponse]] = []

    def run(self, flow: Flow[Any]) -> Any:
        """Drive ``flow`` to its result (the same loop as :func:`qlikauth.http.run_flow`)."""
        try:
            request = next(flow)
            while True:
                response = self.transport.send(request)
                self.exchanges.append((request, response))
                request = flow.send(response)
        except StopIteration as stop:
            return stop.value
        finally:
            flow.close()

    @property
    def requests(self) -> list[HttpRequest]:
        """The requests sent, in order."""
        return [request for request, _ in self.exchanges]


def _personal_user(transport: HttpTransport, site: Site, creds: Credentials) -> QlikUser | None:
    """Who the personal API says the credentials belong to (``None``: nobody)."""
    response = transport.send(HttpRequest("GET", site.personal_url("user"), creds.http_headers()))
    if response.status != 200:
        return None
    try:
        data = response.json()
    except Exception:
        return None
    # An anonymous session reports "session": "inactive" but names its user (§1.6).
    if not isinstance(data, dict) or not data.get("userDirectory") or not data.get("userId"):
        return None
    return QlikUser(str(data["userDirectory"]), str(data["userId"]))


def _direct_works(transport: HttpTransport, site: Site, creds: Credentials) -> bool:
    request = with_xrfkey(HttpRequest("GET", site.qrs_url("about"), creds.http_headers()))
    return check_response(transport.send(request), what="QRS about").status == 200


class AuthenticatorContract:
    """The tests every authenticator must pass; subclasses provide the fixtures."""

    #: Whether logout ends the proxy session (``False`` for sessions owned elsewhere).
    logout_ends_session: ClassVar[bool] = True
    #: The release modes the class runs against (others are skipped).
    releases: ClassVar[tuple[str, ...]] = ("2024-05", "2024-11")

    # ------------------------------------------------------------------ release modes

    @pytest.fixture
    def qlik_emulator(self, qlik_emulator_release: Any) -> Any:
        """The session emulator of the release mode under test."""
        if qlik_emulator_release.release not in self.releases:
            pytest.skip(
                f"{type(self).__name__} does not run against {qlik_emulator_release.release}"
            )
        return qlik_emulator_release

    @pytest.fixture
    def qlik_emulator_factory(
        self, qlik_emulator_factory: Callable[..., Any], qlik_emulator: Any
    ) -> Callable[..., Any]:
        """New emulators (with overrides) that behave as the release mode under test."""

        def make(**overrides: Any) -> Any:
            return qlik_emulator_factory(**{"release": qlik_emulator.release, **overrides})

        return make

    # ------------------------------------------------------------------ fixtures

    @pytest.fixture
    def authenticator(self) -> Authenticator:
        """The authenticator under test (override)."""
        raise NotImplementedError("provide an 'authenticator' fixture")

    @pytest.fixture
    def site(self) -> Site:
        """The site (an emulator's virtual proxy) it logs in to (override)."""
        raise NotImplementedError("provide a 'site' fixture")

    @pytest.fixture
    def expected_user(self) -> QlikUser | None:
        """Who the login should make us; ``None`` skips the check (override)."""
        return None

    @pytest.fixture
    def secrets(self) -> list[str]:
        """Secret values that must never appear in a repr (override)."""
        return []

    @pytest.fixture
    def transport(self, site: Site) -> Iterator[HttpTransport]:
        """A kept-alive transport for the site."""
        with HttpTransport(site, timeout=20.0) as transport:
            yield transport

    @pytest.fixture
    def logged_in(
        self, authenticator: Authenticator, site: Site, transport: HttpTransport
    ) -> Iterator[tuple[Credentials, RecordingDriver]]:
        """Credentials from one login (logged out again afterwards) and what was sent."""
        driver = RecordingDriver(transport)
        authenticator = authenticator.prepare(site)
        credentials = driver.run(authenticator.login(site))
        try:
            yield credentials, driver
        finally:
            run_flow(authenticator.logout(site, credentials), transport)

    # ------------------------------------------------------------------ the contract

    def test_registered_under_its_name(self, authenticator: Authenticator) -> None:
        cls = type(authenticator)
        assert cls.name, "set the class attribute 'name' to the entry-point name"
        assert get_authenticator(cls.name) is cls

    def test_is_immutable(self, authenticator: Authenticator) -> None:
        names = (
            [f.name for f in dataclasses.fields(authenticator)]
            if dataclasses.is_dataclass(authenticator)
            else list(vars(authenticator))
        ) or ["contract_probe"]
        for name in names:
            with pytest.raises((dataclasses.FrozenInstanceError, AttributeError)):
                setattr(authenticator, name, "changed")

    def test_repr_hides_secrets(self, authenticator: Authenticator, secrets: list[str]) -> None:
        if not secrets:
            pytest.skip("the subclass names no secret held by the authenticator (`secrets`)")
        shown = repr(authenticator) + str(authenticator)
        for secret in secrets:
            assert secret not in shown

    def test_reprs_hide_what_the_login_produced(
        self, logged_in: tuple[Credentials, RecordingDriver]
    ) -> None:
        credentials, driver = logged_in
        candidates = [credentials.session_id, credentials.csrf_token]
        candidates += list(credentials.websocket_params.values())
        for request, _ in driver.exchanges:
            candidates += [v for k, v in request.headers.items() if k.lower() == "authorization"]
        produced = [c for c in candidates if c is not None and len(c) >= 8]
        shown = [repr(credentials), str(credentials)]
        for request, response in driver.exchanges:
            shown += [repr(request), repr(response)]
        for secret in produced:
            for text in shown:
                assert secret not in text

    def test_login_returns_credentials(
        self,
        logged_in: tuple[Credentials, RecordingDriver],
        expected_user: QlikUser | None,
    ) -> None:
        credentials, _ = logged_in
        assert isinstance(credentials, Credentials)
        if expected_user is not None:
            assert credentials.user == expected_user
        if credentials.route is Route.PROXY:
            assert credentials.session_id, "a proxy login must end with a session cookie"

    def test_login_talks_only_to_the_site(
        self, logged_in: tuple[Credentials, RecordingDriver], site: Site
    ) -> None:
        _, driver = logged_in
        for request in driver.requests:
            assert site.owns(request.url), f"{request!r} leaves the site"

    def test_credentials_repr_hides_secrets(
        self, logged_in: tuple[Credentials, RecordingDriver], secrets: list[str]
    ) -> None:
        credentials, _ = logged_in
        shown = repr(credentials) + str(credentials)
        hidden = [*secrets, *credentials.cookies.values()]
        if credentials.csrf_token:
            hidden.append(credentials.csrf_token)
        hidden += [
            v for k, v in credentials.headers.items() if k.lower() in ("authorization", "cookie")
        ]
        for secret in hidden:
            assert secret not in shown

    def test_proxy_credentials_carry_only_the_session(
        self, logged_in: tuple[Credentials, RecordingDriver]
    ) -> None:
        credentials, _ = logged_in
        if credentials.route is Route.DIRECT:
            assert "X-Qlik-User" in credentials.headers, "direct credentials name the user"
        assert not any(k.lower() == "authorization" for k in credentials.headers)
        assert "Authorization" not in credentials.websocket_headers()

    def test_credentials_work_on_the_site(
        self,
        logged_in: tuple[Credentials, RecordingDriver],
        site: Site,
        transport: HttpTransport,
        expected_user: QlikUser | None,
    ) -> None:
        credentials, _ = logged_in
        if credentials.route is Route.DIRECT:
            assert _direct_works(transport, site, credentials)
            return
        user = _personal_user(transport, site, credentials)
        assert user is not None, "the personal API does not know the session"
        if expected_user is not None:
            assert user == expected_user

    def test_websocket_upgrade_with_the_same_credentials(
        self, logged_in: tuple[Credentials, RecordingDriver], site: Site
    ) -> None:
        from websockets.typing import Origin

        from qlikauth.testing.wsclient import connect

        credentials, _ = logged_in
        with connect(
            credentials.websocket_url(site),
            additional_headers=credentials.websocket_headers(),
            ssl=credentials.ssl_context(site),
            origin=Origin(credentials.origin(site)),
            open_timeout=10,
        ) as socket:
            greeting = json.loads(socket.recv(timeout=10))
        assert greeting.get("method") == "OnConnected", greeting

    def test_logout(
        self, authenticator: Authenticator, site: Site, transport: HttpTransport
    ) -> None:
        driver = RecordingDriver(transport)
        authenticator = authenticator.prepare(site)
        credentials = driver.run(authenticator.login(site))
        driver.run(authenticator.logout(site, credentials))
        for request in driver.requests:
            assert site.owns(request.url)
        if credentials.route is Route.PROXY and self.logout_ends_session:
            # Not that user any more (an anonymous proxy hands out a new anonymous user).
            assert _personal_user(transport, site, credentials) != credentials.user
            if site.tls.bundle is not None and credentials.user is not None:
                left = run_flow(user_sessions_flow(site, credentials.user), transport)
                assert credentials.session_id not in [s.session_id for s in left]

    def test_login_adds_exactly_one_proxy_session(
        self,
        authenticator: Authenticator,
        site: Site,
        transport: HttpTransport,
        expected_user: QlikUser | None,
    ) -> None:
        if expected_user is None or site.tls.bundle is None:
            pytest.skip("needs the expected user and the site's client certificate (QPS)")

        def held() -> list[str]:
            found = run_flow(user_sessions_flow(site, expected_user), transport)
            return [s.session_id for s in found]

        before = held()
        authenticator = authenticator.prepare(site)
        credentials = run_flow(authenticator.login(site), transport)
        try:
            after = held()
            if credentials.route is Route.DIRECT:
                assert after == before, "a direct login must not make a proxy session"
            elif authenticator.creates_session:
                assert len(after) == len(before) + 1
                assert credentials.session_id in after
                assert credentials.session_id not in before
            else:
                assert sorted(after) == sorted(before)
        finally:
            run_flow(authenticator.logout(site, credentials), transport)

    def test_async_driver(
        self, authenticator: Authenticator, site: Site, transport: HttpTransport
    ) -> None:
        async def both() -> Credentials:
            ready = await asyncio.to_thread(authenticator.prepare, site)
            credentials = await run_flow_async(ready.login(site), transport)
            await run_flow_async(ready.logout(site, credentials), transport)
            return credentials

        assert isinstance(asyncio.run(both()), Credentials)
