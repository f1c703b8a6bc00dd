"""What every command that talks to Qlik shares: profile + environment + options -> site.

Commands call :func:`resolve_args` (or :func:`qps_client`) and never build a
:class:`~qlikauth.site.Site` themselves, so ``--profile``, ``--server``, ``--prefix``,
``--certs``, ``--insecure`` and ``--timeout`` mean the same everywhere. Handlers are
wrapped with :func:`command`, which prints the ``--insecure`` warning on stderr every time
and keeps Python's own warning about it from repeating.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from urllib3.exceptions import InsecureRequestWarning

from qlikauth.config import ConfigFile, Options, Resolved, resolve
from qlikauth.qps import QpsClient
from qlikauth.tls import InsecureTLSWarning

__all__ = [
    "DEFAULT_TIMEOUT",
    "INSECURE_WARNING",
    "command",
    "load_config",
    "options_from",
    "qps_client",
    "resolve_args",
]

#: The ``--timeout`` default of the common options; that value means "not given".
DEFAULT_TIMEOUT = 30.0
#: Printed on stderr by every command run with ``--insecure``.
INSECURE_WARNING = (
    "WARNING: --insecure: the server's TLS certificate is NOT verified; anyone on the "
    "network path can read and change this traffic, credentials included."
)

Handler = Callable[[argparse.Namespace], int]


def command(handler: Handler) -> Handler:
    """Wrap a handler: the loud ``--insecure`` line, then the handler."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        if getattr(args, "insecure", False):
            print(INSECURE_WARNING, file=sys.stderr)
            with warnings.catch_warnings():
                # Said once above, loudly; the per-context warning would repeat it.
                warnings.simplefilter("ignore", InsecureTLSWarning)
                warnings.simplefilter("ignore", InsecureRequestWarning)
                return handler(args)
        return handler(args)

    return run


def load_config(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> ConfigFile:
    """The configuration file named by ``--config`` (or ``QLIKAUTH_CONFIG``, or the default)."""
    return ConfigFile.load(getattr(args, "config", None), env=os.environ if env is None else env)


def options_from(args: argparse.Namespace, **auth: Any) -> Options:
    """The common options as :class:`~qlikauth.config.Options`; ``auth`` adds settings."""
    timeout = getattr(args, "timeout", None)
    if timeout == DEFAULT_TIMEOUT:
        timeout = None
    return Options(
        server=getattr(args, "server", None),
        prefix=getattr(args, "prefix", None),
        certs=getattr(args, "certs", None),
        insecure=bool(getattr(args, "insecure", False)),
        timeout=timeout,
        auth={k: v for k, v in auth.items() if v is not None},
    )


def resolve_args(
    args: argparse.Namespace,
    *,
    with_authenticator: bool = True,
    env: Mapping[str, str] | None = None,
    **auth: Any,
) -> Resolved:
    """The site (and authenticator) for this command line."""
    environ = os.environ if env is None else env
    return resolve(
        getattr(args, "profile", None),
        config=load_config(args, environ),
        env=environ,
        options=options_from(args, **auth),
        with_authenticator=with_authenticator,
    )


def qps_client(args: argparse.Namespace, *, prefix: str | None = None) -> QpsClient:
    """A QPS client for the resolved site (or another virtual proxy of it)."""
    resolved = resolve_args(args, with_authenticator=False)
    site = resolved.site if prefix is None else resolved.site.with_prefix(prefix)
    client = QpsClient(site)
    client.transport.timeout = resolved.timeout
    return client
