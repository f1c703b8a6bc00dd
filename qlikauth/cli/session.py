"""``qlikauth session create|list|delete``: proxy sessions through QPS (port 4243).

Scripts create one session and reuse it, and clean up leaked ones before the user hits
the parallel-session limit. Session ids are secrets: ``list`` hides them unless
``--show-ids`` is given, and ``delete`` reads ids from standard input (``--stdin``), never
from the command line; ``delete --user`` ends every session of a user.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from qlikauth.cli._common import EXIT_OK, common_options, emit, show_help
from qlikauth.cli._context import command, qps_client
from qlikauth.cli.ticket import add_user_options, attributes_from, user_from
from qlikauth.errors import UsageError
from qlikauth.qps import ProxySession

__all__ = ["register"]

#: The user the hints show (quoted for the shell: a bare backslash would vanish).
_EXAMPLE_USER = "CORP\\alice"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``qlikauth session create|list|delete``."""
    session = subparsers.add_parser(
        "session",
        help="create, list and delete proxy sessions through QPS",
        description="Proxy sessions on the profile's virtual proxy, through QPS with the "
        "client certificate.",
    )
    session.set_defaults(handler=show_help(session))
    commands = session.add_subparsers(title="session commands", metavar="COMMAND")

    create = commands.add_parser(
        "create",
        parents=[common_options()],
        help="create a proxy session for a user and print its id",
        description="Inject a proxy session for USER (a random UUID4 id) and print the id; "
        "send it as the virtual proxy's session cookie.",
    )
    add_user_options(create)
    create.set_defaults(handler=_create)

    listing = commands.add_parser(
        "list",
        parents=[common_options()],
        help="list proxy sessions (of one user, or of the virtual proxy)",
        description="List sessions; ids are hidden unless --show-ids.",
    )
    add_user_options(listing, required=False, attributes=False)
    listing.add_argument(
        "--show-ids", action="store_true", help="print the session ids (they are secrets)"
    )
    listing.set_defaults(handler=_list)

    delete = commands.add_parser(
        "delete",
        parents=[common_options()],
        help="delete sessions: every session of --user, or ids read from stdin",
        description="End sessions and free their slots. --user ends every session of the "
        "user on the virtual proxy; --stdin reads session ids, one per line.",
    )
    add_user_options(delete, required=False, attributes=False)
    delete.add_argument("--stdin", action="store_true", help="read session ids from stdin")
    delete.set_defaults(handler=_delete)


def _describe(session: ProxySession, *, show_id: bool) -> dict[str, Any]:
    return {
        "session_id": session.session_id if show_id else "[secure]",
        "user": str(session.user) if session.user is not None else None,
        "attributes": [{k: v} for k, v in session.attributes],
    }


@command
def _create(args: argparse.Namespace) -> int:
    user = user_from(args)
    with qps_client(args) as client:
        session = client.add_session(user, attributes=attributes_from(args))
        site = client.site
    data = {
        "ok": True,
        "session_id": session.session_id,
        "cookie_name": site.cookie_name,
        "prefix": site.prefix,
        "user": str(user),
    }
    emit(args, data, session.session_id)
    return EXIT_OK


@command
def _list(args: argparse.Namespace) -> int:
    if args.directory is not None and args.user is None:
        raise UsageError("--directory names the directory of --user: give --user too")
    with qps_client(args) as client:
        user = user_from(args) if args.user is not None else None
        sessions = client.list_sessions() if user is None else client.user_sessions(user)
        prefix = client.site.prefix
    rows = [_describe(s, show_id=args.show_ids) for s in sessions]
    if args.show_ids and not args.json:
        print("\n".join(s.session_id for s in sessions))
        return EXIT_OK
    lines = [f"{len(rows)} session(s) on virtual proxy '{prefix}'"]
    lines += [f"  {r['user'] or '?'}  {r['session_id']}" for r in rows]
    emit(args, {"prefix": prefix, "count": len(rows), "sessions": rows}, "\n".join(lines))
    return EXIT_OK


@command
def _delete(args: argparse.Namespace) -> int:
    if (args.user is not None) == bool(args.stdin):
        raise UsageError(
            "say which sessions: --user USER (all of them) or --stdin (ids on stdin), "
            "one of the two",
            hint=f"qlikauth session delete --user {shlex.quote(_EXAMPLE_USER)}, or "
            f"qlikauth session list --user {shlex.quote(_EXAMPLE_USER)} --show-ids | "
            "qlikauth session delete --stdin",
        )
    with qps_client(args) as client:
        if args.user is not None:
            user = user_from(args)
            deleted = len(client.logout_user(user))
            missing = 0
        else:
            ids = [line.strip() for line in sys.stdin if line.strip()]
            results = [client.delete_session(sid) for sid in ids]
            deleted = sum(r is not None for r in results)
            missing = len(results) - deleted
    text = f"deleted {deleted} session(s)" + (f"; {missing} were already gone" if missing else "")
    emit(args, {"ok": True, "deleted": deleted, "already_gone": missing}, text)
    return EXIT_OK
