"""What every command shares: common options, output, exit codes."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from qlikauth.errors import (
    AuthenticationError,
    ConfigurationError,
    QlikAuthError,
    TlsError,
)

__all__ = [
    "EXIT_AUTH",
    "EXIT_CANNOT_RUN",
    "EXIT_CONFIG",
    "EXIT_FAILURE",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_USAGE",
    "common_options",
    "emit",
    "exit_code_for",
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


def common_options() -> argparse.ArgumentParser:
    """A parent parser with the options every command accepts."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument("--profile", help="profile name from the configuration file")
    group.add_argument("--config", help="configuration file (default: the platform's)")
    group.add_argument("--server", help="Qlik Sense host name, as in its certificate")
    group.add_argument("--prefix", help="virtual proxy prefix (empty for the default)")
    group.add_argument("--certs", help="folder of an exported certificate set, or a .pfx")
    group.add_argument(
        "--insecure",
        action="store_true",
        help="do NOT verify the server's TLS certificate (loud; for diagnosis only)",
    )
    group.add_argument("--json", action="store_true", help="print one JSON object")
    group.add_argument(
        "-v", "--verbose", action="count", default=0, help="log what happens (secrets redacted)"
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds per network call, engine calls included (default 30)",
    )
    return common


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
