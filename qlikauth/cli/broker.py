"""``qlikauth broker``: run the authentication broker, or check that it can run."""

from __future__ import annotations

import argparse
import json
import sys

from qlikauth.cli._common import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from qlikauth.errors import ConfigurationError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``broker`` command."""
    # Not the common options: the broker reads its virtual proxies, profiles and validator
    # from the [broker] table of the profile file, not from a client's options.
    parser = subparsers.add_parser(
        "broker",
        help="run the authentication broker (login page -> Windows password -> Qlik ticket)",
        description="Serve the login page a Qlik Sense ticket virtual proxy sends browsers "
        "to: it checks a Windows password and logs the user in with a QPS ticket. Settings "
        "come from the [broker] table of the profile file (see docs/broker.md).",
    )
    parser.add_argument("--config", metavar="FILE", help="the profile file with a [broker] table")
    parser.add_argument(
        "--check",
        action="store_true",
        help="check the settings and reach QPS, the directory and Redis; then exit",
    )
    parser.add_argument("--json", action="store_true", help="--check: print one JSON object")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log what the broker does"
    )
    parser.set_defaults(handler=run)


def _announce(server: object) -> None:
    print(f"qlikauth broker ready: {getattr(server, 'url', '?')}", flush=True)


def run(args: argparse.Namespace) -> int:
    """Check, or serve until a signal arrives."""
    try:
        from qlikauth.broker import check_broker, load_settings
        from qlikauth.broker.server import BrokerServer
    except ImportError as exc:
        raise ConfigurationError(
            f"the broker needs the 'broker' extra ({exc.name} is missing)",
            hint="pip install 'qlikauth[broker]'",
        ) from exc
    settings = load_settings(args.config)
    if args.check:
        results = check_broker(settings)
        if args.json:
            payload = {
                "ok": all(r.ok for r in results),
                "checks": [{"what": r.what, "ok": r.ok, "detail": r.detail} for r in results],
            }
            print(json.dumps(payload, indent=2))
        else:
            for result in results:
                mark = "ok  " if result.ok else "FAIL"
                print(f"{mark} {result.what}: {result.detail}")
        return EXIT_OK if all(r.ok for r in results) else EXIT_FAILURE
    try:
        BrokerServer(settings).serve_forever(on_ready=_announce)
    except OSError as exc:
        print(f"error: the broker could not start: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK
