"""Serving ``qlikauth proxy``: announce the URL and token, log requests, serve until a signal.

Kept apart from :mod:`qlikauth.cli.proxy` so that the command line loads without the
``server`` extra (aiohttp) and only this command needs it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from qlikauth._files import atomic_write, check_writable
from qlikauth.cli._common import EXIT_OK
from qlikauth.cli._context import connected
from qlikauth.errors import ConfigurationError, UsageError
from qlikauth.logfilter import SecretFilter
from qlikauth.proxy import DEFAULT_HOST, TOKEN_HEADER, TOKEN_QUERY, LocalProxy
from qlikauth.proxy.access import check_address
from qlikauth.site import check_host

__all__ = ["serve"]


def _announce(proxy: LocalProxy, *, as_json: bool, token_file: Path | None) -> None:
    site = proxy.client.site
    info = {
        "url": proxy.url,
        "websocket_url": "ws" + proxy.url.removeprefix("http") + "app/",
        "unix_socket": str(proxy.unix_socket) if proxy.unix_socket else None,
        "token": proxy.token,
        "token_header": TOKEN_HEADER,
        "token_query": TOKEN_QUERY,
        "token_file": str(token_file) if token_file is not None else None,
        "browser_url": proxy.browser_url("hub/"),
        "upstream": site.proxy_url(),
        "user": str(proxy.user) if proxy.user else None,
    }
    if as_json:
        print(json.dumps(info, sort_keys=True), flush=True)
        return
    where = f"{proxy.url} (Unix socket {proxy.unix_socket})" if proxy.unix_socket else proxy.url
    lines = [f"qlikauth proxy: {info['upstream']} as {info['user']} on {where}"]
    if proxy.token:
        lines.append(
            f"access token: {proxy.token} (header {TOKEN_HEADER}, or ?{TOKEN_QUERY}=, or the "
            "cookie a browser gets on its first visit)"
        )
        lines.append(f"browser: {info['browser_url']}")
    lines.append("stop with Ctrl-C")
    print("\n".join(lines), flush=True)


class _TokenFile:
    """``--token-file``: the token as a header line, written once serving, removed at stop
    (only if this proxy wrote it: the token dies with the proxy)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.written = False

    def write(self, proxy: LocalProxy) -> None:
        if self.path is not None and proxy.token:
            atomic_write(self.path, f"{TOKEN_HEADER}: {proxy.token}\n".encode())
            self.written = True

    def remove(self) -> None:
        if self.written and self.path is not None:
            self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def _request_log(verbose: int) -> Iterator[None]:
    """Request lines on stderr (``-v`` logs them with everything else already)."""
    if verbose:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    handler.addFilter(SecretFilter())
    logger = logging.getLogger("qlikauth.proxy")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def serve(args: argparse.Namespace) -> int:
    """Run ``qlikauth proxy`` with these arguments until SIGINT or SIGTERM."""
    address = args.address or DEFAULT_HOST
    if args.unix_socket is None and not args.allow_remote:
        check_address(address, allow_remote=False)  # before logging in for nothing
    for name in args.accept_host:
        try:
            check_host(name.strip("[]"))
        except ConfigurationError as exc:
            raise UsageError(f"--accept-host: {exc.message}", hint=exc.hint) from None
    token_file = _TokenFile(Path(args.token_file).absolute() if args.token_file else None)
    if token_file.path is not None:
        check_writable(token_file.path, "--token-file")

    def ready(proxy: LocalProxy) -> None:
        token_file.write(proxy)
        _announce(
            proxy, as_json=args.json, token_file=token_file.path if token_file.written else None
        )

    with _request_log(args.verbose), connected(args) as session:
        proxy = LocalProxy(
            session.client,
            host=address,
            port=args.port,
            unix_socket=Path(args.unix_socket) if args.unix_socket else None,
            require_token=False if args.no_token else None,
            allow_remote=args.allow_remote,
            accept_hosts=args.accept_host,
        )
        try:
            proxy.serve_forever(ready)
        finally:
            token_file.remove()
    return EXIT_OK
