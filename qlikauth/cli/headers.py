"""``qlikauth headers`` / ``cookie`` / ``exec``: hand the profile's session to other tools.

All three use the profile's cached session (logging in first if needed), so curl, wget,
enigma.js scripts and other programs work as the same user in the same Qlik session,
without auth code of their own. Output formats (``--format``):

* ``header`` - ``Name: value`` lines (``cookie``: ``name=value``);
* ``json`` - one object: cookie, CSRF token, headers, websocket URL and headers, origin;
* ``env`` - ``export QLIK_...=...`` lines for a POSIX shell (the :data:`ENV_VARS`);
* ``curl`` - a curl config file, for ``curl -K`` (secrets never on curl's command line);
* ``netscape`` - a cookie jar for ``curl -b`` / ``wget --load-cookies``.

``exec [--] CMD ...`` runs CMD with the :data:`ENV_VARS` set and returns its exit code (127
when CMD is not found and 126 when it cannot run, as shells do).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qlikauth._files import atomic_write
from qlikauth.cli._common import (
    EXIT_CANNOT_RUN,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    common_options,
    print_error,
)
from qlikauth.cli._context import Connected, app_id_of, command, connected
from qlikauth.errors import ConfigurationError, QlikAuthError

__all__ = ["ENV_VARS", "FORMATS", "register", "session_environment"]

FORMATS = ("header", "json", "env", "curl", "netscape")

#: The environment ``exec`` (and ``--format env``) provides, and what each variable holds.
ENV_VARS: Mapping[str, str] = {
    "QLIK_COOKIE": "the session cookie as name=value (a Cookie header's value)",
    "QLIK_COOKIE_NAME": "the session cookie's name",
    "QLIK_SESSION_ID": "the session cookie's value",
    "QLIK_CSRF_TOKEN": "the CSRF token (qlik-csrf-token header / query); empty before Nov 2024",
    "QLIK_HEADERS_JSON": "HTTP headers for REST calls and downloads, as a JSON object",
    "QLIK_WS_URL": "the engine websocket URL (engineData, or --app) with the CSRF token",
    "QLIK_WS_HEADERS_JSON": "headers for the websocket upgrade, as a JSON object",
    "QLIK_ORIGIN": "the Origin to send on the websocket upgrade",
    "QLIK_PROXY_URL": "the virtual proxy's base URL, https://host[:port]/prefix/",
    "QLIK_DOWNLOAD_BASE": "what a qUrl (/tempcontent/...) joins to: $QLIK_DOWNLOAD_BASE$qUrl",
    "QLIK_HOST": "the Qlik Sense host name",
    "QLIK_PREFIX": "the virtual proxy prefix (empty for the default one)",
    "QLIK_USER": "the session's user, DIRECTORY\\user",
    "QLIK_ROOT_CA": "the trusted root certificate file (empty: the system's trust store)",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``qlikauth headers``, ``cookie`` and ``exec``."""
    for name, what in (
        ("headers", "the HTTP headers (cookie, CSRF token) and websocket URL of the session"),
        ("cookie", "the session cookie"),
    ):
        parser = subparsers.add_parser(
            name,
            parents=[common_options()],
            help=f"print {what} for another tool",
            description=f"Print {what}, using the profile's cached session. Formats: "
            "header, json, env (shell exports), curl (curl -K config), netscape (cookie jar).",
        )
        parser.add_argument(
            "--format",
            choices=FORMATS,
            default=None,
            help="output format (default: header; json with --json)",
        )
        parser.add_argument("--app", metavar="APP", help="app id or name for the websocket URL")
        parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE (mode 0600)")
        parser.set_defaults(handler=_headers if name == "headers" else _cookie)

    run = subparsers.add_parser(
        "exec",
        parents=[common_options()],
        help="run a command with the session in its environment",
        description="Run CMD with " + ", ".join(ENV_VARS) + " set from the profile's "
        "session; exit with CMD's exit code. Put -- before CMD.",
    )
    run.add_argument("--app", metavar="APP", help="app id or name for QLIK_WS_URL")
    run.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD", help="command and arguments")
    run.set_defaults(handler=_exec)


def _app(session: Connected, args: argparse.Namespace) -> str | None:
    """``--app`` as an app id (a name is looked up, as ``eval`` does)."""
    return app_id_of(session, args.app) if args.app else None


def session_environment(session: Connected, app_id: str | None = None) -> dict[str, str]:
    """The :data:`ENV_VARS` for a session."""
    credentials = session.credentials
    site = session.site
    options = session.client.websocket_options(app_id)
    cookie_name = credentials.cookie_name or ""
    session_id = credentials.session_id or ""
    root = site.tls.root
    return {
        "QLIK_COOKIE": f"{cookie_name}={session_id}" if session_id else "",
        "QLIK_COOKIE_NAME": cookie_name,
        "QLIK_SESSION_ID": session_id,
        "QLIK_CSRF_TOKEN": credentials.csrf_token or "",
        "QLIK_HEADERS_JSON": json.dumps(credentials.http_headers(), sort_keys=True),
        "QLIK_WS_URL": options.url,
        "QLIK_WS_HEADERS_JSON": json.dumps(dict(options.headers), sort_keys=True),
        "QLIK_ORIGIN": options.origin,
        "QLIK_PROXY_URL": site.proxy_url(""),
        # The virtual proxy without the trailing slash: a server-relative qUrl starts with one.
        "QLIK_DOWNLOAD_BASE": site.proxy_url("").rstrip("/"),
        "QLIK_HOST": site.host,
        "QLIK_PREFIX": site.prefix,
        "QLIK_USER": str(credentials.user) if credentials.user is not None else "",
        "QLIK_ROOT_CA": str(root) if root is not None else "",
    }


def _format(args: argparse.Namespace) -> str:
    return str(args.format or ("json" if args.json else "header"))


def _curl_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _netscape(session: Connected) -> str:
    site = session.site
    credentials = session.credentials
    secure = "TRUE" if site.scheme == "https" else "FALSE"
    lines = ["# Netscape HTTP Cookie File", "# written by qlikauth: a Qlik Sense proxy session"]
    for name, value in credentials.cookies.items():
        lines.append("\t".join((site.host, "FALSE", "/", secure, "0", name, value)))
    return "\n".join(lines) + "\n"


def _env_lines(env: Mapping[str, str]) -> str:
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())


def _write(args: argparse.Namespace, text: str) -> None:
    if args.output:
        target = Path(args.output).expanduser()
        try:
            atomic_write(target, text.encode("utf-8"), mode=0o600)
        except OSError as exc:
            raise ConfigurationError(
                f"-o {target}: cannot write it ({exc.strerror or exc})",
                hint="name a file in a folder you can write to",
            ) from None
    else:
        sys.stdout.write(text)


def _headers_text(args: argparse.Namespace, session: Connected) -> str:
    fmt = _format(args)
    credentials = session.credentials
    headers = credentials.http_headers()
    if fmt == "header":
        return "".join(f"{k}: {v}\n" for k, v in headers.items())
    if fmt == "env":
        return _env_lines(session_environment(session, _app(session, args)))
    if fmt == "netscape":
        return _netscape(session)
    if fmt == "curl":
        lines = [f"header = {_curl_quote(f'{k}: {v}')}" for k, v in headers.items()]
        if session.site.tls.root is not None:
            lines.append(f"cacert = {_curl_quote(str(session.site.tls.root))}")
        return "\n".join(lines) + "\n"
    options = session.client.websocket_options(_app(session, args))
    data: dict[str, Any] = {
        "proxy_url": session.site.proxy_url(""),
        "user": str(credentials.user) if credentials.user is not None else None,
        "cookie_name": credentials.cookie_name,
        "session_id": credentials.session_id,
        "csrf_token": credentials.csrf_token,
        "headers": headers,
        "websocket_url": options.url,
        "websocket_headers": dict(options.headers),
        "origin": options.origin,
        "root_ca": str(session.site.tls.root) if session.site.tls.root is not None else None,
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _cookie_text(args: argparse.Namespace, session: Connected) -> str:
    fmt = _format(args)
    credentials = session.credentials
    cookie = credentials.cookie_header()
    if cookie is None:
        raise ConfigurationError(
            "this session has no cookie (direct route with a client certificate)",
            hint="Use a profile whose authenticator goes through the proxy.",
        )
    if fmt == "header":
        return cookie + "\n"
    if fmt == "env":
        env = session_environment(session, _app(session, args))
        keys = ("QLIK_COOKIE", "QLIK_COOKIE_NAME", "QLIK_SESSION_ID")
        return _env_lines({k: env[k] for k in keys})
    if fmt == "netscape":
        return _netscape(session)
    if fmt == "curl":
        return f"cookie = {_curl_quote(cookie)}\n"
    data = {
        "name": credentials.cookie_name,
        "value": credentials.session_id,
        "domain": session.site.host,
        "path": "/",
        "secure": session.site.scheme == "https",
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


@command
def _headers(args: argparse.Namespace) -> int:
    with connected(args) as session:
        _check_app(session, args)
        _write(args, _headers_text(args, session))
    return EXIT_OK


@command
def _cookie(args: argparse.Namespace) -> int:
    with connected(args) as session:
        _check_app(session, args)
        _write(args, _cookie_text(args, session))
    return EXIT_OK


def _check_app(session: Connected, args: argparse.Namespace) -> None:
    """An unknown ``--app`` fails in every format, not only in those that print its URL."""
    if args.app:
        args.app = _app(session, args)


def _not_run(args: argparse.Namespace, message: str, hint: str, code: int) -> int:
    """Say why CMD did not run (as errors are said) and return the shell's exit code."""
    print_error(QlikAuthError(message, hint=hint), as_json=getattr(args, "json", False))
    return code


@command
def _exec(args: argparse.Namespace) -> int:
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        print("usage: qlikauth exec [options] -- CMD [ARG ...]", file=sys.stderr)
        return EXIT_USAGE
    with connected(args) as session:
        env = {**os.environ, **session_environment(session, _app(session, args))}
    sys.stdout.flush()
    try:
        code = subprocess.run(cmd, env=env, check=False).returncode
    except FileNotFoundError:
        # What a shell does: 127 when the command is not found, 126 when it cannot run.
        if os.path.isfile(cmd[0]):  # it is there: its #! interpreter is what is missing
            return _not_run(
                args,
                f"qlikauth exec: cannot run {cmd[0]}: the interpreter on its #! line is not found",
                "Check the script's first line, or run it with its interpreter.",
                EXIT_NOT_FOUND,
            )
        return _not_run(
            args,
            f"qlikauth exec: command not found: {cmd[0]}",
            "Check the name and PATH, or give the command's full path.",
            EXIT_NOT_FOUND,
        )
    except PermissionError:
        if os.path.isdir(cmd[0]):
            return _not_run(
                args,
                f"qlikauth exec: cannot run {cmd[0]}: it is a folder",
                "Name the program inside it.",
                EXIT_CANNOT_RUN,
            )
        return _not_run(
            args,
            f"qlikauth exec: cannot run {cmd[0]}: permission denied",
            "Check that it is an executable file (chmod +x).",
            EXIT_CANNOT_RUN,
        )
    except OSError as exc:
        return _not_run(
            args,
            f"qlikauth exec: cannot run {cmd[0]}: {exc.strerror or exc}",
            "Check that it is a program this system can run.",
            EXIT_CANNOT_RUN,
        )
    # Killed by a signal: the shell's convention, 128 + the signal number.
    return 128 - code if code < 0 else code
