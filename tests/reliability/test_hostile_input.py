"""Hostile input: every parser and builder that takes outside input, fed by hypothesis.

Each answers with its value or with a :class:`QlikAuthError` that explains, never another
exception, and what it builds stays well-formed: Xrfkeys, virtual proxy prefixes, REST paths
and URLs (``qUrl``s and ticket targets: ``test_url_confusion.py``), ``X-Qlik-User`` values,
JWTs and their claims, cookies, session ids, JSON-RPC messages and profile TOML.
"""

from __future__ import annotations

import contextlib
import json
import string
import warnings
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt as pyjwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from urllib3.util import parse_url

from qlikauth.auth.jwt import JwtAuth
from qlikauth.client.ops import build_url
from qlikauth.config import ConfigFile, resolve
from qlikauth.credentials import Credentials, Route, check_header_value
from qlikauth.engine.protocol import EngineProtocol
from qlikauth.errors import ConfigurationError, InvalidHeaderValueError, QlikAuthError
from qlikauth.http import HttpRequest, HttpResponse, with_xrfkey
from qlikauth.identity import QlikUser
from qlikauth.jwt import JwtSigner, inspect_jwt, make_jwt_keypair, verify_jwt
from qlikauth.pki import make_test_pki
from qlikauth.sessions import end_session, session_cookie_from
from qlikauth.site import Site, VirtualProxy
from qlikauth.tls import CertificateBundle, TlsConfig

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SITE = Site("qlik.corp", VirtualProxy("hdr", "X-Qlik-Session-hdr"))
#: Text as hostile as text gets: controls, separators, bidi overrides, lone surrogates.
hostile_text = st.text(
    st.one_of(
        st.characters(),
        st.sampled_from("\r\n\t\x00\x7f\x85\u2028\u2029\u202e\u200d\ud800\udfff\\/;=%&?#@:\"' "),
    ),
    max_size=40,
)
ASCII_KEY = frozenset(string.ascii_letters + string.digits)


# --------------------------------------------------------------------------- Xrfkey


@PROPERTY
@given(
    st.lists(st.tuples(hostile_text, hostile_text), max_size=4),
    st.one_of(st.none(), hostile_text),
)
def test_an_xrfkey_is_one_value_in_the_query_and_the_header(
    query: list[tuple[str, str]], key: str | None
) -> None:
    try:
        url = SITE.proxy_url("qrs/about", dict(query))
    except ConfigurationError:
        return  # a lone surrogate: not text, refused with its reason
    try:
        signed = with_xrfkey(HttpRequest("GET", url), key)
    except ConfigurationError:
        assert key is not None  # only a caller's own key can be refused
        return
    found = [v for k, v in parse_qsl(urlsplit(signed.url).query) if k.lower() == "xrfkey"]
    assert found == [signed.headers["X-Qlik-Xrfkey"]]
    if key is None:
        assert len(found[0]) == 16 and set(found[0]) <= ASCII_KEY
    kept = [(k, v) for k, v in parse_qsl(urlsplit(url).query) if k.lower() != "xrfkey"]
    assert [(k, v) for k, v in parse_qsl(urlsplit(signed.url).query) if k != "xrfkey"] == kept


# --------------------------------------------------------------------------- prefixes and paths


@PROPERTY
@given(hostile_text)
def test_a_prefix_is_qliks_grammar_or_refused(prefix: str) -> None:
    try:
        site = SITE.with_prefix(prefix)
    except ConfigurationError:
        return
    assert prefix == "" or set(prefix) <= set(string.ascii_lowercase + string.digits + "-._~")
    head = f"/{prefix}/" if prefix else "/"
    assert urlsplit(site.proxy_url("qrs/about")).path == f"{head}qrs/about"


@PROPERTY
@given(hostile_text, st.dictionaries(hostile_text, hostile_text, max_size=3))
def test_a_rest_path_stays_on_the_site(path: str, params: dict[str, str]) -> None:
    credentials = Credentials(cookies={"X-Qlik-Session-hdr": "s"}, cookie_name="X-Qlik-Session-hdr")
    try:
        url = build_url(SITE, credentials, path, params)
    except QlikAuthError:
        return
    assert SITE.owns(url), url
    assert parse_url(url).host == "qlik.corp"


# --------------------------------------------------------------------------- X-Qlik-User


@PROPERTY
@given(hostile_text)
def test_any_x_qlik_user_value_reads_as_a_user_or_is_refused(value: str) -> None:
    try:
        user = QlikUser.parse(value)
    except ConfigurationError:
        return
    for part in (user.directory, user.user_id, str(user)):
        assert "\r" not in part and "\n" not in part and "\x00" not in part


@PROPERTY
@given(hostile_text, hostile_text)
def test_a_user_travels_in_x_qlik_user_and_comes_back_the_same(
    directory: str, user_id: str
) -> None:
    try:
        user = QlikUser(directory, user_id)
    except ConfigurationError:
        return
    value = check_header_value("X-Qlik-User", user.header_value())
    assert QlikUser.parse(value) == user
    assert len(str(user).splitlines()) == 1  # no forged line in any output


# --------------------------------------------------------------------------- JWTs


@pytest.fixture(scope="module")
def signing(tmp_path_factory: pytest.TempPathFactory) -> tuple[JwtSigner, Path]:
    folder = tmp_path_factory.mktemp("jwt")
    make_jwt_keypair(folder / "key.pem", folder / "cert.pem")
    return JwtSigner(folder / "key.pem"), folder / "cert.pem"


@PROPERTY
@given(
    st.one_of(hostile_text, st.text(string.ascii_letters + string.digits + "-_.=", max_size=300))
)
def test_any_token_is_inspected_or_refused_without_surprise(
    signing: tuple[JwtSigner, Path], token: str
) -> None:
    inspect_jwt(token)  # never raises: problems are its answer
    with pytest.raises(QlikAuthError):
        verify_jwt(token, signing[1])


@PROPERTY
@given(
    hostile_text,
    hostile_text,
    st.lists(hostile_text, max_size=3),
    st.dictionaries(st.sampled_from(["email", "dept", "x"]), hostile_text, max_size=2),
)
def test_jwt_claims_are_signed_as_given_or_refused(
    signing: tuple[JwtSigner, Path],
    user: str,
    directory: str,
    groups: list[str],
    attributes: dict[str, str],
) -> None:
    signer, certificate = signing
    try:
        auth = JwtAuth(user, directory, signer=signer, groups=groups, attributes=attributes)
    except ConfigurationError:
        return
    claims = pyjwt.decode(auth.token(), options={"verify_signature": False})
    assert (claims["userId"], claims["userDirectory"]) == (user, directory)
    assert verify_jwt(auth.token(), certificate)["userId"] == user
    for text in (user, directory, *groups, *attributes.values()):
        assert not any(c in text for c in "\r\n\x00\u2028\u202e")


# --------------------------------------------------------------------------- cookies and ids


@PROPERTY
@given(st.lists(hostile_text, max_size=4))
def test_any_set_cookie_yields_a_session_or_a_clear_refusal(headers: list[str]) -> None:
    response = HttpResponse(200, tuple(("Set-Cookie", h) for h in headers))
    cookies = response.set_cookies()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in cookies.items())
    try:
        found = session_cookie_from(response, SITE)
    except ConfigurationError:
        return
    if found is None:
        return
    name, value = found
    try:
        credentials = Credentials(cookies={name: value}, cookie_name=name)
    except InvalidHeaderValueError:
        return
    for header, text in credentials.http_headers().items():
        check_header_value(header, text)
    if len(value) >= 6:
        assert value not in repr(credentials)


@pytest.fixture(scope="module")
def qps_site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """A site with a client certificate: logouts go to QPS."""
    folder = tmp_path_factory.mktemp("pki")
    make_test_pki(folder, ("qlik.corp",), pfx_password="unused-here")
    bundle = CertificateBundle.from_folder(folder)
    return Site(
        "qlik.corp", VirtualProxy("hdr", "X-Qlik-Session-hdr"), tls=TlsConfig(bundle=bundle)
    )


@PROPERTY
@given(session_id=hostile_text.filter(lambda text: text.strip(".") != ""))
def test_a_session_id_from_outside_is_one_path_segment_on_qps(
    qps_site: Site, session_id: str
) -> None:
    site = qps_site
    try:
        credentials = Credentials(
            route=Route.PROXY,
            cookies={"X-Qlik-Session-hdr": session_id},
            cookie_name="X-Qlik-Session-hdr",
        )
    except InvalidHeaderValueError:
        return
    request = next(end_session(site, credentials))
    path = parse_url(request.url).path or ""  # urllib3 resolves dot segments, as it sends
    segments = path.split("/")
    assert segments[:4] == ["", "qps", "hdr", "session"] and len(segments) == 5, path
    assert unquote(segments[4]) == session_id


# --------------------------------------------------------------------------- JSON-RPC

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), hostile_text),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)
    ),
    max_leaves=12,
)
rpc_messages = st.one_of(
    hostile_text,
    st.binary(max_size=60),
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {"jsonrpc": st.just("2.0")},
        optional={
            "id": st.one_of(st.integers(-2, 4), hostile_text, st.none()),
            "method": st.one_of(
                st.sampled_from(["OnConnected", "OnAuthenticationInformation", "OnSessionClosed"]),
                hostile_text,
            ),
            "params": json_values,
            "result": json_values,
            "error": json_values,
            "change": json_values,
            "close": json_values,
        },
    ).map(json.dumps),
)


@PROPERTY
@given(st.lists(rpc_messages, min_size=1, max_size=6))
def test_any_json_rpc_message_is_an_event_or_a_clear_error(messages: list[str | bytes]) -> None:
    protocol = EngineProtocol()
    protocol.start()
    protocol.request(-1, "GetDocList")
    for message in messages:
        try:
            events = protocol.receive(message)
        except QlikAuthError:
            continue
        assert isinstance(events, list)
    protocol.request(-1, "EngineVersion")  # still usable


# --------------------------------------------------------------------------- profile TOML


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


PROFILE_KEYS = [
    "server", "prefix", "cookie_name", "scheme", "proxy_port", "qps_port", "websocket_origin",
    "certs", "certs_password", "root", "timeout", "authenticator", "auth", "nonsense",
]  # fmt: skip
toml_scalars = st.one_of(
    hostile_text,
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.sampled_from(["localhost", "hdr", "header", "jwt", "ticket", "env:NOPE", "keyring:x"]),
)
profiles = st.dictionaries(
    st.sampled_from(PROFILE_KEYS),
    st.one_of(
        toml_scalars,
        st.lists(toml_scalars, max_size=2),
        st.dictionaries(
            st.sampled_from(["user", "directory", "key", "password", "x"]), toml_scalars
        ),
    ),
    max_size=8,
)


@pytest.mark.usefixtures("memory_keyring")
@PROPERTY
@given(
    st.dictionaries(st.one_of(st.sampled_from(["p", "emu"]), hostile_text), profiles, max_size=2),
    st.one_of(st.none(), hostile_text, st.integers()),
)
def test_any_profile_toml_resolves_or_says_what_is_wrong(
    tmp_path_factory: pytest.TempPathFactory,
    documents: dict[str, dict[str, object]],
    default: object,
) -> None:
    lines = [] if default is None else [f"default_profile = {_toml(default)}"]
    for name, table in documents.items():
        lines.append(f"[profiles.{json.dumps(name)}]")
        lines += [f"{json.dumps(k)} = {_toml(v)}" for k, v in table.items()]
    path = tmp_path_factory.mktemp("toml") / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # verify = false warns; that is not the point here
        try:
            config = ConfigFile.load(path, env={})
            for name in [*config.profiles, None]:
                with contextlib.suppress(QlikAuthError):
                    resolve(name, config=config, env={})
        except QlikAuthError:
            pass
