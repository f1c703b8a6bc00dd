"""``qlikauth login`` / ``logout`` / ``whoami``: the profile's one cached proxy session.

``login`` establishes the session (or confirms the cached one) and caches it in the OS
keyring, or a 0600 file when no keyring is available; every later command of the profile
reuses it. ``logout`` ends it on the proxy and forgets it. ``whoami`` names its user.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from qlikauth.cli._common import EXIT_OK, common_options, emit
from qlikauth.cli._context import Connected, command, connected, profile_session
from qlikauth.errors import QlikAuthError
from qlikauth.http.drivers import run_flow
from qlikauth.http.transport import HttpTransport
from qlikauth.session_cache import CachedSessionAuth, SessionCache

__all__ = ["register", "session_summary"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``qlikauth login``, ``logout`` and ``whoami``."""
    login = subparsers.add_parser(
        "login",
        parents=[common_options()],
        help="establish the profile's session and cache it for later commands",
        description="Log in with the profile's authenticator (or confirm the cached "
        "session) and cache the session in the OS keyring (a 0600 file without one).",
    )
    login.add_argument(
        "--force", action="store_true", help="end the cached session and log in anew"
    )
    login.set_defaults(handler=_login)

    logout = subparsers.add_parser(
        "logout",
        parents=[common_options()],
        help="end the profile's cached session and forget it",
        description="End the cached proxy session (DELETE /{prefix}/qps/user) and remove "
        "it from the cache.",
    )
    logout.set_defaults(handler=_logout)

    whoami = subparsers.add_parser(
        "whoami",
        parents=[common_options()],
        help="show the user of the profile's session (logging in if needed)",
        description="Ask the proxy's personal API who the session belongs to.",
    )
    whoami.set_defaults(handler=_whoami)


def session_summary(session: Connected) -> dict[str, Any]:
    """What ``login`` and ``whoami`` report; never the session id or CSRF token."""
    credentials = session.credentials
    expires = credentials.expires_at
    return {
        "ok": True,
        "profile": session.resolved.name or None,
        "user": str(credentials.user) if credentials.user is not None else None,
        "server": session.site.host,
        "prefix": session.site.prefix,
        "cookie_name": credentials.cookie_name,
        "route": credentials.route.value,
        "reused": session.reused,
        "cached_in": session.cache.where if session.cached and credentials.session_id else None,
        "expires_at": (
            dt.datetime.fromtimestamp(expires, dt.UTC).isoformat(timespec="seconds")
            if expires is not None
            else None
        ),
    }


def _end_cached(args: argparse.Namespace) -> tuple[SessionCache, bool, bool]:
    """End the cached session on the proxy and forget it: (cache, had one, ended on proxy).

    A profile whose session was made elsewhere (``existing``) has none cached: qlikauth
    leaves that session to whoever made it.
    """
    plan = profile_session(args)
    cached = plan.cache.load(plan.identity) if plan.creates_session else None
    ended = False
    if cached is not None:
        # QPS (with the client certificate) or the personal API ends it; no password needed.
        auth = CachedSessionAuth(cached, None)
        with HttpTransport(plan.site, timeout=plan.resolved.timeout) as transport:
            try:
                run_flow(auth.logout(plan.site, cached), transport)
                ended = True
            except QlikAuthError as exc:
                if args.verbose:
                    print(
                        f"note: the proxy did not end the session: {exc.message}", file=sys.stderr
                    )
    had = plan.cache.clear()
    return plan.cache, had, ended


@command
def _login(args: argparse.Namespace) -> int:
    if args.force:
        _end_cached(args)
    with connected(args, fresh=args.force) as session:
        data = session_summary(session)
        made_here = session.cached
    if not made_here:
        how = "using the profile's session (made elsewhere)"
    else:
        how = "reused the cached session" if data["reused"] else "logged in"
    text = f"{how}: {data['user']} on {data['server']}/{data['prefix']}"
    if data["cached_in"]:
        text += f"\nsession cached in {data['cached_in']}"
    emit(args, data, text)
    return EXIT_OK


@command
def _logout(args: argparse.Namespace) -> int:
    cache, had, ended = _end_cached(args)
    if not had:
        text = "no cached session"
    elif ended:
        text = f"logged out; removed the session from {cache.where}"
    else:
        text = f"removed the session from {cache.where} (the proxy had already ended it)"
    emit(args, {"ok": True, "had_session": had, "ended_on_proxy": ended}, text)
    return EXIT_OK


@command
def _whoami(args: argparse.Namespace) -> int:
    with connected(args) as session:
        user = session.client.whoami()
        data = session_summary(session)
    data["user"] = str(user)
    data["user_directory"], data["user_id"] = user.directory, user.user_id
    emit(args, data, str(user))
    return EXIT_OK
