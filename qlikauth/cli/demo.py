"""``qlikauth demo``: every authenticator, end to end, against an embedded emulator.

For each authenticator the demo logs in on its virtual proxy, opens the Sales app,
evaluates an expression, exports a hypercube, downloads the export with the same session,
and counts the user's proxy sessions through QPS. It exits 0 only if every step worked.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qlikauth.auth.base import Authenticator
from qlikauth.auth.certificate import CertificateAuth
from qlikauth.auth.existing import ExistingSessionAuth
from qlikauth.auth.header import HeaderAuth
from qlikauth.auth.jwt import JwtAuth
from qlikauth.auth.ntlm import NtlmAuth
from qlikauth.auth.session import SessionAuth
from qlikauth.auth.ticket import TicketAuth
from qlikauth.cli._common import EXIT_FAILURE, EXIT_OK, common_options, emit
from qlikauth.client import QlikClient
from qlikauth.credentials import Route
from qlikauth.errors import ConfigurationError, QlikAuthError
from qlikauth.identity import QlikUser
from qlikauth.qps import QpsClient
from qlikauth.site import Site
from qlikauth.testing.emulator_info import site_from_emulator

__all__ = ["register", "run_demo"]

EXPRESSION = "Sum(Amount)"
DIMENSIONS = ("Region",)
MEASURES = ("Sum(Amount)", "Count(DISTINCT OrderId)")


@dataclass
class Step:
    """The outcome of one authenticator's run."""

    authenticator: str
    virtual_proxy: str
    user: str = ""
    session: str = ""
    #: The number (a float, as ``eval --json`` gives it) or, for a text result, the text.
    value: float | str | None = None
    #: The engine's own text of the value (what Qlik shows: 7, not 7.0).
    text: str = ""
    file_size: int = 0
    sha256: str = ""
    proxy_sessions: int | None = None
    ok: bool = False
    error: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` command."""
    parser = subparsers.add_parser(
        "demo",
        parents=[common_options(site=False)],
        help="run every authenticator end to end against an embedded Qlik Sense emulator",
        description="Start an emulated Qlik Sense server on loopback; for each authenticator "
        "log in, evaluate an expression, export a table and download it with the same "
        "session; print what happened. Exit 0 only if everything worked.",
    )
    parser.add_argument(
        "--keep", metavar="DIR", help="keep the emulator state and downloads in DIR"
    )
    parser.add_argument(
        "--release",
        choices=("2024-05", "2024-11"),
        default="2024-11",
        help="the Qlik Sense release the emulator behaves as (default: %(default)s)",
    )
    parser.set_defaults(handler=_run)


def _fingerprint(secret: str | None) -> str:
    # A short digest names the session in the report without revealing it.
    if not secret:
        return "-"
    return hashlib.sha256(secret.encode()).hexdigest()[:10]


def _app_id(info: dict[str, Any], name: str) -> str:
    for app in info["apps"]:
        if app["name"] == name:
            return str(app["id"])
    raise ConfigurationError(f"the emulator has no app named {name!r}")


def _windows_password(info: dict[str, Any], user: str) -> str:
    for entry in info["windows"]["users"]:
        if entry["name"] == user:
            return str(entry["password"])
    raise ConfigurationError(f"the emulator has no Windows user {user!r}")


def _groups_claim(jwt_vp: dict[str, Any]) -> str:
    """The claim the JWT virtual proxy maps to the ``Group`` attribute (or the usual name)."""
    for row in jwt_vp.get("jwt_attribute_mapping", []):
        if row["attribute"] == "Group":
            return str(row["claim"])
    return "groups"


def _plans(info: dict[str, Any]) -> list[tuple[str, str, Callable[[], Authenticator]]]:
    jwt_vp = next(vp for vp in info["virtual_proxies"] if vp["method"] == "jwt")
    claims = jwt_vp["jwt_claims"]
    return [
        ("header", "hdr", lambda: HeaderAuth(user="alice")),
        (
            "jwt",
            "jwt",
            lambda: JwtAuth(
                user="bob",
                directory="QLIKEMU",
                key=Path(jwt_vp["jwt_private_key"]),
                user_claim=claims["user"],
                directory_claim=claims["directory"],
                groups_claim=_groups_claim(jwt_vp),
            ),
        ),
        ("ticket", "ticket", lambda: TicketAuth(user="carol", directory="QLIKEMU")),
        ("session", "hdr", lambda: SessionAuth(user="dave", directory="QLIKEMU")),
        (
            "ntlm",
            "",
            lambda: NtlmAuth(
                user="alice",
                domain=info["windows"]["domain"],
                password=_windows_password(info, "alice"),
            ),
        ),
        ("certificate", "", lambda: CertificateAuth(user="sa_api", directory="INTERNAL")),
    ]


def _proxy_sessions(site: Site, user: QlikUser) -> int:
    with QpsClient(site) as qps:
        return len(qps.user_sessions(user))


def _work(client: QlikClient, app_id: str, out: Path, step: Step) -> None:
    """Evaluate, export and download with the client's one session."""
    user = client.whoami()
    step.user = str(user)
    doc = client.open_app(app_id)
    evaluated = doc.evaluate_ex(EXPRESSION)
    step.value, step.text = evaluated.value, evaluated.text
    table = doc.create_hypercube(list(DIMENSIONS), list(MEASURES))
    qurl = table.export_data("CSV_C")
    downloader = client
    helper: QlikClient | None = None
    if client.credentials().route is Route.DIRECT:
        # The direct engine creates no proxy session, but tempcontent is served only
        # through the proxy: inject a session for the same user (qlik-protocol.md §2.10).
        helper = QlikClient(client.site, SessionAuth(user=user.user_id, directory=user.directory))
        downloader = helper
    try:
        result = downloader.download(qurl, out / f"{step.authenticator}.csv", progress=False)
        step.file_size, step.sha256 = result.size, result.sha256
        credentials = downloader.credentials()
        step.session = _fingerprint(credentials.session_id)
        step.proxy_sessions = _proxy_sessions(downloader.site, user)
    finally:
        if helper is not None:
            helper.close()


def _run_one(
    name: str, site: Site, make: Callable[[], Authenticator], app_id: str, out: Path
) -> tuple[Step, QlikClient | None]:
    step = Step(name, site.prefix or "(default)")
    started = time.perf_counter()
    client: QlikClient | None = None
    try:
        client = QlikClient(site, make())
        _work(client, app_id, out, step)
        step.ok = True
    except QlikAuthError as exc:
        step.error = f"{type(exc).__name__}: {exc.message}"
    except BaseException:
        if client is not None:
            client.close()
        raise
    step.seconds = time.perf_counter() - started
    return step, client


def _borrowed_session(site: Site, source: QlikClient, app_id: str, out: Path) -> Step:
    """The ``existing`` authenticator: reuse a session made elsewhere (here: the header one)."""
    credentials = source.credentials()

    def make() -> Authenticator:
        return ExistingSessionAuth(
            session_id=credentials.session_id or "",
            csrf_token=credentials.csrf_token,
            cookie_name=credentials.cookie_name,
        )

    step, client = _run_one("existing", site, make, app_id, out)
    if client is not None:
        client.close()  # a borrowed session: closing does not log its owner out
    return step


@contextmanager
def _workspace(keep: str | None) -> Iterator[Path]:
    if keep:
        path = Path(keep).expanduser()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"--keep {path}: cannot use it as a folder ({exc.strerror or exc})",
                hint="name a folder (it is created when missing)",
            ) from None
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="qlikauth-demo-") as tmp:
        yield Path(tmp)


def run_demo(workdir: Path, release: str = "2024-11") -> tuple[dict[str, Any], list[Step]]:
    """Start the emulator (as ``release``) in ``workdir`` and run every authenticator; the
    info and steps."""
    from qlikauth.emulator import Emulator, default_config  # needs the "server" extra

    out = workdir / "downloads"
    out.mkdir(parents=True, exist_ok=True)
    steps: list[Step] = []
    config = default_config(release=release)
    with Emulator(config, state_dir=workdir / "emulator") as emulator:
        info = emulator.info
        app_id = _app_id(info, "Sales")
        clients: dict[str, QlikClient] = {}
        try:
            for name, prefix, make in _plans(info):
                site = site_from_emulator(info, prefix)
                step, client = _run_one(name, site, make, app_id, out)
                steps.append(step)
                if client is not None:
                    clients[name] = client
            header = clients.get("header")
            header_ok = any(s.ok for s in steps if s.authenticator == "header")
            if header is not None and header_ok:
                site = site_from_emulator(info, "hdr")
                steps.append(_borrowed_session(site, header, app_id, out))
        finally:
            for client in clients.values():
                client.close()
    return info, steps


def _report(info: dict[str, Any], steps: list[Step]) -> str:
    release = f" ({info['release']})" if "release" in info else ""
    lines = [
        f"qlikauth demo: an emulated Qlik Sense server{release} at {info['proxy_url']}",
        f"  for each authenticator: log in, evaluate {EXPRESSION} in Sales, export "
        f"{', '.join(MEASURES)} by {', '.join(DIMENSIONS)}, download it with the same session",
        "",
        f"  {'authenticator':<12} {'virtual proxy':<14} {'user':<18} {'session':<11} "
        f"{'value':>9} {'download':>10}  {'sessions':>8}  result",
    ]
    for s in steps:
        if s.ok:
            sessions = "-" if s.proxy_sessions is None else str(s.proxy_sessions)
            lines.append(
                f"  {s.authenticator:<12} {s.virtual_proxy:<14} {s.user:<18} {s.session:<11} "
                f"{s.text:>9} {s.file_size:>8} B  {sessions:>8}  ok ({s.seconds:.2f} s)"
            )
        else:
            lines.append(f"  {s.authenticator:<12} {s.virtual_proxy:<14} FAILED: {s.error}")
    passed = sum(s.ok for s in steps)
    lines += [
        "",
        f"  {passed} of {len(steps)} authenticators worked. 'sessions' is how many proxy "
        "sessions QPS reports for that user on that virtual proxy: one, however many calls.",
        "  'existing' reused the header session (as a browser cookie would): still one.",
        "  'windows' (Active Directory, then a ticket) needs a domain controller: "
        "see docs/windows.md.",
    ]
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    with _workspace(args.keep) as workdir:
        info, steps = run_demo(workdir, args.release)
    ok = bool(steps) and all(s.ok for s in steps)
    emit(
        args,
        {
            "ok": ok,
            "release": info["release"],
            "proxy_url": info["proxy_url"],
            "steps": [s.as_dict() for s in steps],
        },
        _report(info, steps),
    )
    return EXIT_OK if ok else EXIT_FAILURE
