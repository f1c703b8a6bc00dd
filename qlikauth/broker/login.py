"""One login: rate limits, the validator, the ticket, the audit entry.

The same work for every name: each login reserves its attempts, asks the validator (which
binds to the directory for unknown names too) and, when it fails, answers no sooner than
``answer_time`` after it began, so that neither the page nor the time it takes tells an
unknown user from a wrong password. On success the ticket is requested from the QPS of the
node that sent the browser, with the ``targetId``, and the browser goes to the
``TargetUri`` QPS returned (on the site, or on one of its configured names).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from qlikauth.broker.audit import AuditLog, Result
from qlikauth.broker.limits import LoginLimiter, RateLimited, Reservation
from qlikauth.broker.settings import BrokerSettings
from qlikauth.broker.targets import LoginTarget
from qlikauth.errors import (
    AccountRestrictedError,
    ConfigurationError,
    InvalidCredentialsError,
    QlikAuthError,
    TooManyAttemptsError,
)
from qlikauth.identity import QlikUser
from qlikauth.qps import AsyncQpsClient
from qlikauth.site import Site
from qlikauth.validators import ValidatedUser, parse_username

__all__ = ["UNAVAILABLE", "LoginOutcome", "LoginService"]

log = logging.getLogger("qlikauth.broker")

_WRONG = "The user name or password is incorrect."
#: What the person reads when the directory, QPS or the limit store cannot be reached.
UNAVAILABLE = "Logging in is not possible right now. Please try again in a few minutes."


@dataclass(frozen=True)
class LoginOutcome:
    """What to answer: ``location`` (which holds the ticket) on success, else a message."""

    result: Result
    status: int
    message: str = ""
    location: str | None = None
    retry_after: float | None = None

    def __repr__(self) -> str:
        where = "[secure]" if self.location else None
        return f"LoginOutcome({self.result!r}, status={self.status}, location={where})"


def _retry_text(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class LoginService:
    """Runs logins for one broker instance (its QPS connections, its validator threads)."""

    def __init__(self, settings: BrokerSettings, limiter: LoginLimiter, audit: AuditLog) -> None:
        self.settings = settings
        self.limiter = limiter
        self.audit = audit
        # The validator blocks (LDAP): it runs on threads, off the event loop.
        self._executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="qlikauth-val")
        self._qps: dict[tuple[str, str], AsyncQpsClient] = {}

    async def close(self) -> None:
        """Close QPS connections and the validator threads."""
        for client in self._qps.values():
            await client.aclose()
        self._qps.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _client(self, node: Site) -> AsyncQpsClient:
        key = (node.origin + str(node.qps_port), node.prefix)
        if key not in self._qps:
            self._qps[key] = AsyncQpsClient(node)  # one kept-alive mutual-TLS connection
        return self._qps[key]

    async def login(
        self, user: str, password: str, target: LoginTarget, client: str
    ) -> LoginOutcome:
        """Log ``user`` in for ``target``; failures take at least ``answer_time``."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            outcome = await self._login(user.strip(), password, target, client)
        finally:
            del password
        if outcome.location is None:
            await asyncio.sleep(max(0.0, started + self.settings.answer_time - loop.time()))
        return outcome

    def record(
        self,
        outcome: LoginOutcome,
        user: str | None,
        target: LoginTarget,
        client: str,
        reason: str | Exception | None = None,
    ) -> LoginOutcome:
        """Write the audit entry and the log line of a login's outcome; return it."""
        if isinstance(reason, QlikAuthError):
            reason = f"{type(reason).__name__}: {reason.message}"
        elif isinstance(reason, Exception):
            reason = type(reason).__name__
        self.audit.record(
            outcome.result,
            user=user,
            client=client,
            virtual_proxy=target.route.name,
            node=target.node.host,
            reason=reason,
        )
        log.info("login of %r from %s on %s: %s", user, client, target.route.name, outcome.result)
        return outcome

    async def _login(
        self, user: str, password: str, target: LoginTarget, client: str
    ) -> LoginOutcome:
        if not user or not password:
            wrong = LoginOutcome("invalid_credentials", 401, "Enter your user name and password.")
            return self.record(wrong, user or None, target, client, "empty")
        try:
            key = parse_username(user).key
        except InvalidCredentialsError:
            key = user.casefold()
        try:
            reserved = await self.limiter.reserve(key, client)
        except QlikAuthError as exc:
            down = LoginOutcome("unavailable", 503, UNAVAILABLE)
            return self.record(down, user, target, client, f"limit store: {exc.message}")
        if isinstance(reserved, RateLimited):
            refused = LoginOutcome(
                "rate_limited",
                429,
                "Too many failed logins for this user name or from this computer. Please "
                f"try again in {_retry_text(reserved.retry_after)}.",
                retry_after=reserved.retry_after,
            )
            return self.record(refused, user, target, client, reserved.scope)
        validated = await self._validate(user, password, reserved, target, client)
        if isinstance(validated, LoginOutcome):
            return validated
        return await self._ticket(validated, target, client)

    async def _validate(
        self, user: str, password: str, reserved: Reservation, target: LoginTarget, client: str
    ) -> ValidatedUser | LoginOutcome:
        validator = self.settings.validator
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, validator.validate, user, password)
        except InvalidCredentialsError:
            await reserved.failed()
            return self.record(
                LoginOutcome("invalid_credentials", 401, _WRONG), user, target, client
            )
        except AccountRestrictedError as exc:
            # The directory names the reason only once the password was right.
            await reserved.undecided()
            restricted = LoginOutcome("account_restricted", 403, _restriction(exc))
            return self.record(restricted, user, target, client, exc.reason)
        except TooManyAttemptsError as exc:
            await reserved.undecided()
            limited = LoginOutcome("rate_limited", 429, _WRONG, retry_after=exc.retry_after)
            return self.record(limited, user, target, client, "validator")
        except ConfigurationError as exc:
            await reserved.undecided()
            form = LoginOutcome(
                "invalid_credentials", 401, "Write your user name as DOMAIN\\user or user@domain."
            )
            return self.record(form, user, target, client, exc.message)
        except QlikAuthError as exc:
            await reserved.undecided()
            down = LoginOutcome("unavailable", 503, UNAVAILABLE)
            return self.record(down, user, target, client, f"{type(exc).__name__}: {exc.message}")
        except Exception as exc:  # a plug-in validator's own failure
            await reserved.undecided()
            log.debug("validator %s failed", validator.name, exc_info=True)
            down = LoginOutcome("unavailable", 503, UNAVAILABLE)
            return self.record(down, user, target, client, f"validator: {type(exc).__name__}")

    async def _ticket(
        self, validated: ValidatedUser, target: LoginTarget, client: str
    ) -> LoginOutcome:
        who = QlikUser(validated.directory, validated.user_id)
        try:
            ticket = await self._client(target.node).issue_ticket(
                who,
                attributes=self.settings.attributes.pairs(validated),
                target_id=target.target_id,
            )
        except QlikAuthError as exc:
            down = LoginOutcome("unavailable", 502, UNAVAILABLE)
            return self.record(down, str(who), target, client, f"QPS: {exc.message}")
        try:
            location = ticket.redirect_url(target.node, proxy_names=target.route.proxy_names)
        except ConfigurationError as exc:
            refused = LoginOutcome(
                "refused",
                502,
                "Qlik Sense asked to continue on an address this login page does not know.",
            )
            return self.record(refused, str(who), target, client, exc.message)
        return self.record(
            LoginOutcome("success", 303, location=location), str(who), target, client
        )


def _restriction(exc: AccountRestrictedError) -> str:
    texts = {
        "disabled": "Your account is disabled.",
        "locked": "Your account is locked after too many wrong passwords.",
        "expired": "Your account has expired.",
        "password_expired": "Your password has expired: change it, then log in again.",
        "must_change_password": "You must change your password before you log in.",
    }
    return (
        texts.get(exc.reason, "Your account cannot log on now.") + " Your administrator can help."
    )
