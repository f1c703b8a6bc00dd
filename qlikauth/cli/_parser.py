"""The argument parser's manners: usage errors as exceptions, "did you mean", global options.

argparse prints a usage error and exits; :class:`Parser` raises
:class:`~qlikauth.errors.UsageError` instead, so ``main`` reports it like any other error
(one JSON object under ``--json``) with exit code 2. A mistyped command or choice names
the nearest valid one.

The common options may come before the command too (``qlikauth --profile emu doclist``), as
kubectl, gh and aws accept them: :func:`add_global_options` puts them on the top-level parser
under ``global_*`` names and :func:`merge_global_options` hands them to the command. A value
given after the command wins over one given before it; ``-v`` counts add up.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence
from typing import Any, NoReturn

from qlikauth.errors import UsageError

__all__ = ["GLOBAL_PREFIX", "Parser", "add_global_options", "merge_global_options", "wants_json"]

#: Where the top-level parser keeps the common options given before the command.
GLOBAL_PREFIX = "global_"


class Parser(argparse.ArgumentParser):
    """An argument parser that raises :class:`UsageError` and suggests the nearest choice."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, hint=f"{self.prog} --help shows every option.")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if choices is None or value in choices:
            return
        names = [str(choice) for choice in choices]
        what = "command" if isinstance(action, argparse._SubParsersAction) else "choice"
        close = difflib.get_close_matches(str(value), names, n=1, cutoff=0.6)
        advice = f"did you mean {close[0]!r}?" if close else f"choose from {', '.join(names)}"
        raise argparse.ArgumentError(action, f"unknown {what} {value!r}; {advice}")


def add_global_options(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """Offer ``common``'s options before the command, stored as ``global_<dest>``."""
    group = parser.add_argument_group(
        "global options", "Accepted before the command as well as after it."
    )
    for action in common._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        kwargs: dict[str, Any] = {
            "dest": GLOBAL_PREFIX + action.dest,
            "default": argparse.SUPPRESS,
            "help": action.help,
        }
        if isinstance(action, argparse._CountAction):
            kwargs["action"] = "count"
        elif isinstance(action, argparse._StoreTrueAction):
            kwargs["action"] = "store_true"
        else:
            metavar = action.metavar or action.dest.upper()
            kwargs.update(type=action.type, metavar=metavar, choices=action.choices)
        group.add_argument(*action.option_strings, **kwargs)


def merge_global_options(args: argparse.Namespace, command: str) -> None:
    """Give the command the global options; a usage error for one it does not take."""
    for key, value in list(vars(args).items()):
        if not key.startswith(GLOBAL_PREFIX):
            continue
        delattr(args, key)
        dest = key[len(GLOBAL_PREFIX) :]
        if not hasattr(args, dest):
            option = "--" + dest.replace("_", "-")
            raise UsageError(
                f"{option} does not apply to '{command}'",
                hint=f"qlikauth {command} --help lists the options it takes.",
            )
        current = getattr(args, dest)
        if isinstance(value, bool):
            setattr(args, dest, bool(current) or value)
        elif dest == "verbose":
            setattr(args, dest, (current or 0) + value)
        elif isinstance(current, list):  # a repeatable option (certs make-test --server)
            setattr(args, dest, [value, *current])
        elif current is None:
            setattr(args, dest, value)


def wants_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for ``--json`` (before any ``--``)."""
    for word in argv:
        if word == "--":
            return False
        if word == "--json" or word.startswith("--json="):
            return True
    return False
