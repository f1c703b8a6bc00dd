"""What every command shares: common options, output, exit codes."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from typing import Any

from qlikauth.errors import (
    AuthenticationError,
    ConfigurationError,
    QlikAuthError,
    TlsError,
    UsageError,
)

__all__ = [
    "EXIT_AUTH",
    "EXIT_CANNOT_RUN",
    "EXIT_CONFIG",
    "EXIT_FAILURE",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_USAGE",
    "SCOPES",
    "add_insecure_option",
    "add_timeout_option",
    "common_options",
    "emit",
    "exit_code_for",
    "positive_seconds",
    "print_error",
    "show_help",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_CONFIG = 4
#: ``exec``: the command could not be run / was not found (what shells return).
EXIT_CANNOT_RUN = 126
EXIT_NOT_FOUND = 127


def positive_seconds(text: str) -> float:
    """``--timeout``'s type: a finite number of seconds above 0 (else a usage error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return value


#: How much of the common options a command takes, least first.
SCOPES = ("output", "config", "profile", "site")


def common_options(
    *, site: bool = True, scope: str | None = None, profile: bool = True
) -> argparse.ArgumentParser:
    """A parent parser with the common options a command takes.

    ``scope``: ``output`` (``--json``, ``-v``), ``config`` (and ``--config``), ``profile``
    (and ``--profile``) or ``site`` (and the site options: ``--server``, ``--prefix``,
    ``--certs``, ``--insecure``, ``--timeout``). ``site=False`` is ``scope="output"``;
    ``profile=False`` leaves ``--profile`` out (``profile add`` names its profile). A
    command offers only the options that mean something to it.
    """
    level = SCOPES.index(scope or ("site" if site else "output"))
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    if level >= SCOPES.index("profile") and profile:
        group.add_argument("--profile", help="profile name from the configuration file")
    if level >= SCOPES.index("config"):
        group.add_argument("--config", help="configuration file (default: the platform's)")
    if level >= SCOPES.index("site"):
        group.add_argument("--server", help="Qlik Sense host name, as in its certificate")
        group.add_argument("--prefix", help="virtual proxy prefix (empty for the default)")
        group.add_argument("--certs", help="folder of an exported certificate set, or a .pfx")
        add_insecure_option(group)
    group.add_argument("--json", action="store_true", help="print one JSON object")
    group.add_argument(
        "-v", "--verbose", action="count", default=0, help="log what happens (secrets redacted)"
    )
    if level >= SCOPES.index("site"):
        add_timeout_option(group)
    return common


def add_insecure_option(group: argparse._ActionsContainer) -> None:
    """``--insecure``: the same words wherever a command offers it."""
    group.add_argument(
        "--insecure",
        action="store_true",
        help="do NOT verify the server's TLS certificate (loud; for diagnosis only)",
    )


def add_timeout_option(group: argparse._ActionsContainer) -> None:
    """``--timeout SECONDS`` (more than 0)."""
    group.add_argument(
        "--timeout",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="seconds per network call, engine calls included; more than 0 (default 30)",
    )


def show_help(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """The handler of a command group run without a sub-command: its help, a usage error."""

    def handler(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    return handler


def emit(args: argparse.Namespace, data: dict[str, Any] | list[Any], text: str) -> None:
    """Print ``data`` as one JSON document with ``--json``, else ``text``."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        print(text)


def exit_code_for(exc: QlikAuthError | type[QlikAuthError]) -> int:
    """The documented exit code for an error (or a kind of error)."""
    kind = exc if isinstance(exc, type) else type(exc)
    if issubclass(kind, UsageError):
        return EXIT_USAGE
    if issubclass(kind, ConfigurationError | TlsError):
        return EXIT_CONFIG
    if issubclass(kind, AuthenticationError):
        return EXIT_AUTH
    return EXIT_FAILURE


def print_error(exc: QlikAuthError, *, as_json: bool = False) -> None:
    """Print an error as one or two lines (message, hint) on stderr."""
    if as_json:
        payload = {
            "ok": False,
            "error": type(exc).__name__,
            "message": exc.message,
            "hint": exc.hint,
        }
        print(json.dumps(payload, sort_keys=True))
        return
    print(f"error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {exc.hint}", file=sys.stderr)
