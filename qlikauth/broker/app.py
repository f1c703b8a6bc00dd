"""The broker's web application (aiohttp): the login page, the login, the style sheet.

``GET /`` shows the form for the login the query names, ``POST /`` logs in, and every
answer carries ``Cache-Control: no-store``, a Content-Security-Policy that allows only the
broker's own style sheet and form targets, ``X-Frame-Options: DENY``,
``Referrer-Policy: no-referrer`` and, over https, HSTS. ``X-Forwarded-For`` and
``X-Forwarded-Proto`` count only from the configured ``trusted_proxies``.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from qlikauth.broker.audit import AuditLog
from qlikauth.broker.csrf import FormTokens
from qlikauth.broker.limits import LimitStore, LoginLimiter, MemoryStore
from qlikauth.broker.login import UNAVAILABLE, LoginOutcome, LoginService
from qlikauth.broker.pages import STYLESHEET, login_page, refusal_page
from qlikauth.broker.settings import BrokerSettings
from qlikauth.broker.targets import LoginTarget, Refusal, login_target
from qlikauth.errors import QlikAuthError

__all__ = ["BrokerApp", "create_app", "make_store"]

#: The form cookie: ``__Host-`` over https (the browser then insists on Secure, Path=/ and
#: no Domain), a plain name over http.
COOKIE_HTTPS = "__Host-qlikauth-form"
COOKIE_HTTP = "qlikauth-form"

_STALE = "This login page has expired or was already used. Please log in again."
_MAX_FORM_BYTES = 64 * 1024


def make_store(settings: BrokerSettings) -> LimitStore:
    """The limit store the settings ask for: Redis with ``redis_url``, else memory."""
    if settings.redis_url:
        from qlikauth.broker.redis_store import RedisStore

        return RedisStore(settings.redis_url)
    return MemoryStore()


def _values(params: Mapping[str, Any], name: str) -> list[str]:
    getall = getattr(params, "getall", None)
    values = getall(name, []) if getall is not None else [params[name]] if name in params else []
    return [v for v in values if isinstance(v, str)]


class BrokerApp:
    """The handlers of one broker instance, and the state they share."""

    def __init__(
        self,
        settings: BrokerSettings,
        *,
        store: LimitStore | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.settings = settings
        self.audit = audit or AuditLog(settings.audit_log)
        self.store = store or make_store(settings)
        self.limiter = LoginLimiter(self.store, settings.limits, settings.secret)
        self.tokens = FormTokens(settings.secret, lifetime=settings.form_lifetime)
        self.logins = LoginService(settings, self.limiter, self.audit)
        self.csp = "; ".join(
            [
                "default-src 'none'",
                "style-src 'self'",
                "img-src 'self'",
                "form-action 'self' " + " ".join(settings.form_origins()),
                "frame-ancestors 'none'",
                "base-uri 'none'",
            ]
        )

    def application(self) -> web.Application:
        """The aiohttp application (closes its connections on cleanup)."""
        app = web.Application(client_max_size=_MAX_FORM_BYTES)
        app.router.add_get("/", self.show)
        app.router.add_post("/", self.submit)
        app.router.add_get("/broker.css", self.stylesheet)
        app.router.add_get("/healthz", self.health)
        app.on_response_prepare.append(self._secure_headers)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _cleanup(self, _app: web.Application) -> None:
        await self.logins.close()
        await self.store.close()
        self.audit.close()

    # -- who is asking --------------------------------------------------------------------

    def client_address(self, request: web.Request) -> str:
        """The client's address: the peer, or what trusted reverse proxies say it was."""
        peer = request.remote or "-"
        if not self.settings.trusts(peer):
            return peer
        hops = [
            hop.strip()
            for header in request.headers.getall("X-Forwarded-For", [])
            for hop in header.split(",")
            if hop.strip()
        ]
        for hop in reversed(hops):  # each proxy appends the address it saw
            if not self.settings.trusts(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return peer
        return hops[0] if hops else peer

    def is_https(self, request: web.Request) -> bool:
        """Whether the browser reached us over https (directly, or through a trusted proxy)."""
        if request.secure:
            return True
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
        return forwarded == "https" and self.settings.trusts(request.remote or "")

    async def _secure_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
        headers["Content-Security-Policy"] = self.csp
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if self.is_https(request):
            headers["Strict-Transport-Security"] = "max-age=31536000"

    # -- pages ----------------------------------------------------------------------------

    async def stylesheet(self, _request: web.Request) -> web.Response:
        """``GET /broker.css``."""
        return web.Response(text=STYLESHEET, content_type="text/css")

    async def health(self, _request: web.Request) -> web.Response:
        """``GET /healthz``: the process serves (for a load balancer)."""
        return web.Response(text="ok\n")

    def _refuse(
        self, request: web.Request, refusal: Refusal, user: str | None = None
    ) -> web.Response:
        ref = secrets.token_hex(6)
        self.audit.record(
            "refused",
            user=user,
            client=self.client_address(request),
            virtual_proxy=None,
            reason=refusal.reason,
            ref=ref,
        )
        page = refusal_page(
            title=self.settings.title,
            heading="This login link cannot be used",
            message=refusal.message,
            ref=ref,
        )
        return web.Response(status=400, text=page, content_type="text/html")

    def _form(
        self,
        request: web.Request,
        target: LoginTarget,
        *,
        status: int = 200,
        user: str = "",
        error: str | None = None,
    ) -> web.Response:
        name = COOKIE_HTTPS if self.is_https(request) else COOKIE_HTTP
        existing = request.cookies.get(name)
        known = existing is not None and FormTokens.is_cookie(existing)
        cookie = existing if existing is not None and known else FormTokens.new_cookie()
        fresh = cookie != existing
        page = login_page(
            title=self.settings.title,
            token=self.tokens.issue(cookie, target.binding),
            target_id=target.target_id,
            proxy_rest_uri=target.proxy_rest_uri,
            user=user,
            error=error,
        )
        response = web.Response(status=status, text=page, content_type="text/html")
        if fresh:
            response.set_cookie(
                name,
                cookie,
                path="/",
                secure=name == COOKIE_HTTPS,
                httponly=True,
                samesite="Strict",
            )
        return response

    def _target(self, params: Mapping[str, Any] | MultiDictProxy[Any]) -> LoginTarget | Refusal:
        return login_target(
            self.settings, _values(params, "targetId"), _values(params, "proxyRestUri")
        )

    async def show(self, request: web.Request) -> web.Response:
        """``GET /``: the login form, or why this link cannot log in."""
        target = self._target(request.query)
        if isinstance(target, Refusal):
            return self._refuse(request, target)
        return self._form(request, target)

    async def submit(self, request: web.Request) -> web.Response:
        """``POST /``: check the form, log in, send the browser on with its ticket."""
        form = await request.post()
        user = (_values(form, "user") or [""])[0]
        target = self._target(form)
        if isinstance(target, Refusal):
            return self._refuse(request, target, user or None)
        name = COOKIE_HTTPS if self.is_https(request) else COOKIE_HTTP
        tokens = _values(form, "csrf")
        token = tokens[0] if len(tokens) == 1 else None
        checked = self.tokens.verify(token, request.cookies.get(name), target.binding)
        if isinstance(checked, str):
            return self._stale(request, target, user, f"csrf_{checked}")
        try:
            first = await self.limiter.first_use(checked.nonce, self.settings.form_lifetime + 60)
        except QlikAuthError as exc:  # the limit store is down: refuse, never skip the check
            outcome = LoginOutcome("unavailable", 503, UNAVAILABLE)
            self.logins.record(outcome, user or None, target, self.client_address(request), exc)
            return self._answer(request, target, user, outcome)
        if not first:
            return self._stale(request, target, user, "csrf_replayed")
        password = (_values(form, "password") or [""])[0]
        outcome = await self.logins.login(user, password, target, self.client_address(request))
        del password
        return self._answer(request, target, user, outcome)

    def _stale(
        self, request: web.Request, target: LoginTarget, user: str, reason: str
    ) -> web.Response:
        self.audit.record(
            "refused",
            user=user or None,
            client=self.client_address(request),
            virtual_proxy=target.route.name,
            node=target.node.host,
            reason=reason,
        )
        return self._form(request, target, status=403, user=user, error=_STALE)

    def _answer(
        self, request: web.Request, target: LoginTarget, user: str, outcome: LoginOutcome
    ) -> web.Response:
        if outcome.location is not None:
            return web.Response(status=303, headers={"Location": outcome.location})
        response = self._form(
            request, target, status=outcome.status, user=user, error=outcome.message
        )
        if outcome.retry_after is not None:
            response.headers["Retry-After"] = str(max(1, round(outcome.retry_after)))
        return response


def create_app(
    settings: BrokerSettings,
    *,
    store: LimitStore | None = None,
    audit: AuditLog | None = None,
) -> web.Application:
    """The broker's aiohttp application for ``settings``."""
    return BrokerApp(settings, store=store, audit=audit).application()
