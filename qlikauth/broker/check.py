"""``qlikauth broker --check``: is the broker ready to serve?

The settings have loaded by the time this runs (so the file, its references and the TLS
files are fine). It then reaches what a login needs: the QPS of every proxy node (with the
client certificate, a read that changes nothing), the directory (the validator's own
``check_connection`` when it has one: for LDAP a verified TLS handshake and an anonymous
read, no login), Redis when limits are shared, and the audit log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from qlikauth.broker.audit import AuditLog
from qlikauth.broker.settings import BrokerSettings
from qlikauth.errors import QlikAuthError
from qlikauth.identity import QlikUser
from qlikauth.qps import QpsClient
from qlikauth.site import Site

__all__ = ["CheckResult", "check_broker"]

# Nobody: asking QPS for this user's sessions reads and changes nothing.
_PROBE_USER = QlikUser("INTERNAL", "qlikauth-broker-check")


@dataclass(frozen=True)
class CheckResult:
    """One thing checked: ``ok``, and what was found (or what is wrong, with a hint)."""

    what: str
    ok: bool
    detail: str


def _attempt(what: str, action: Callable[[], str]) -> CheckResult:
    try:
        return CheckResult(what, True, action())
    except QlikAuthError as exc:
        return CheckResult(what, False, str(exc))


def _qps(node: Site) -> str:
    with QpsClient(node, retries=0) as qps:
        qps.user_sessions(_PROBE_USER)
    return f"{node.qps_url('')} answered with the client certificate"


def _directory(settings: BrokerSettings) -> CheckResult:
    validator = settings.validator
    check = getattr(validator, "check_connection", None)
    if not callable(check):
        return CheckResult(
            "directory",
            True,
            f"the {validator.name} validator has no check without a login; the first "
            "login will reach it",
        )
    return _attempt("directory", lambda: str(check()))


def _redis(url: str) -> str:
    from qlikauth.broker.redis_store import RedisStore

    async def ping() -> None:
        store = RedisStore(url)
        try:
            await store.ping()
        finally:
            await store.close()

    asyncio.run(ping())
    return "Redis answered: the rate limits are shared by the instances that use it"


def _audit(destination: str) -> str:
    AuditLog(destination).close()
    return "standard output" if destination == "-" else f"{destination} can be appended to"


def check_broker(settings: BrokerSettings) -> list[CheckResult]:
    """Reach everything a login needs; one result per thing, failures included."""
    routes = ", ".join(route.name for route in settings.routes)
    tls = f"TLS with {settings.certificate}" if settings.tls else "plain http (TLS off)"
    results = [
        CheckResult(
            "configuration",
            True,
            f"{settings.source}: virtual proxies {routes}; validator {settings.validator.name}; "
            f"{tls}",
        )
    ]
    for route in settings.routes:
        for node in route.nodes:
            results.append(_attempt(f"QPS {node.host} ({route.name})", partial(_qps, node)))
    results.append(_directory(settings))
    redis_url = settings.redis_url
    if redis_url is not None:
        results.append(_attempt("rate limits", lambda: _redis(redis_url)))
    else:
        results.append(CheckResult("rate limits", True, "in memory: for one instance only"))
    results.append(_attempt("audit log", lambda: _audit(settings.audit_log)))
    return results
