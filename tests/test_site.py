"""Site and VirtualProxy: validation and every URL shape of qlik-protocol.md."""

from __future__ import annotations

import pytest

from qlikauth import ConfigurationError, ForeignHostError, Site, VirtualProxy


@pytest.fixture
def hdr() -> Site:
    return Site("qlik.example.com", VirtualProxy("hdr"))


@pytest.fixture
def default() -> Site:
    return Site("qlik.example.com")


def test_proxy_resources_go_under_the_prefix(hdr: Site, default: Site) -> None:
    assert hdr.proxy_url() == "https://qlik.example.com/hdr/"
    assert hdr.proxy_url("hub/") == "https://qlik.example.com/hdr/hub/"
    assert default.proxy_url("hub/") == "https://qlik.example.com/hub/"
    assert default.proxy_url() == "https://qlik.example.com/"


def test_qps_puts_the_prefix_after_qps_on_4243(hdr: Site, default: Site) -> None:
    assert hdr.qps_url("ticket") == "https://qlik.example.com:4243/qps/hdr/ticket"
    assert default.qps_url("session/abc") == "https://qlik.example.com:4243/qps/session/abc"


def test_personal_api_puts_the_prefix_before_qps(hdr: Site) -> None:
    assert hdr.personal_url("user") == "https://qlik.example.com/hdr/qps/user"
    assert hdr.personal_url("csrftoken") == "https://qlik.example.com/hdr/qps/csrftoken"


def test_qrs_and_direct_engine_take_no_prefix(hdr: Site) -> None:
    assert (
        hdr.qrs_url("about", {"xrfkey": "k"}) == "https://qlik.example.com:4242/qrs/about?xrfkey=k"
    )
    assert hdr.engine_websocket_url("a1") == "wss://qlik.example.com:4747/app/a1"


def test_app_websocket_url_with_identity_ttl_and_query(hdr: Site) -> None:
    url = hdr.app_websocket_url("my app", identity="s1", ttl=5, query={"qlik-csrf-token": "t"})
    assert url == "wss://qlik.example.com/hdr/app/my%20app/identity/s1/ttl/5?qlik-csrf-token=t"
    assert hdr.app_websocket_url() == "wss://qlik.example.com/hdr/app/engineData"


@pytest.mark.parametrize("ttl", [-1, 1.5, True])
def test_ttl_must_be_whole_seconds(hdr: Site, ttl: object) -> None:
    with pytest.raises(ConfigurationError, match="ttl"):
        hdr.app_websocket_url(ttl=ttl)  # type: ignore[arg-type]


def test_ports_are_overridable_and_shown() -> None:
    site = Site("localhost", proxy_port=8443, qps_port=9443, qrs_port=9442, engine_port=9747)
    assert site.proxy_url("hub/") == "https://localhost:8443/hub/"
    assert site.qps_url("ticket") == "https://localhost:9443/qps/ticket"
    assert site.origin == "https://localhost:8443"
    assert site.engine_websocket_url() == "wss://localhost:9747/app/engineData"


def test_ipv6_hosts_are_bracketed() -> None:
    site = Site("::1", proxy_port=8443)
    assert site.proxy_url() == "https://[::1]:8443/"
    assert site.owns("https://[::1]:8443/hub/")


def test_cookie_names() -> None:
    assert Site("h").cookie_name == "X-Qlik-Session"
    assert Site("h", VirtualProxy("hdr")).cookie_name is None  # learned from Set-Cookie
    named = Site("h", VirtualProxy("hdr", "X-Qlik-Session-hdr"))
    assert named.cookie_name == "X-Qlik-Session-hdr"
    plain = Site("h", VirtualProxy("hdr", "X-Qlik-Session-hdr"), proxy_port=80, scheme="http")
    assert plain.cookie_name == "X-Qlik-Session-hdr-HTTP"
    assert plain.proxy_url() == "http://h/hdr/"


def test_plain_http_site_reaches_proxy_and_login_module_over_http_only() -> None:
    plain = Site.from_url("http://qlik.example.com/hdr")
    assert (plain.proxy_port, plain.auth_port) == (80, 4248)
    assert plain.auth_url("internal_windows_authentication/") == (
        "http://qlik.example.com:4248/internal_windows_authentication/"
    )
    assert plain.owns("http://qlik.example.com:4248/internal_windows_authentication/")
    assert not plain.owns("https://qlik.example.com:4248/")
    assert not plain.owns("https://qlik.example.com/hdr/hub/")
    # QPS, QRS and the engine speak https whatever the proxy does.
    assert plain.owns("https://qlik.example.com:4243/qps/hdr/ticket")
    assert not plain.owns("http://qlik.example.com:4243/qps/hdr/ticket")
    assert Site("qlik.example.com").auth_port == 4244
    assert Site("qlik.example.com", scheme="http", auth_port=9000).auth_port == 9000
    built = Site("qlik.example.com", VirtualProxy("hdr"), scheme="http")
    assert built == plain
    assert built.proxy_url("hub/") == "http://qlik.example.com/hdr/hub/"
    assert built.app_websocket_url("a") == "ws://qlik.example.com/hdr/app/a"


def test_http_site_owns_trusted_ports_even_when_a_front_port_collides() -> None:
    odd = Site("h", scheme="http", proxy_port=4242)  # the proxy's http port is QRS's number
    assert odd.owns("http://h:4242/hub/")
    assert odd.owns("https://h:4242/qrs/about")
    assert not odd.owns("https://h:4248/")


@pytest.mark.parametrize(
    ("prefix", "suggestion"),
    [("/hdr/", "'hdr'"), ("HDR", "'hdr'"), ("hdr/x", "'hdrx'"), ("my proxy", "'myproxy'")],
)
def test_bad_prefix_is_refused_with_a_suggestion(prefix: str, suggestion: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        VirtualProxy(prefix)
    assert suggestion in str(info.value)
    assert "lowercase" in info.value.message


@pytest.mark.parametrize("prefix", ["", "hdr", "jwt-2", "a.b_c~d"])
def test_good_prefixes(prefix: str) -> None:
    assert VirtualProxy(prefix).prefix == prefix


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        ("https://qlik.example.com", "scheme"),
        ("qlik.example.com/hub", "scheme, path"),
        ("qlik.example.com:443", "port"),
        ("qlik example", "invalid host"),
        ("user@qlik.example.com", "user"),
    ],
)
def test_bad_hosts_are_refused(host: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        Site(host)


@pytest.mark.parametrize("port", [65536, -1, True, "443"])
def test_ports_out_of_range_are_refused(port: object) -> None:
    with pytest.raises(ConfigurationError, match="proxy_port"):
        Site("h", proxy_port=port)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="qps_port"):
        Site("h", qps_port=port)  # type: ignore[arg-type]


def test_port_zero_is_the_default_only_where_the_scheme_decides_it() -> None:
    assert Site("h", proxy_port=0, auth_port=0) == Site("h", proxy_port=443, auth_port=4244)
    with pytest.raises(ConfigurationError, match="qps_port"):
        Site("h", qps_port=0)


def test_bad_cookie_name_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="cookie name"):
        VirtualProxy("hdr", "X-Qlik Session")


def test_from_url() -> None:
    site = Site.from_url("https://qlik.corp:8443/jwt/hub/")
    assert (site.host, site.proxy_port, site.prefix) == ("qlik.corp", 8443, "jwt")
    assert Site.from_url("https://qlik.corp").prefix == ""
    with pytest.raises(ConfigurationError):
        Site.from_url("ftp://qlik.corp/")
    with pytest.raises(ConfigurationError, match="prefix"):
        Site.from_url("https://qlik.corp/a/b")


def test_owns_only_the_site_itself(hdr: Site) -> None:
    assert hdr.owns("https://qlik.example.com/hdr/hub/")
    assert hdr.owns("https://QLIK.example.com:4243/qps/hdr/ticket")
    assert hdr.owns("wss://qlik.example.com/hdr/app/x")
    assert not hdr.owns("http://qlik.example.com/hdr/hub/")  # other scheme
    assert not hdr.owns("https://qlik.example.com:8443/")  # other port
    assert not hdr.owns("https://evil.example.com/hdr/")
    assert not hdr.owns("https://qlik.example.com.evil.com/")
    assert not hdr.owns("ftp://qlik.example.com/")


def test_resolve_puts_a_qurl_under_the_same_virtual_proxy(hdr: Site, default: Site) -> None:
    qurl = "/tempcontent/6b1f/Sales.csv?serverNodeId=aa-bb"
    assert (
        hdr.resolve(qurl)
        == "https://qlik.example.com/hdr/tempcontent/6b1f/Sales.csv?serverNodeId=aa-bb"
    )
    assert (
        default.resolve(qurl)
        == "https://qlik.example.com/tempcontent/6b1f/Sales.csv?serverNodeId=aa-bb"
    )
    already = "/hdr/tempcontent/x/f.csv?serverNodeId=n"
    assert hdr.resolve(already) == "https://qlik.example.com/hdr/tempcontent/x/f.csv?serverNodeId=n"
    absolute = "https://qlik.example.com/tempcontent/x/f.csv"
    assert hdr.resolve(absolute) == "https://qlik.example.com/hdr/tempcontent/x/f.csv"


@pytest.mark.parametrize(
    "url",
    [
        "https://other.example.com/tempcontent/x/f.csv",
        "http://qlik.example.com/tempcontent/x/f.csv",
        "https://qlik.example.com:4243/tempcontent/x/f.csv",
    ],
)
def test_resolve_refuses_other_hosts_ports_and_schemes(hdr: Site, url: str) -> None:
    with pytest.raises(ForeignHostError, match="refusing"):
        hdr.resolve(url)


def test_with_prefix(hdr: Site) -> None:
    jwt = hdr.with_prefix("jwt", "X-Qlik-Session-jwt")
    assert jwt.prefix == "jwt" and jwt.cookie_name == "X-Qlik-Session-jwt"
    assert jwt.host == hdr.host and jwt.tls is hdr.tls
