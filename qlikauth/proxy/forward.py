"""One HTTP request through the proxy: streamed both ways, renewed once on a refusal.

The tool's body goes up as it arrives and Qlik's answer comes down as it arrives, so a
1 GB download takes no more memory than a small one. Only the first bytes of an answer
that might be a login page are read before deciding (:mod:`qlikauth.proxy.answers`), and
only a small request body is kept to be sent again after a new login; a large one streams,
and a refusal of it reaches the tool (the next request has the renewed session).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from qlikauth.credentials import Credentials
from qlikauth.errors import QlikAuthError, redact_url
from qlikauth.proxy.answers import PEEK_BYTES, explain_failure, needs_peek, session_refused
from qlikauth.proxy.local_response import response_headers
from qlikauth.proxy.replies import failure_reply, size_of
from qlikauth.proxy.session import ProxySession
from qlikauth.proxy.upstream_request import Target, fresh_xrfkey, http_headers

__all__ = ["RESEND_LIMIT", "HttpForwarder", "Relayed"]

log = logging.getLogger("qlikauth.proxy")

#: Request bodies up to this size are kept, to be sent again after a new login.
RESEND_LIMIT = 1 << 20
_Body = bytes | AsyncIterator[bytes] | None


@dataclass
class Relayed:
    """What went back to the tool: the response and how many body bytes it carried."""

    response: web.StreamResponse
    size: int = 0


@dataclass
class _Answer:
    """Qlik's answer, its body unread except for ``head``."""

    response: aiohttp.ClientResponse
    head: bytes
    refused: bool


def _own(response: web.Response) -> Relayed:
    return Relayed(response, size_of(response))


class _Unreachable(Exception):
    """The request did not reach Qlik (connection, TLS); ``error`` says why."""

    def __init__(self, error: QlikAuthError) -> None:
        super().__init__(error.message)
        self.error = error


async def _stream(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    async for chunk in content.iter_any():
        yield chunk


async def _read_head(content: aiohttp.StreamReader) -> bytes:
    head = b""
    while len(head) < PEEK_BYTES:
        chunk = await content.read(PEEK_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    return head


def _discard(response: aiohttp.ClientResponse) -> None:
    """Drop a connection that cannot carry another request (part of an answer unread, or a
    streamed upload Qlik answered before taking it all). It is cut, not closed with TLS's
    goodbye: that waits for a peer which may still expect the rest of a body."""
    connection = response.connection
    transport = connection.transport if connection is not None else None
    if transport is not None:
        transport.abort()
    response.close()


class HttpForwarder:
    """Forwards HTTP requests to the site over one kept-alive ``aiohttp`` client session."""

    def __init__(self, session: ProxySession, http: aiohttp.ClientSession) -> None:
        self.session = session
        self.http = http
        self.site = session.site

    async def forward(
        self, request: web.Request, target: Target, set_cookie: str | None = None
    ) -> Relayed:
        """Send ``request`` to ``target`` with the session; relay the answer to the tool."""
        what = f"{request.method} /{redact_url(target.path)}"
        body, resendable = await self._body(request)
        credentials = self.session.credentials
        answer: _Answer | None = None
        try:
            answer = await self._send(request, target, credentials, body)
            if answer.refused:
                answer = await self._after_refusal(request, target, credentials, answer, body)
        except _Unreachable as exc:
            return _own(failure_reply(exc.error, what=f"{what} did not reach Qlik"))
        except QlikAuthError as exc:
            if answer is not None:
                _discard(answer.response)
            return _own(failure_reply(exc, what=f"logging in again for {what} failed"))
        if not answer.refused:
            self.session.used()
        return await self._relay(request, answer, set_cookie, reusable=resendable)

    async def _after_refusal(
        self,
        request: web.Request,
        target: Target,
        credentials: Credentials,
        answer: _Answer,
        body: _Body,
    ) -> _Answer:
        """Renew the session and send the request again; the answer to relay."""
        what = f"{request.method} /{redact_url(target.path)}"
        fresh = await self.session.renew(credentials, what)
        if fresh is None:
            return answer
        if not isinstance(body, bytes | None):
            log.warning(
                "%s was refused and its streamed body cannot be sent again; the refusal goes "
                "to the tool (the next request uses the renewed session)",
                what,
            )
            return answer
        _discard(answer.response)
        again = await self._send(request, target, fresh, body)
        if again.refused:
            log.warning(
                "%s was refused (%d) again right after a new login; Qlik's answer goes to the "
                "tool. Check the user's access and the virtual proxy's settings.",
                what,
                again.response.status,
            )
        return again

    @staticmethod
    async def _body(request: web.Request) -> tuple[_Body, bool]:
        """The body to send: kept whole when small (it can be sent again), else streamed."""
        if not request.body_exists:
            return None, True
        length = request.content_length
        if length is not None and length <= RESEND_LIMIT:
            return await request.content.readexactly(length), True
        return _stream(request.content), False

    async def _send(
        self, request: web.Request, target: Target, credentials: Credentials, body: _Body
    ) -> _Answer:
        xrfkey = fresh_xrfkey(target)
        url = target.http_url(self.site, xrfkey)
        headers = http_headers(
            request.headers.items(),
            credentials,
            origin=credentials.origin(self.site),
            xrfkey=xrfkey,
        )
        try:
            response = await self.http.request(
                request.method,
                URL(url, encoded=True),
                headers=CIMultiDict(headers),
                data=body,
                allow_redirects=False,
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            error = await asyncio.to_thread(explain_failure, exc, self.site, url)
            raise _Unreachable(error) from exc
        head = b""
        if needs_peek(response.status, response.content_type):
            try:
                head = await _read_head(response.content)
            except (aiohttp.ClientError, OSError) as exc:
                response.close()
                error = await asyncio.to_thread(explain_failure, exc, self.site, url)
                raise _Unreachable(error) from exc
        refused = session_refused(
            self.site,
            request.method,
            url,
            credentials.cookie_header(),
            response.status,
            response.headers.items(),
            head,
        )
        return _Answer(response, head, refused)

    async def _relay(
        self, request: web.Request, answer: _Answer, set_cookie: str | None, *, reusable: bool
    ) -> Relayed:
        """Stream Qlik's answer to the tool. The connection to Qlik is kept for the next
        request only when both bodies went through whole (``reusable``: the request's did)."""
        upstream = answer.response
        local = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for name, value in response_headers(
            self.site, upstream.headers.items(), self.session.cookie_names
        ):
            local.headers.add(name, value)
        if set_cookie is not None:
            local.headers.add("Set-Cookie", set_cookie)
        relayed = Relayed(local)
        complete = False
        try:
            await local.prepare(request)
            if answer.head:
                await local.write(answer.head)
                relayed.size += len(answer.head)
            async for chunk in upstream.content.iter_any():
                await local.write(chunk)
                relayed.size += len(chunk)
            await local.write_eof()
            complete = True
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
            # Qlik broke off mid-body: the tool must see a broken answer too, not a short one.
            log.warning(
                "Qlik's answer to %s %s broke off after %d bytes (%s); cutting the tool's "
                "connection",
                request.method,
                redact_url(request.path),
                relayed.size,
                type(exc).__name__,
            )
            if request.transport is not None:
                request.transport.abort()
        except ConnectionError:
            log.info("the tool closed the connection after %d bytes", relayed.size)
        finally:
            if complete and reusable:
                upstream.release()
            else:
                _discard(upstream)
        return relayed
