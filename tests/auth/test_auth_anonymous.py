"""Anonymous access: the flow by hand, and a virtual proxy that allows it or not."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from qlikauth import LoginRedirectError, Site, VirtualProxy
from qlikauth.auth.anonymous import AnonymousAuth
from qlikauth.auth.base import Authenticator
from qlikauth.emulator.config import default_config
from qlikauth.http import HttpResponse, HttpTransport, run_flow
from qlikauth.testing.contract import AuthenticatorContract, emulator_site
from qlikauth.testing.emulator import EmulatorInfo

SITE = Site("qlik.example.com", VirtualProxy("anon", "X-Qlik-Session-anon"))


def test_flow_takes_the_anonymous_user() -> None:
    flow = AnonymousAuth().login(SITE)
    first = next(flow)
    assert first.headers == {}
    assert first.url == "https://qlik.example.com/anon/hub/"  # where a browser's starts
    flow.send(HttpResponse(200, (("Set-Cookie", "X-Qlik-Session-anon=a1"),), b"<html/>"))
    flow.send(HttpResponse(204, (("qlik-csrf-token", "t"),)))
    with pytest.raises(StopIteration) as done:
        flow.send(
            HttpResponse(
                200,
                (),
                b'{"userDirectory":"NONE","userId":"anonymous42","session":"inactive"}',
            )
        )
    assert str(done.value.value.user) == "NONE\\anonymous42"


def test_redirect_means_no_anonymous_access() -> None:
    flow = AnonymousAuth().login(SITE)
    next(flow)
    with pytest.raises(LoginRedirectError, match="anonymous") as error:
        flow.send(HttpResponse(302, (("Location", "https://qlik.example.com:4244/x?targetId=1"),)))
    assert "Allow anonymous" in str(error.value)


def _with_anonymous_hdr(info_factory: Callable[..., EmulatorInfo]) -> EmulatorInfo:
    vps = tuple(
        dataclasses.replace(vp, anonymous="allow") if vp.prefix == "hdr" else vp
        for vp in default_config().virtual_proxies
    )
    return info_factory(virtual_proxies=vps)


class TestAnonymousContract(AuthenticatorContract):
    @pytest.fixture
    def authenticator(self) -> Authenticator:
        return AnonymousAuth()

    @pytest.fixture
    def site(self, qlik_emulator_factory: Callable[..., EmulatorInfo]) -> Site:
        return emulator_site(_with_anonymous_hdr(qlik_emulator_factory), "hdr")


def test_anonymous_user_is_named_none(
    qlik_emulator_factory: Callable[..., EmulatorInfo],
) -> None:
    site = emulator_site(_with_anonymous_hdr(qlik_emulator_factory), "hdr")
    with HttpTransport(site) as transport:
        credentials = run_flow(AnonymousAuth().login(site), transport)
    assert credentials.user is not None
    assert credentials.user.directory == "NONE"
    assert credentials.user.user_id.startswith("anonymous")


def test_virtual_proxy_without_anonymous_access(qlik_emulator: EmulatorInfo) -> None:
    site = emulator_site(qlik_emulator, "")
    with HttpTransport(site) as transport, pytest.raises(LoginRedirectError):
        run_flow(AnonymousAuth().login(site), transport)
