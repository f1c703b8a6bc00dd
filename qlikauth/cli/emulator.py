"""``qlikauth emulator``: run the Qlik Sense emulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from pathlib import Path

from qlikauth._files import check_writable
from qlikauth.cli._common import EXIT_CONFIG, EXIT_OK
from qlikauth.errors import ConfigurationError, UsageError
from qlikauth.site import check_host

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``emulator`` command."""
    # Not the common options: the emulator is the server, so profiles, servers, certificates
    # and TLS settings of a client mean nothing here, and --config is its own TOML file.
    parser = subparsers.add_parser(
        "emulator",
        help="run the Qlik Sense emulator (proxy, QPS, QRS, engine, login module)",
        description="Run an emulated Qlik Sense Enterprise on Windows server on loopback. "
        "The info file (JSON) says which ports were chosen and where the certificates are.",
    )
    parser.add_argument("--config", metavar="FILE", help="the emulator's TOML configuration")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log what the emulator does"
    )
    parser.add_argument("--host", help="host name the certificates and URLs use (localhost)")
    parser.add_argument(
        "--state-dir",
        default=".qlikauth-emulator",
        help="folder for the PKI, keys and exported files (default: %(default)s)",
    )
    parser.add_argument("--info-file", help="where to write the info JSON (default: in state dir)")
    parser.add_argument(
        "--release",
        choices=("2024-05", "2024-11"),
        help="the Qlik Sense release to behave as: 2024-05 (before the November 2024 "
        "websocket CSRF change) or 2024-11 (the default)",
    )
    parser.add_argument(
        "--legacy-websocket",
        action="store_true",
        help="deprecated: the same as --release 2024-05",
    )
    parser.add_argument(
        "--allow-http",
        action="store_true",
        help="also serve the proxy and the login module over plain http (cookies get '-HTTP')",
    )
    parser.set_defaults(handler=run)


def _announce(info: dict[str, object]) -> None:
    print(
        f"qlikauth emulator ready: proxy {info['proxy_url']}, QPS {info['qps_url']}, "
        f"QRS {info['qrs_url']}, engine {info['engine_url']}, login {info['auth_url']}",
        flush=True,
    )
    if info.get("allow_http"):
        print(
            f"plain http: proxy {info['proxy_http_url']}, login {info['auth_http_url']}",
            flush=True,
        )
    print(f"info file: {info['info_file']}", flush=True)


def run(args: argparse.Namespace) -> int:
    """Start the emulator and serve until a signal arrives."""
    try:
        from qlikauth.emulator.configfile import load_config
        from qlikauth.emulator.server import Emulator
    except ImportError as exc:
        raise ConfigurationError(
            f"the emulator needs the 'server' extra ({exc.name} is missing)",
            hint="pip install 'qlikauth[server]'",
        ) from exc
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FutureWarning)
        config = load_config(args.config)
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    if args.host is not None:
        try:
            check_host(args.host.strip("[]"))
        except ConfigurationError as exc:
            raise UsageError(f"--host: {exc.message}", hint=exc.hint) from None
        config = dataclasses.replace(config, host=args.host)
    if args.info_file:
        check_writable(Path(args.info_file).absolute(), "--info-file")
    if args.legacy_websocket:
        if args.release not in (None, "2024-05"):
            raise ConfigurationError(
                "--legacy-websocket contradicts --release " + args.release,
                hint="give --release only",
            )
        print(
            "warning: --legacy-websocket is deprecated and will be removed: it now means "
            "--release 2024-05",
            file=sys.stderr,
        )
        config = dataclasses.replace(config, release="2024-05")
    if args.release:
        config = dataclasses.replace(config, release=args.release)
    if args.allow_http:
        config = dataclasses.replace(config, allow_http=True)
    emulator = Emulator(config, Path(args.state_dir), info_file=args.info_file)
    try:
        emulator.serve_forever(on_ready=_announce)
    except OSError as exc:
        print(f"error: the emulator could not start: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK
