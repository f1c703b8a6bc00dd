"""``qlikauth ticket``: issue a one-time QPS ticket for a user (mutual TLS on port 4243).

The ticket is for the profile's virtual proxy (``--prefix`` to choose another). It prints
the ticket; with ``--redirect`` the URL to send a browser to; with ``--json`` ticket,
target URI, redirect URL, user and expiry.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from qlikauth.cli._common import EXIT_OK, common_options, emit
from qlikauth.cli._context import command, qps_client
from qlikauth.errors import ConfigurationError, UsageError
from qlikauth.qps import as_user

__all__ = ["add_user_options", "attributes_from", "register", "user_from"]


def add_user_options(
    parser: argparse.ArgumentParser, *, required: bool = True, attributes: bool = True
) -> None:
    """``--user``, ``--directory`` and (with ``attributes``) ``--attr``, as ``ticket`` and
    ``session`` take them."""
    parser.add_argument(
        "--user",
        required=required,
        metavar="USER",
        help="user id, or DIRECTORY\\user (then --directory is not needed)",
    )
    parser.add_argument("--directory", metavar="DIR", help="user directory, e.g. CORP")
    if not attributes:
        return
    parser.add_argument(
        "--attr",
        dest="attributes",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an attribute, e.g. Group=Sales (repeatable; names may repeat)",
    )


def user_from(args: argparse.Namespace) -> Any:
    """The :class:`~qlikauth.credentials.QlikUser` from ``--user`` and ``--directory``."""
    if not args.user or not args.user.strip():
        raise UsageError("--user needs a user name", hint="for example --user 'CORP\\alice'")
    if args.directory is None and "\\" not in args.user:
        raise ConfigurationError(
            f"which user directory is {args.user!r} in?",
            hint="Pass --directory CORP, or write the user as CORP\\user.",
        )
    return as_user(args.user, args.directory)


def attributes_from(args: argparse.Namespace) -> list[tuple[str, str]]:
    """``--attr NAME=VALUE`` options as pairs, in order."""
    pairs = []
    for text in args.attributes:
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise ConfigurationError(
                f"--attr {text!r} is not NAME=VALUE", hint="For example --attr Group=Sales"
            )
        pairs.append((name.strip(), value))
    return pairs


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``qlikauth ticket``."""
    parser = subparsers.add_parser(
        "ticket",
        parents=[common_options()],
        help="issue a one-time QPS ticket for a user",
        description="Ask QPS (port 4243, client certificate) for a ticket for USER on the "
        "profile's virtual proxy. A ticket is valid once, for one minute, on that virtual "
        "proxy only.",
    )
    add_user_options(parser)
    parser.add_argument("--target-id", metavar="ID", help="the TargetId to redirect to")
    parser.add_argument(
        "--redirect",
        action="store_true",
        help="print the URL to send the browser to (target or hub, with qlikTicket=)",
    )
    parser.set_defaults(handler=_ticket)


@command
def _ticket(args: argparse.Namespace) -> int:
    user = user_from(args)
    attributes = attributes_from(args)
    with qps_client(args) as client:
        ticket = client.issue_ticket(user, attributes=attributes, target_id=args.target_id)
        redirect = ticket.redirect_url(client.site)
    expires = dt.datetime.fromtimestamp(ticket.expires_at, dt.UTC)
    data = {
        "ok": True,
        "ticket": ticket.ticket,
        "target_uri": ticket.target_uri,
        "redirect_url": redirect,
        "user": str(ticket.user),
        "user_directory": ticket.user.directory,
        "user_id": ticket.user.user_id,
        "prefix": ticket.prefix,
        "attributes": [{k: v} for k, v in ticket.attributes],
        "expires_at": expires.isoformat(timespec="seconds"),
    }
    emit(args, data, redirect if args.redirect else ticket.ticket)
    return EXIT_OK
