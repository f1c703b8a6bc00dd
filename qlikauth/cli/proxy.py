"""``qlikauth proxy``: serve the profile's session to other tools on a local address.

Like ``kubectl proxy``: any tool pointed at ``http://127.0.0.1:PORT/`` (curl, enigma.js, a
notebook, a browser at ``/hub/``) works as the profile's user in the profile's one cached
session. It prints the URL and the access token (``--json``: one JSON line for scripts),
then one log line per request on stderr, until interrupted. The proxy needs the ``server``
extra (aiohttp), imported only when the command runs.
"""

from __future__ import annotations

import argparse

from qlikauth.cli._common import common_options
from qlikauth.cli._context import command
from qlikauth.errors import ConfigurationError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``qlikauth proxy``."""
    parser = subparsers.add_parser(
        "proxy",
        parents=[common_options()],
        help="a local proxy that adds the session for other tools (HTTP and websockets)",
        description="Listen on loopback and forward HTTP and websocket traffic to the "
        "profile's virtual proxy with its session: tools pointed at the printed URL need no "
        "Qlik authentication. Stop it with Ctrl-C.",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on (default: a free one)"
    )
    parser.add_argument(
        "--address",
        default=None,
        help="address to listen on (default 127.0.0.1; others need --allow-remote)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow an address other machines can reach (warns; keep the token)",
    )
    parser.add_argument(
        "--accept-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another host name clients may use for the proxy (repeatable)",
    )
    parser.add_argument(
        "--unix-socket",
        metavar="PATH",
        help="listen on a Unix socket (mode 0600) instead of a port; no token needed",
    )
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        help="also write the token as a header line to FILE (mode 0600, for curl -H @FILE); "
        "removed when the proxy stops",
    )
    parser.add_argument(
        "--no-token",
        action="store_true",
        help="accept requests without the access token (warns: any local process could "
        "use the session)",
    )
    parser.set_defaults(handler=command(_run))


def _run(args: argparse.Namespace) -> int:
    try:
        from qlikauth.cli._proxy_serve import serve
    except ImportError as exc:
        raise ConfigurationError(
            f"qlikauth proxy needs the 'server' extra ({exc.name} is missing)",
            hint="pip install 'qlikauth[server]'",
        ) from exc
    return serve(args)
