"""The websocket Origin: the proxy checks it against the virtual proxy's host allow list."""

from __future__ import annotations

import dataclasses

import pytest

from qlikauth import ConfigurationError, HeaderAuth, QlikClient, Site, WebSocketRejectedError
from qlikauth.testing.contract import emulator_site
from qlikauth.testing.emulator import EmulatorInfo


def _by_ip(info: EmulatorInfo, origin: str | None = None) -> Site:
    # The server certificate holds 127.0.0.1 too, so TLS is fine; the proxy's allow list
    # holds host names only, so an upgrade whose Origin is the IP is refused.
    site = emulator_site(info, "hdr")
    return dataclasses.replace(site, host="127.0.0.1", websocket_origin=origin)


def test_a_site_reached_by_ip_is_refused_without_an_allowed_origin(
    qlik_emulator: EmulatorInfo,
) -> None:
    with QlikClient(_by_ip(qlik_emulator), HeaderAuth("origin_ip")) as client:
        assert client.whoami().user_id == "origin_ip"  # REST does not check Origin
        with pytest.raises(WebSocketRejectedError) as refused:
            client.engine()
        assert refused.value.status == 403


def test_the_origin_the_allow_list_holds_opens_the_socket(qlik_emulator: EmulatorInfo) -> None:
    origin = f"https://{qlik_emulator.host}:{qlik_emulator['ports']['proxy']}"
    site = _by_ip(qlik_emulator, origin)
    with QlikClient(site, HeaderAuth("origin_alias")) as client:
        assert client.websocket_options().origin == origin
        with client.engine() as engine:
            assert engine.call(-1, "GetDocList")["qDocList"]


@pytest.mark.parametrize(
    "bad",
    ["qlik.example.com", "https://qlik.example.com/hub", "ftp://x", "https://a@b", "https://h?x"],
)
def test_an_origin_is_scheme_and_host_only(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="Origin"):
        Site("qlik.example.com", websocket_origin=bad)
    assert Site("h", websocket_origin="https://qlik.example.com/").websocket_origin == (
        "https://qlik.example.com"
    )
