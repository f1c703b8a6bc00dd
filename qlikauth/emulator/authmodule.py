"""The internal authentication module (4244 on Qlik): Windows (NTLM/Negotiate) and forms.

On success both issue a ticket for the virtual proxy the login started from and redirect
back through the proxy with ``qlikTicket`` (qlik-protocol.md §2.3, §2.4).
"""

from __future__ import annotations

import base64
from html import escape

from aiohttp import web

from qlikauth.emulator.common import query_value, text_response
from qlikauth.emulator.core import EmulatorCore, add_query
from qlikauth.emulator.ntlm import parse_authorization

__all__ = ["AuthModule"]

_FORM = """<!DOCTYPE html>
<html><head><title>Qlik Sense login (qlikauth emulator)</title></head>
<body><h1>Log on</h1>{error}
<form method="post" action="/internal_forms_authentication/login?targetId={target}">
<label>User name <input name="username" placeholder="domain\\user"></label>
<label>Password <input name="pwd" type="password"></label>
<input type="hidden" name="__token" value="{token}">
<input type="hidden" name="targetId" value="{target}">
<button type="submit">Log in</button>
</form></body></html>
"""


class AuthModule:
    """Handlers of the internal authentication listener."""

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core

    def _prefix_for(self, target_id: str | None) -> str | None:
        target = self.core.targets.get(target_id) if target_id else None
        prefix = target.prefix if target else ""
        vp = self.core.config.virtual_proxy(prefix)
        return prefix if vp is not None and vp.method == "windows" else None

    def _success(self, request: web.Request, user: str, target_id: str | None) -> web.Response:
        prefix = self._prefix_for(target_id)
        if prefix is None:
            return text_response(400, "No Windows virtual proxy started this login.")
        ticket = self.core.tickets.issue(prefix, self.core.config.windows.domain, user, [])
        location = self.core.ticket_return(prefix, target_id, ticket, secure=request.secure)
        return web.Response(status=302, headers={"Location": location})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Route by path."""
        path = request.path
        if path.startswith("/internal_windows_authentication"):
            return self._windows(request)
        if path.rstrip("/") == "/internal_forms_authentication/login":
            return await self._forms_login(request)
        if path.startswith("/internal_forms_authentication"):
            return self._forms_page(query_value(request, "targetId") or "", None, 200)
        if path.startswith("/no_authentication_module"):
            return text_response(
                501,
                "No external authentication module is configured for this ticket virtual "
                "proxy: set auth_module_uri, or issue a ticket through QPS yourself.",
            )
        return text_response(404, "Not found.")

    def _windows(self, request: web.Request) -> web.Response:
        target_id = query_value(request, "targetId")
        pattern = self._pattern(target_id)
        if pattern.lower() not in request.headers.get("User-Agent", "").lower():
            location = "/internal_forms_authentication/"
            if target_id:
                location = add_query(location, targetId=target_id)
            return web.Response(status=302, headers={"Location": location})
        parsed = parse_authorization(request.headers.get("Authorization"))
        if parsed is None:
            return self._challenge(None)
        scheme, token = parsed
        result = self.core.ntlm.step(request.transport, scheme, token)
        if result.error is not None:
            return self._challenge(None, "Windows authentication failed.")
        if result.user is None:
            return self._challenge(
                f"{result.scheme} {base64.b64encode(result.token or b'').decode()}"
            )
        domain, _, name = result.user.rpartition("\\")
        known = self.core.windows_user(domain, name)
        if known is None:
            return self._challenge(None, "Windows authentication failed: unknown user.")
        response = self._success(request, known, target_id)
        if result.token:
            response.headers["WWW-Authenticate"] = (
                f"{result.scheme} {base64.b64encode(result.token).decode()}"
            )
        return response

    def _pattern(self, target_id: str | None) -> str:
        prefix = self._prefix_for(target_id)
        vp = self.core.config.virtual_proxy(prefix or "")
        return vp.windows_pattern if vp is not None else "Windows"

    @staticmethod
    def _challenge(
        header: str | None, text: str = "Windows authentication required."
    ) -> web.Response:
        response = text_response(401, text)
        if header is None:
            response.headers.add("WWW-Authenticate", "Negotiate")
            response.headers.add("WWW-Authenticate", "NTLM")
        else:
            response.headers.add("WWW-Authenticate", header)
        return response

    def _forms_page(self, target_id: str, error: str | None, status: int) -> web.Response:
        token = self.core.new_form_token(target_id)
        html = _FORM.format(
            error=f'<p class="error">{escape(error)}</p>' if error else "",
            target=escape(target_id, quote=True),
            token=escape(token, quote=True),
        )
        return web.Response(status=status, text=html, content_type="text/html")

    async def _forms_login(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            return text_response(405, "Post the login form.")
        form = await request.post()
        target_id = str(form.get("targetId") or query_value(request, "targetId") or "")
        token = str(form.get("__token") or "")
        if self.core.form_tokens.pop(token, None) is None:
            return self._forms_page(target_id, "The login page expired; try again.", 403)
        username = str(form.get("username") or "")
        password = str(form.get("pwd") or "")
        domain, sep, name = username.partition("\\")
        user = self.core.check_windows_password(domain, name, password) if sep else None
        if user is None:
            return self._forms_page(target_id, "Invalid user name or password.", 401)
        return self._success(request, user, target_id or None)
