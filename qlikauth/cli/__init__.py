"""The ``qlikauth`` command line.

Each command group is a module of this package with a ``register(subparsers)`` function
that adds its parser(s) and sets ``handler`` (``(args) -> int``) as a parser default.
Errors become one or two readable lines (one JSON object with ``--json``) and a
documented exit code, usage errors included; a traceback only with ``--verbose``. The
common options may come before the command or after it (:mod:`qlikauth.cli._parser`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import sys
from collections.abc import Iterator, Sequence

from qlikauth._version import __version__
from qlikauth.cli._common import EXIT_USAGE, common_options, exit_code_for, print_error
from qlikauth.cli._parser import Parser, add_global_options, merge_global_options, wants_json
from qlikauth.errors import QlikAuthError, UsageError
from qlikauth.logfilter import SecretFilter

__all__ = ["main"]

#: Command-group modules, in the order ``--help`` lists them.
_GROUPS = (
    "demo",
    "login",
    "ticket",
    "session",
    "jwt",
    "headers",
    "proxy",
    "apps",
    "download",
    "doctor",
    "profile",
    "certs",
    "emulator",
    "broker",
    "completion",
)

log = logging.getLogger("qlikauth")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every command group registered."""
    parser = Parser(
        prog="qlikauth",
        description="Authenticate to Qlik Sense: tickets, JWTs, sessions, engine, downloads.",
        epilog="Exit codes: 0 ok, 1 operation failed, 2 usage error, "
        "3 authentication rejected, 4 configuration or TLS problem.",
    )
    parser.add_argument("--version", action="version", version=f"qlikauth {__version__}")
    add_global_options(parser, common_options())
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in _GROUPS:
        module = importlib.import_module(f"qlikauth.cli.{name}")
        module.register(subparsers)
    _name_commands(parser, [])
    return parser


def _name_commands(parser: argparse.ArgumentParser, path: list[str]) -> None:
    """Let every (sub-)command know its own name, for messages about its options."""
    parser.set_defaults(command_name=" ".join(path))
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                _name_commands(sub, [*path, name])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code instead of exiting."""
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(words)
        merge_global_options(args, args.command_name)
    except SystemExit as exc:  # argparse exits on --help and --version
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except UsageError as exc:
        print_error(exc, as_json=wants_json(words))
        return EXIT_USAGE
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    verbose = getattr(args, "verbose", 0)
    with _logging_to_stderr(verbose):
        try:
            return int(handler(args))
        except QlikAuthError as exc:
            if verbose:
                log.exception("command failed")
            print_error(exc, as_json=getattr(args, "json", False))
            return exit_code_for(exc)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130


@contextlib.contextmanager
def _logging_to_stderr(verbose: int) -> Iterator[None]:
    """``-v``: INFO, ``-vv``: DEBUG of every library, secrets masked (``SecretFilter``)."""
    if not verbose:
        yield
        return
    root = logging.getLogger()
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretFilter())
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
