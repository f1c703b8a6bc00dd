"""``qlikauth doctor``: walk the whole chain for a profile and say what is wrong at each step.

Steps, in order (later steps are skipped when an earlier one makes them pointless):
configuration, certificate files (key match, expiry, chain, host name), DNS, TCP to each
port, TLS handshake with the proxy (a plain-http profile gets a warning instead: nothing to
check, and credentials cross in clear) and with QPS, QPS Xrfkey round trip (which also shows
whether QPS knows the prefix), the virtual proxy prefix, clock skew against the proxy's
``Date`` (what JWTs depend on), a fresh login (and the session cookie name the proxy
really sets), the websocket CSRF flow and the engine greeting. The login made here is
logged out at the end. Exit code 0 when every step is ok (warnings allowed).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import email.utils
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from qlikauth.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    common_options,
    emit,
    exit_code_for,
)
from qlikauth.cli._context import command, resolve_args, session_limit_hint
from qlikauth.config import Resolved
from qlikauth.credentials import Credentials, Route
from qlikauth.errors import (
    AuthenticationError,
    ConfigurationError,
    LoginRedirectError,
    QlikAuthError,
    SessionLimitError,
    TLSError,
    TransportError,
)
from qlikauth.handshake import check_connection
from qlikauth.http.diagnosis import check_response
from qlikauth.http.drivers import run_flow
from qlikauth.http.transport import HttpTransport
from qlikauth.http.values import HttpRequest, HttpResponse
from qlikauth.qps import list_sessions_request, parse_sessions
from qlikauth.sessions import personal_api_user
from qlikauth.tls import TlsConfig

__all__ = ["SKEW_ERROR", "SKEW_WARNING", "Step", "register"]

#: Seconds of clock difference with the proxy that earn a warning...
SKEW_WARNING = 5.0
#: ...and an error when the profile logs in with JWTs (iat/nbf/exp are judged by Qlik's clock).
SKEW_ERROR = 30.0

#: This machine's clock (a name of its own so the skew check can be exercised).
_clock: Callable[[], float] = time.time

Level = Literal["ok", "warning", "error", "skipped"]


@dataclass(frozen=True)
class Step:
    """One line of the diagnosis."""

    step: str
    level: Level
    message: str
    hint: str | None = None
    error: type[QlikAuthError] | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"step": self.step, "level": self.level, "message": self.message, "hint": self.hint}


#: The kind of error a failed step stands for, when no exception named it (for the exit code).
_STEP_ERRORS: dict[str, type[QlikAuthError]] = {
    "certificates": TLSError,
    "dns": TransportError,
    "tcp": TransportError,
    "tls": TLSError,
    "qps": ConfigurationError,
    "virtual proxy": ConfigurationError,
    "clock": ConfigurationError,
    "session cookie": ConfigurationError,
    "login": AuthenticationError,
}


class _Report:
    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.unreachable: set[str] = set()  # the services whose port refused TCP

    def add(
        self,
        step: str,
        level: Level,
        message: str,
        hint: str | None = None,
        error: type[QlikAuthError] | None = None,
    ) -> None:
        if level == "error" and error is None:
            error = _STEP_ERRORS.get(step)
        self.steps.append(Step(step, level, message, hint, error))

    def failed(self, step: str, exc: QlikAuthError) -> None:
        self.add(step, "error", exc.message, exc.hint, type(exc))

    def has_errors(self, *names: str) -> bool:
        return any(s.level == "error" and (not names or s.step in names) for s in self.steps)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``qlikauth doctor``."""
    parser = subparsers.add_parser(
        "doctor",
        parents=[common_options()],
        help="check every step from certificate files to the engine, and say how to fix",
        description="Walk the chain for a profile: certificates, DNS, TCP, TLS, QPS, "
        "virtual proxy prefix, clock skew, login and session cookie, websocket and engine. "
        "Exit 0 when all is well.",
    )
    parser.set_defaults(handler=_doctor)


def _certificates(report: _Report, resolved: Resolved) -> None:
    bundle = resolved.site.tls.bundle
    if bundle is None:
        report.add(
            "certificates",
            "warning",
            "no client certificate in the profile: QPS (tickets, sessions) and the direct "
            "ports cannot be checked",
            "set certs = the folder of the site's certificate export (root.pem, client.pem, "
            "client_key.pem) or its client.pfx",
        )
        return
    for finding in bundle.check(host=resolved.site.host):
        report.add("certificates", finding.level, finding.message, finding.hint)


def _network(report: _Report, resolved: Resolved) -> bool:
    site = resolved.site
    try:
        infos = socket.getaddrinfo(site.host, site.proxy_port, type=socket.SOCK_STREAM)
    except OSError as exc:
        report.add(
            "dns",
            "error",
            f"cannot resolve {site.host!r}: {exc}",
            "check the host name (as the server certificate names it) and this machine's DNS "
            "or hosts file",
        )
        return False
    addresses = sorted({str(info[4][0]) for info in infos})
    report.add("dns", "ok", f"{site.host} resolves to {', '.join(addresses)}")
    ports = [("proxy", site.proxy_port)]
    if site.tls.bundle is not None:
        ports += [("QPS", site.qps_port), ("QRS", site.qrs_port), ("engine", site.engine_port)]
    reachable = True
    for name, port in ports:
        try:
            with socket.create_connection((site.host, port), timeout=resolved.timeout):
                pass
        except OSError as exc:
            report.unreachable.add(name)
            reachable = reachable and name != "proxy"
            report.add(
                "tcp",
                "error",
                f"cannot connect to {name} at {site.host}:{port}: {exc.strerror or exc}",
                "check the port in the profile, that the service runs, and the firewall "
                "(4242/4243/4747 are often open only inside the network)",
            )
        else:
            report.add("tcp", "ok", f"{name} port {site.host}:{port} accepts connections")
    return reachable


def _tls(report: _Report, resolved: Resolved) -> bool:
    site = resolved.site
    ok = True
    if site.scheme == "http":
        report.add(
            "tls",
            "warning",
            f'proxy: plain http (scheme = "http"): no TLS on the proxy ({site.host}:'
            f"{site.proxy_port}) nor on the login module (port {site.auth_port}); session "
            "cookies, CSRF tokens and any password cross the network in clear",
            "use https unless every network hop between here and the proxy is trusted; the "
            "engine websocket through the proxy is in clear too (ws://), while the QPS, QRS and "
            "direct engine ports stay on TLS",
        )
    else:
        proxy_trust = TlsConfig(root=site.tls.root, verify=site.tls.verify)
        for finding in check_connection(
            site.host, site.proxy_port, config=proxy_trust, timeout=resolved.timeout
        ):
            ok = ok and finding.level != "error"
            report.add("tls", finding.level, f"proxy: {finding.message}", finding.hint)
    if site.tls.bundle is not None and not report.has_errors("certificates"):
        for finding in check_connection(
            site.host, site.qps_port, config=site.tls, timeout=resolved.timeout
        ):
            report.add("tls", finding.level, f"QPS: {finding.message}", finding.hint)
    return ok


def _qps(report: _Report, resolved: Resolved) -> None:
    site = resolved.site
    if site.tls.bundle is None or report.has_errors("certificates", "tls"):
        report.add("qps", "skipped", "QPS not checked (no usable client certificate)")
        return
    if "QPS" in report.unreachable:
        report.add("qps", "skipped", f"QPS not checked (port {site.qps_port} is not reachable)")
        return
    where = site.virtual_proxy_label
    with HttpTransport(site, timeout=resolved.timeout) as transport:
        try:
            # A 404 means QPS knows no such prefix: said here in the doctor's own words.
            response = transport.send(list_sessions_request(site))
            if response.status != 404:
                check_response(response, what="QPS session list")
                sessions = parse_sessions(response)
        except QlikAuthError as exc:
            report.failed("qps", exc)
            return
    if response.status == 404:
        report.add(
            "qps",
            "error",
            f"QPS does not know {where}: GET /qps/{site.prefix}/session answered 404",
            "check the prefix: it is the virtual proxy's prefix as the QMC shows it, and "
            "the virtual proxy must be linked to this proxy",
        )
        return
    report.add(
        "qps",
        "ok",
        f"QPS answered with the client certificate and Xrfkey; {where} holds "
        f"{len(sessions)} session(s)",
    )


def _probe_proxy(report: _Report, resolved: Resolved) -> HttpResponse | None:
    """GET the personal API without a session: an existing prefix answers, others do not."""
    site = resolved.site
    where = site.virtual_proxy_label
    request = HttpRequest("GET", site.personal_url("user"))
    with HttpTransport(site, timeout=resolved.timeout) as transport:
        try:
            response = transport.send(request)
        except QlikAuthError as exc:
            report.failed("virtual proxy", exc)
            return None
    if response.status == 404:
        report.add(
            "virtual proxy",
            "error",
            f"the proxy answered 404 for {site.personal_url('user')}: no {where}",
            "check the prefix (lowercase, as the QMC shows it) and that the virtual proxy is "
            "linked to this proxy",
        )
    elif response.is_redirect:
        report.add(
            "virtual proxy",
            "error",
            f"the personal API of {where} redirected to {response.location}: the prefix is "
            "not a virtual proxy of this server (another virtual proxy took the path)",
            "check the prefix: a virtual proxy's own /qps/user answers without a login; an "
            "unknown prefix is treated as a page of the default virtual proxy",
        )
    elif response.status == 200 and response.content_type == "application/json":
        report.add("virtual proxy", "ok", f"{where} exists and answers the personal API")
    else:
        report.add(
            "virtual proxy",
            "warning",
            f"{where}: the personal API answered {response.status} {response.content_type}",
            "unexpected for a Qlik Sense proxy; check host, port and prefix",
        )
    return response


def _clock_skew(report: _Report, resolved: Resolved, response: HttpResponse | None) -> None:
    date = response.header("Date") if response is not None else None
    if date is None:
        report.add("clock", "skipped", "the proxy sent no Date header; clock not compared")
        return
    try:
        server = email.utils.parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        report.add("clock", "warning", f"cannot read the proxy's Date header {date!r}")
        return
    skew = _clock() - server
    jwt = resolved.authenticator is not None and resolved.authenticator.name == "jwt"
    side = "ahead of" if skew > 0 else "behind"
    text = f"this machine's clock is {abs(skew):.0f} s {side} the proxy's"
    if abs(skew) >= SKEW_ERROR:
        report.add(
            "clock",
            "error" if jwt else "warning",
            text
            + (
                ": JWTs minted here look "
                + ("issued in the future (iat/nbf)" if skew > 0 else "already expired (exp)")
                + " to the proxy"
                if jwt
                else ""
            ),
            "synchronise the clocks (NTP) of this machine and the Qlik server",
        )
    elif abs(skew) >= SKEW_WARNING:
        report.add("clock", "warning", text, "synchronise the clocks with NTP")
    else:
        report.add("clock", "ok", f"{text} (within {SKEW_WARNING:.0f} s)")


def _login(report: _Report, resolved: Resolved, transport: HttpTransport) -> Credentials | None:
    site = resolved.site
    auth = resolved.authenticator
    if auth is None:
        report.add(
            "login",
            "skipped",
            "the profile names no authenticator; login, cookie and websocket not checked",
            "set authenticator = NAME and its settings in the profile",
        )
        return None
    try:
        credentials = run_flow(auth.prepare(site).login(site), transport)
    except ConfigurationError as exc:
        step = "session cookie" if "cookie" in exc.message else "login"
        report.failed(step, exc)
        return None
    except LoginRedirectError as exc:
        report.add(
            "login",
            "error",
            exc.message,
            (exc.hint or "")
            + f" Check that virtual proxy '{site.prefix}' uses the {auth.name} method.",
            type(exc),
        )
        return None
    except QlikAuthError as exc:
        report.failed("login", exc)
        return None
    report.add("login", "ok", f"{auth.name} login accepted: {credentials.user}")
    if credentials.route is Route.DIRECT:
        return credentials
    configured = site.cookie_name
    if configured is None:
        report.add(
            "session cookie",
            "warning",
            f"the proxy set the session cookie {credentials.cookie_name}; the profile does not "
            "name it",
            f"set cookie_name = {credentials.cookie_name!r} in the profile",
        )
    else:
        report.add(
            "session cookie", "ok", f"the proxy set {credentials.cookie_name}, as configured"
        )
    check = HttpRequest("GET", site.personal_url("user"), credentials.http_headers())
    try:
        user = personal_api_user(transport.send(check))
    except QlikAuthError as exc:
        report.failed("session cookie", exc)
    else:
        if user is None:
            report.add(
                "session cookie",
                "error",
                "the proxy does not recognise its own session cookie on the next request",
                "check the cookie name and that the host is in the virtual proxy's allow list",
            )
    return credentials


def _websocket(report: _Report, resolved: Resolved, credentials: Credentials) -> None:
    from qlikauth.engine.sync import EngineConnection

    try:
        connection = EngineConnection.open(
            resolved.site, credentials, timeout=resolved.timeout, call_timeout=resolved.timeout
        )
    except QlikAuthError as exc:
        report.failed("websocket", exc)
        return
    try:
        token = "with" if credentials.csrf_token else "without"
        report.add("websocket", "ok", f"websocket upgrade accepted ({token} a CSRF token)")
        state = connection.session_state_text or "no session state"
        version = connection.global_.engine_version()
        report.add("engine", "ok", f"engine greeted ({state}); version {version}")
    except QlikAuthError as exc:
        report.failed("engine", exc)
    finally:
        connection.close()


def diagnose(resolved: Resolved) -> list[Step]:
    """Every step for a resolved profile."""
    report = _Report()
    _certificates(report, resolved)
    if not _network(report, resolved) or not _tls(report, resolved):
        return report.steps
    _qps(report, resolved)
    response = _probe_proxy(report, resolved)
    _clock_skew(report, resolved, response)
    with HttpTransport(resolved.site, timeout=resolved.timeout) as transport:
        credentials = _login(report, resolved, transport)
        if credentials is None:
            return report.steps
        try:
            if credentials.route is Route.PROXY:
                _websocket(report, resolved, credentials)
        finally:
            if resolved.authenticator is not None and resolved.authenticator.creates_session:
                with contextlib.suppress(QlikAuthError):
                    run_flow(resolved.authenticator.logout(resolved.site, credentials), transport)
    return report.steps


def _exit_code(steps: list[Step]) -> int:
    errors = [s for s in steps if s.level == "error"]
    if not errors:
        return EXIT_OK
    kind = errors[0].error
    return EXIT_FAILURE if kind is None else exit_code_for(kind)


def _for_the_cli(args: argparse.Namespace, step: Step) -> Step:
    """A step whose hint gives Python advice, with the command to run instead."""
    if step.error is not None and issubclass(step.error, SessionLimitError):
        hint = session_limit_hint(args, SessionLimitError(step.message))
        return dataclasses.replace(step, hint=hint)
    return step


@command
def _doctor(args: argparse.Namespace) -> int:
    report = _Report()
    try:
        resolved = resolve_args(args)
    except (ConfigurationError, TLSError) as exc:
        report.failed("configuration", exc)
        steps = report.steps
        name = getattr(args, "profile", None)
    else:
        profile = resolved.name or "(no profile)"
        report.add(
            "configuration",
            "ok",
            f"profile {profile}: {resolved.site.origin}/{resolved.site.prefix}",
        )
        steps = [_for_the_cli(args, step) for step in report.steps + diagnose(resolved)]
        name = resolved.name
    code = _exit_code(steps)
    lines = []
    for step in steps:
        lines.append(f"{step.level.upper():<8} {step.step}: {step.message}")
        if step.hint and step.level != "ok":
            lines.append(f"         hint: {step.hint}")
    errors = sum(s.level == "error" for s in steps)
    warnings = sum(s.level == "warning" for s in steps)
    if code != EXIT_OK:
        lines.append(f"{errors} problem(s), {warnings} warning(s)")
    else:
        lines.append(f"all good ({warnings} warning(s))" if warnings else "all good")
    data = {
        "ok": code == EXIT_OK,
        "profile": name,
        "steps": [s.to_dict() for s in steps],
    }
    emit(args, data, "\n".join(lines))
    return code
