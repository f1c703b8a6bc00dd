"""Point 1: credentials go only where every URL parser agrees the site is.

``urllib.parse`` takes the host after the last ``@``; urllib3 (which sends requests'
requests) and browsers (the WHATWG URL rules, here through ada, the parser of Node.js) end
the authority at a backslash. The site's ownership decision must hold whichever of them
reads the URL: property tests compare it with all of them, then real sockets show that the
session never reaches a hostile server behind such a URL.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

import ada_url
import pytest
import requests
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from reliability_support import emulator_site, new_user
from urllib3.util import parse_url

from qlikauth.auth.header import HeaderAuth
from qlikauth.client import QlikClient, RequestsAuth
from qlikauth.destination import url_authority
from qlikauth.download import resolve_url
from qlikauth.errors import ConfigurationError, DownloadError, ForeignHostError
from qlikauth.identity import QlikUser
from qlikauth.qps import Ticket
from qlikauth.site import Site, VirtualProxy
from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.testing.hostile import HostileServer

SITE = Site("qlik.corp", VirtualProxy("hdr", "X-Qlik-Session-hdr"))
PORTS = {443, 4243, 4242, 4747, 4244}
DEFAULT_PORTS = {"https": 443, "wss": 443, "http": 80, "ws": 80}
PIECES = [
    "qlik.corp", "QLIK.corp", "evil.example", "evil", "@", "\\", ":", ":443", ":4243",
    ":8443", ":0443", "%2e", "%40", "%5c", "%00", ".", "..", "[", "]", "[::1]", "::1",
    "\u3002", "\uff0e", "\uff20", "\t", " ", "\r\n", "\x00", "\x7f", "#", "?", "/", "//",
    "user:pass", "qlik.corp.", "0x7f.1", "127.0.0.1", "xn--", ";", "=",
]  # fmt: skip
SCHEMES = ["https", "HTTPS", "wss", "http", "ws", "ftp", "javascript", " https", "ht\ttps"]
SEPARATORS = ["://", ":/", ":///", ":\\\\", ":/\\", "://\\", ":", "://@"]
TAILS = ["", "/", "/hdr/qrs/about", "/x?y=1", "#f", "?q", "\\x", "/@evil/", "/\\evil/"]

#: URLs near the site's own: its host with confusion around it.
near_site_urls = st.builds(
    lambda scheme, before, host, after, port, tail: f"{scheme}://{before}{host}{after}{port}{tail}",
    st.sampled_from(["https", "HTTPS", "wss", "https", "http"]),
    st.sampled_from(["", "", "", "evil@", "evil\\@", "evil%40", "\\", "@", "user:pass@", "\t"]),
    st.sampled_from(["qlik.corp", "QLIK.CORP", "qlik.corp.", "qlik%2ecorp", "qlik\u3002corp"]),
    st.sampled_from(["", "", "", "\\@evil", "@evil", ".evil", "%00", "\r\n", " ", "#@evil"]),
    st.sampled_from(["", "", ":443", ":4243", ":0443", ":", ":8443", ":443@evil", ":99999"]),
    st.sampled_from(TAILS),
)
#: The site's own URLs with one confusing piece put in anywhere.
spliced_site_urls = st.builds(
    lambda url, at, piece: url[:at] + piece + url[at:],
    st.sampled_from(
        [
            "https://qlik.corp/hdr/qrs/about?xrfkey=abc",
            "https://qlik.corp:4243/qps/hdr/session/x",
            "wss://qlik.corp/hdr/app/engineData",
            "https://[::1]:443/hdr/",
        ]
    ),
    st.integers(min_value=0, max_value=45),
    st.sampled_from(PIECES),
)
confusing_urls = st.one_of(
    near_site_urls,
    spliced_site_urls,
    st.builds(
        lambda scheme, sep, parts, tail: scheme + sep + "".join(parts) + tail,
        st.sampled_from(SCHEMES),
        st.sampled_from(SEPARATORS),
        st.lists(st.sampled_from(PIECES), max_size=6),
        st.sampled_from(TAILS),
    ),
    st.text(max_size=40).map(lambda text: "https://" + text),
)
relative_qurls = st.builds(
    lambda lead, parts, tail: lead + "".join(parts) + tail,
    st.sampled_from(["", "/", "//", "\\", "/\\", "///", "https:", "./", "../"]),
    st.lists(st.sampled_from([*PIECES, "tempcontent", "x", "f.csv", "%2e%2e"]), max_size=6),
    st.sampled_from(TAILS),
)
HYPOTHESIS = settings(
    max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _default(scheme: str | None) -> int | None:
    return DEFAULT_PORTS.get((scheme or "").lower())


def _urllib3(url: str) -> tuple[str, int | None] | None:
    try:
        parts = parse_url(url)
    except Exception:
        return None
    return (parts.host or "").lower(), parts.port or _default(parts.scheme)


def _requests(url: str) -> tuple[str, int | None] | None:
    """Where requests itself would connect: the URL it prepares, as urllib3 reads it."""
    try:
        prepared = requests.Request("GET", url).prepare().url or ""
    except Exception:
        return None
    return _urllib3(prepared)


def _whatwg(url: str) -> tuple[str, int | None] | None:
    try:
        parsed = ada_url.URL(url)
    except ValueError:
        return None
    scheme = parsed.protocol.rstrip(":")
    return parsed.hostname.lower(), int(parsed.port) if parsed.port else _default(scheme)


def _stdlib(url: str) -> tuple[str, int | None] | None:
    try:
        parts = urlsplit(url)
        return (parts.hostname or "").lower(), parts.port or _default(parts.scheme)
    except ValueError:
        return None


PARSERS = {"urllib3": _urllib3, "requests": _requests, "WHATWG": _whatwg, "urllib": _stdlib}


def _all_read(url: str, host: str, port: int, *, refusal_ok: bool = False) -> None:
    """Every parser reads ``url`` as ``host:port`` (or, with ``refusal_ok``, refuses it:
    a parser that refuses a URL connects nowhere)."""
    expected = (f"[{host}]" if ":" in host else host, port)
    for name, parse in PARSERS.items():
        found = parse(url)
        if found is None and refusal_ok:
            continue
        if name == "urllib" and found is not None:
            found = (f"[{found[0]}]" if ":" in found[0] else found[0], found[1])
        assert found == expected, f"{name} reads {url!r} as {found}, not {expected}"


@HYPOTHESIS
@given(confusing_urls)
def test_a_url_the_site_owns_goes_to_the_site_whichever_parser_reads_it(url: str) -> None:
    if not SITE.owns(url):
        event("not the site's")
        return
    event("the site's")
    where = url_authority(url)
    assert where is not None and where.port in PORTS
    _all_read(url, "qlik.corp", where.port)


@HYPOTHESIS
@given(confusing_urls)
def test_any_authority_qlikauth_reads_is_read_alike_by_every_parser(url: str) -> None:
    where = url_authority(url)
    if where is None:
        event("refused")
        return
    event("read")
    _all_read(url, where.host, where.port, refusal_ok=True)


@HYPOTHESIS
@given(
    st.text(max_size=30),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)
def test_the_sites_own_urls_are_never_refused(path: str, query: dict[str, str]) -> None:
    for url in (SITE.proxy_url(path, query), SITE.qps_url(path), SITE.app_websocket_url(path)):
        assert SITE.owns(url), url
        where = url_authority(url)
        assert where is not None
        _all_read(url, "qlik.corp", where.port)


@HYPOTHESIS
@given(st.one_of(confusing_urls, relative_qurls))
def test_a_resolved_qurl_stays_on_the_sites_proxy_for_every_parser(q_url: str) -> None:
    try:
        url = SITE.resolve(q_url)
    except ForeignHostError:
        event("refused")
        return
    event("resolved")
    _all_read(url, "qlik.corp", 443)
    path = urlsplit(url).path
    assert path == "/hdr" or path.startswith("/hdr/")
    assert ".." not in path.split("/")


@HYPOTHESIS
@given(confusing_urls)
def test_a_browser_sent_to_a_tickets_target_lands_on_the_site(target: str) -> None:
    ticket = Ticket("T1ck3t", target, QlikUser("CORP", "alice"), expires_at=0, prefix="hdr")
    try:
        url = ticket.redirect_url(SITE)
    except ConfigurationError:
        event("refused")
        return
    event("redirected")
    browser = _whatwg(url)
    assert browser is not None and browser[0] == "qlik.corp" and browser[1] in PORTS


@HYPOTHESIS
@given(confusing_urls)
def test_a_download_from_an_allowed_host_never_carries_the_session_elsewhere(url: str) -> None:
    try:
        full, with_credentials = resolve_url(SITE, url, allow_hosts=("evil.example",))
    except DownloadError:
        return
    if with_credentials:
        _all_read(full, "qlik.corp", 443)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil\\@qlik.corp:443/hdr/qrs/about",
        "https://evil\\@qlik.corp/hdr/qrs/about",
        "https://qlik.corp\\@evil/",
        "https://qlik.corp:443@evil/",
        "https://user@qlik.corp/",
        "https://qlik.corp%2eevil/",
        "https://qlik.corp\t/",
        " https://qlik.corp/",
        "https:\\\\qlik.corp/",
        "https:/qlik.corp/",
        "https://qlik.corp:/",
        "https://qlik\u3002corp/",
        "https://127.1/",
        "https://[::0443:1]/",
    ],
)
def test_the_known_confusions_are_not_the_sites(url: str) -> None:
    assert url_authority(url) is None
    assert not SITE.owns(url)
    with pytest.raises(ForeignHostError):
        SITE.resolve(url)


def test_a_host_with_a_line_break_is_named_for_what_it_is() -> None:
    with pytest.raises(ConfigurationError, match="control character") as error:
        Site("qlik.corp\r\nHost: evil:443")
    assert "port" not in error.value.message


# --------------------------------------------------------------------------- real sockets


def _confusing(attacker: HostileServer, site: Site) -> str:
    """A URL urllib reads as the site's proxy and urllib3 as the attacker."""
    scheme = "https" if attacker.tls else "http"
    return f"{scheme}://127.0.0.1:{attacker.port}\\@{site.host}:{site.proxy_port}/hdr/qrs/about"


def test_the_session_never_reaches_a_host_behind_a_backslash_over_http(
    qlik_emulator_http: EmulatorInfo,
) -> None:
    info = qlik_emulator_http
    site = replace(
        emulator_site(info, "hdr"), scheme="http", proxy_port=info["ports"]["proxy_http"]
    )
    with HostileServer(tls=False) as attacker, QlikClient(site, HeaderAuth(new_user())) as client:
        client.whoami()  # logged in: a session cookie to lose
        with pytest.raises(ForeignHostError):
            client.get(_confusing(attacker, site))
        assert attacker.requests == []


def test_the_session_never_reaches_a_host_behind_a_backslash_over_https(
    qlik_emulator: EmulatorInfo,
) -> None:
    site = emulator_site(qlik_emulator, "hdr")
    # The attacker even holds a certificate the site's root trusts.
    with (
        HostileServer(certs=qlik_emulator.certs_dir) as attacker,
        QlikClient(site, HeaderAuth(new_user())) as client,
    ):
        client.whoami()
        with pytest.raises(ForeignHostError):
            client.get(_confusing(attacker, site))
        auth = RequestsAuth(client)
        answer = requests.get(_confusing(attacker, site), auth=auth, verify=auth.verify, timeout=10)
        assert answer.status_code == 200  # the attacker's own answer, to a bare request
        seen = attacker.requests
        assert [r.path for r in seen] == [f"/%5C@localhost:{site.proxy_port}/hdr/qrs/about"]
        assert not {"cookie", "qlik-csrf-token", "x-qlik-xrfkey"} & set(seen[0].headers)
