"""Every error qlikauth raises, in one tree.

Each error says what was sent, what came back and what to change: ``str(exc)`` is the
message followed by a ``hint:`` line when there is one. No error ever carries a secret
(password, ticket, JWT, session id, CSRF token); URLs are stored with their query string
redacted.

* QlikAuthError
    * ConfigurationError (also ValueError) - bad setting, profile or argument
        * InvalidHeaderValueError - non-ASCII, CR/LF or reserved name in an HTTP header
        * MissingSettingsError - an authenticator setting is given nowhere
        * UsageError - the command line is wrong (the CLI exits 2)
    * TlsError - certificate files and handshakes
        * CertificateFileError - missing, unreadable, not PEM/PFX, wrong passphrase
        * CertificateMismatchError - the private key does not belong to the certificate
        * CertificateValidityError - expired or not yet valid
        * CertificateChainError - the root does not sign the certificate
        * HostnameMismatchError - the server certificate does not name the host
        * HandshakeError - the TLS handshake failed (for example no client certificate)
    * TransportError - the network: refused, reset, timed out
        * EngineTimeoutError (also TimeoutError) - an engine call got no answer in time
    * ApiError - an HTTP API (QPS, QRS, personal API) answered with an error status
        * XrfkeyRejectedError - 403 "XSRF prevention check failed"
    * AuthenticationError - the server did not accept who we said we are
        * CredentialsRejectedError - 401, or the identity provider said no
            * InvalidCredentialsError - wrong user name or password
            * AccountRestrictedError - disabled, locked out, expired, must change password
            * JwtError - the JWT was refused or cannot be made (signature, algorithm, claims)
        * LoginRedirectError - a redirect to a login page, or an HTML login page
        * WebSocketRejectedError - the websocket upgrade was refused (CSWSH 403)
        * MustAuthenticateError - the proxy said ``mustAuthenticate: true``
        * SessionLimitError - ``OnMaxParallelSessionsExceeded``: too many sessions
        * SessionExpiredError - the proxy session ended (timeout, logout, deleted)
        * TicketError - a ticket was refused (reused, too old, other virtual proxy)
        * TooManyAttemptsError - qlikauth refused to try again after repeated failures
    * EngineError - a JSON-RPC error from the engine (``code``, ``parameter``, ``message``)
        * MethodNotFoundError - -32601
        * InvalidParametersError - -32602 and 8
        * ObjectNotFoundError - 2, and handles the engine closed
        * AccessDeniedError - 5
        * AppNotFoundError - 1003
        * AppAlreadyOpenError - 1002
        * EngineSessionError - the greeting reported a ``SESSION_ERROR_*`` state (``code`` is
          the state's number, 2 to 8)
        * EngineClosedError - the socket closed; pending calls fail with this (``code`` 16,
          Qlik's "connection lost")
            * EngineMessageTooLargeError - the server sent a message above
              ``max_message_size``, so the client closed the socket
        * ExpressionError - the engine found an expression or a hypercube definition wrong
          (``CheckExpression``'s message or bad field names, a hypercube's ``qError``)
    * DownloadError - a file could not be downloaded whole
        * ForeignHostError - the URL points away from the site
        * IncompleteDownloadError - fewer bytes than announced arrived
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from qlikauth._deprecation import deprecated_names
from qlikauth._redact import redact_url

__all__ = [
    "AccessDeniedError",
    "AccountRestrictedError",
    "ApiError",
    "AppAlreadyOpenError",
    "AppNotFoundError",
    "AuthenticationError",
    "CertificateChainError",
    "CertificateFileError",
    "CertificateMismatchError",
    "CertificateValidityError",
    "ConfigurationError",
    "CredentialsRejectedError",
    "DownloadError",
    "EngineClosedError",
    "EngineError",
    "EngineMessageTooLargeError",
    "EngineSessionError",
    "EngineTimeoutError",
    "ExpressionError",
    "ForeignHostError",
    "HandshakeError",
    "HostnameMismatchError",
    "IncompleteDownloadError",
    "InvalidCredentialsError",
    "InvalidHeaderValueError",
    "InvalidParametersError",
    "JwtError",
    "LoginRedirectError",
    "MethodNotFoundError",
    "MissingSettingsError",
    "MustAuthenticateError",
    "NamedUser",
    "ObjectNotFoundError",
    "QlikAuthError",
    "SessionExpiredError",
    "SessionLimitError",
    "TicketError",
    "TlsError",
    "TooManyAttemptsError",
    "TransportError",
    "UsageError",
    "WebSocketRejectedError",
    "XrfkeyRejectedError",
    "engine_error",
    "redact_url",
    "session_count_in",
]


class QlikAuthError(Exception):
    """Root of every qlikauth error.

    ``hint`` says what to change; ``url`` (redacted) and ``status`` say where it happened.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        url: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.url = redact_url(url) if url else None
        self.status = status

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\nhint: {self.hint}"
        return self.message


class ConfigurationError(QlikAuthError, ValueError):
    """A setting, profile or argument is wrong; nothing was sent."""


class InvalidHeaderValueError(ConfigurationError):
    """A value cannot go into an HTTP header (non-ASCII, CR/LF, or a reserved name)."""


class MissingSettingsError(ConfigurationError):
    """Settings the authenticator requires are given nowhere; ``settings`` names them."""

    def __init__(self, message: str, *, settings: Iterable[str], hint: str | None = None):
        super().__init__(message, hint=hint)
        self.settings = tuple(settings)


class UsageError(ConfigurationError):
    """The command line is wrong: an unknown command or option, a bad or missing value."""


class TlsError(QlikAuthError):
    """Certificate material or a TLS handshake is wrong."""


class CertificateFileError(TlsError):
    """A certificate or key file is missing, unreadable, malformed or locked."""


class CertificateMismatchError(TlsError):
    """The private key does not belong to the certificate."""


class CertificateValidityError(TlsError):
    """A certificate is expired or not yet valid."""


class CertificateChainError(TlsError):
    """The trusted root did not sign the certificate."""


class HostnameMismatchError(TlsError):
    """The server certificate does not name the host dialled (``server_names``: those it does)."""

    def __init__(
        self,
        message: str,
        *,
        host: str,
        server_names: tuple[str, ...] = (),
        hint: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, url=url)
        self.host = host
        self.server_names = server_names


class HandshakeError(TlsError):
    """The TLS handshake failed for a reason other than the host name."""


class TransportError(QlikAuthError):
    """The network failed: connection refused or reset, DNS, timeout."""


class EngineTimeoutError(TransportError, TimeoutError):
    """An engine call got no answer in time; it is abandoned (the engine may still do it)."""


class ApiError(QlikAuthError):
    """An HTTP API answered with an error status; ``body`` holds Qlik's text (truncated)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: str = "",
        hint: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, url=url, status=status)
        self.body = body[:2000]


class XrfkeyRejectedError(ApiError):
    """403 "XSRF prevention check failed": the Xrfkey query and header did not match."""


class AuthenticationError(QlikAuthError):
    """The server did not accept the identity qlikauth presented."""


class CredentialsRejectedError(AuthenticationError):
    """The credentials were refused (HTTP 401 or the identity provider said no)."""


class InvalidCredentialsError(CredentialsRejectedError):
    """Wrong user name or password (deliberately vague towards end users)."""


class AccountRestrictedError(CredentialsRejectedError):
    """The account exists and the password may be right, but it may not log on now.

    ``reason`` is one of ``disabled``, ``locked``, ``expired``, ``password_expired``,
    ``must_change_password``, ``logon_hours``, ``workstation``, ``restricted``.
    """

    def __init__(self, message: str, *, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


class JwtError(CredentialsRejectedError):
    """A JWT was refused by the proxy or cannot be minted or verified."""


class LoginRedirectError(AuthenticationError):
    """A request meant for a resource was answered with a login page or redirect.

    ``location`` is where the server sent us (redacted). ``session_valid`` is what the
    personal API said of the session afterwards: ``False`` means it has ended (logging in
    again helps), ``True`` that it lives (the resource is another user's or prefix's),
    ``None`` that it was not checked.
    """

    def __init__(
        self,
        message: str,
        *,
        location: str | None = None,
        hint: str | None = None,
        url: str | None = None,
        status: int | None = None,
        session_valid: bool | None = None,
    ) -> None:
        super().__init__(message, hint=hint, url=url, status=status)
        self.location = redact_url(location) if location else None
        self.session_valid = session_valid


class WebSocketRejectedError(AuthenticationError):
    """The proxy refused the websocket upgrade (Cross-Site WebSocket Hijacking check)."""


class MustAuthenticateError(AuthenticationError):
    """The proxy opened the websocket but reported ``mustAuthenticate: true``.

    ``login_uri`` is the login page the proxy named.
    """

    def __init__(self, message: str, *, login_uri: str | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.login_uri = redact_url(login_uri) if login_uri else None


class NamedUser(Protocol):
    """What an error needs of a user (a :class:`~qlikauth.identity.QlikUser` is one)."""

    @property
    def directory(self) -> str: ...

    @property
    def user_id(self) -> str: ...


class SessionLimitError(AuthenticationError):
    """The user holds too many proxy sessions (``OnMaxParallelSessionsExceeded``).

    ``user`` is the refused user and ``session_count`` how many sessions they hold, when
    known.
    """

    def __init__(
        self,
        message: str,
        *,
        session_count: int | None = None,
        user: NamedUser | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.session_count = session_count
        self.user = user


class SessionExpiredError(AuthenticationError):
    """The proxy session ended: inactivity timeout, logout or deletion."""


class TicketError(AuthenticationError):
    """A ticket was refused: used before, older than a minute, or for another virtual proxy."""


class TooManyAttemptsError(AuthenticationError):
    """qlikauth refused to try again after repeated failures, to protect the account."""

    def __init__(self, message: str, *, retry_after: float, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class EngineError(QlikAuthError):
    """A JSON-RPC error answered by the Qlik engine.

    ``code``, ``parameter`` and ``engine_message`` are Qlik's own fields; ``method`` is the
    call that failed.
    """

    code_name: ClassVar[str] = ""

    def __init__(
        self,
        message: str,
        *,
        code: int,
        parameter: str = "",
        engine_message: str = "",
        method: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.parameter = parameter
        self.engine_message = engine_message
        self.method = method


class MethodNotFoundError(EngineError):
    """The engine does not know the method (-32601)."""


class InvalidParametersError(EngineError):
    """The engine rejected the parameters (-32602 or 8)."""


class ObjectNotFoundError(EngineError):
    """The object or handle does not exist (2), or the engine closed it."""


class AccessDeniedError(EngineError):
    """The engine denied access (5)."""


class AppNotFoundError(EngineError):
    """No app with that id or name (1003)."""


class AppAlreadyOpenError(EngineError):
    """The app is already open in this engine session (1002)."""


class EngineSessionError(EngineError):
    """The engine greeted with an error state such as ``SESSION_ERROR_NO_LICENSE``."""


class EngineClosedError(EngineError):
    """The websocket closed; every call still pending fails with this error."""


class EngineMessageTooLargeError(EngineClosedError):
    """The server sent a message larger than ``max_message_size``: the client closed the
    websocket without reading it, and every call still pending fails with this error."""


class ExpressionError(EngineError):
    """The engine found an expression (or a hypercube's dimension or measure) wrong.

    ``expression`` is what was checked, ``bad_fields`` the field names the engine did not
    know, ``engine_message`` the engine's own text; ``code`` is the hypercube's
    ``qErrorCode`` (-1 when ``CheckExpression`` reported it, which has no code).
    """

    def __init__(
        self,
        message: str,
        *,
        expression: str,
        bad_fields: Iterable[str] = (),
        code: int = -1,
        engine_message: str = "",
        method: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(
            message, code=code, engine_message=engine_message, method=method, hint=hint
        )
        self.expression = expression
        self.bad_fields = tuple(bad_fields)


_ENGINE_ERRORS: Mapping[int, type[EngineError]] = {
    -32601: MethodNotFoundError,
    -32602: InvalidParametersError,
    8: InvalidParametersError,
    2: ObjectNotFoundError,
    5: AccessDeniedError,
    1003: AppNotFoundError,
    1002: AppAlreadyOpenError,
}


def engine_error(error: Mapping[str, Any], *, method: str | None = None) -> EngineError:
    """Build the matching :class:`EngineError` subclass from a JSON-RPC ``error`` object."""
    code = int(error.get("code", -1))
    parameter = str(error.get("parameter", ""))
    engine_message = str(error.get("message", ""))
    cls = _ENGINE_ERRORS.get(code, EngineError)
    where = f" in {method}" if method else ""
    detail = ": ".join(p for p in (engine_message, parameter) if p)
    return cls(
        f"engine error {code}{where}: {detail or 'no message'}",
        code=code,
        parameter=parameter,
        engine_message=engine_message,
        method=method,
    )


class DownloadError(QlikAuthError):
    """A file could not be downloaded whole; nothing is left at the target path."""


class ForeignHostError(DownloadError):
    """The URL points to another host, port or scheme than the site's."""


class IncompleteDownloadError(DownloadError):
    """The connection ended before ``expected`` bytes arrived (``received`` did)."""

    def __init__(
        self, message: str, *, expected: int, received: int, url: str | None = None
    ) -> None:
        super().__init__(
            message,
            url=url,
            hint="Nothing was kept at the target path. Download again; if the export was "
            "served once (qServeOnce) or has expired, the retry gets a 404: export again.",
        )
        self.expected = expected
        self.received = received


_SESSION_COUNT_RE = re.compile(r"SessionCount\W{0,4}(\d+)", re.IGNORECASE)


def session_count_in(text: str) -> int | None:
    """The session count Qlik names in a refusal (``... SessionCount: '5'``), if any."""
    match = _SESSION_COUNT_RE.search(text)
    return int(match.group(1)) if match else None


if TYPE_CHECKING:
    TLSError = TlsError  # deprecated spelling, served with a warning below
else:
    __getattr__ = deprecated_names(__name__, {"TLSError": ("qlikauth.errors.TlsError", TlsError)})
