"""qlikauth: authenticate to Qlik Sense once, and use that one session for everything.

The public API is exactly ``__all__``; everything else is private or lives in a submodule
(``qlikauth.testing`` for test fixtures and contract suites).
"""

from __future__ import annotations

import typing

from qlikauth import _deprecation
from qlikauth._compat import issue_ticket
from qlikauth._version import __version__
from qlikauth.auth.anonymous import AnonymousAuth
from qlikauth.auth.base import Authenticator, create_authenticator, get_authenticator
from qlikauth.auth.certificate import CertificateAuth
from qlikauth.auth.existing import ExistingSessionAuth
from qlikauth.auth.header import HeaderAuth
from qlikauth.auth.jwt import JwtAuth
from qlikauth.auth.ntlm import NtlmAuth
from qlikauth.auth.session import SessionAuth
from qlikauth.auth.ticket import TicketAuth
from qlikauth.auth.windows import WindowsAuth
from qlikauth.client import AsyncQlikClient, QlikClient, RequestsAuth
from qlikauth.credentials import Credentials, Route, WebSocketOptions
from qlikauth.download import DownloadResult
from qlikauth.engine import (
    AsyncDoc,
    AsyncEngineConnection,
    AsyncGenericObject,
    AsyncGlobal,
    Doc,
    EngineConnection,
    GenericObject,
    Global,
)
from qlikauth.errors import (
    AccessDeniedError,
    AccountRestrictedError,
    ApiError,
    AppAlreadyOpenError,
    AppNotFoundError,
    AuthenticationError,
    CertificateChainError,
    CertificateFileError,
    CertificateMismatchError,
    CertificateValidityError,
    ConfigurationError,
    CredentialsRejectedError,
    DownloadError,
    EngineClosedError,
    EngineError,
    EngineMessageTooLargeError,
    EngineSessionError,
    EngineTimeoutError,
    ExpressionError,
    ForeignHostError,
    HandshakeError,
    HostnameMismatchError,
    IncompleteDownloadError,
    InvalidCredentialsError,
    InvalidHeaderValueError,
    InvalidParametersError,
    JwtError,
    LoginRedirectError,
    MethodNotFoundError,
    MissingSettingsError,
    MustAuthenticateError,
    ObjectNotFoundError,
    QlikAuthError,
    SessionExpiredError,
    SessionLimitError,
    TicketError,
    TlsError,
    TooManyAttemptsError,
    TransportError,
    WebSocketRejectedError,
    XrfkeyRejectedError,
)
from qlikauth.identity import QlikUser
from qlikauth.jwt import JwtSigner, inspect_jwt, make_jwt_keypair, verify_jwt
from qlikauth.qps import AsyncQpsClient, ProxySession, QpsClient, Ticket
from qlikauth.site import Site, VirtualProxy
from qlikauth.tls import CertificateBundle, InsecureTlsWarning, TlsConfig

__all__ = [
    "AccessDeniedError",
    "AccountRestrictedError",
    "AnonymousAuth",
    "ApiError",
    "AppAlreadyOpenError",
    "AppNotFoundError",
    "AsyncDoc",
    "AsyncEngineConnection",
    "AsyncGenericObject",
    "AsyncGlobal",
    "AsyncQlikClient",
    "AsyncQpsClient",
    "AuthenticationError",
    "Authenticator",
    "CertificateAuth",
    "CertificateBundle",
    "CertificateChainError",
    "CertificateFileError",
    "CertificateMismatchError",
    "CertificateValidityError",
    "ConfigurationError",
    "Credentials",
    "CredentialsRejectedError",
    "Doc",
    "DownloadError",
    "DownloadResult",
    "EngineClosedError",
    "EngineConnection",
    "EngineError",
    "EngineMessageTooLargeError",
    "EngineSessionError",
    "EngineTimeoutError",
    "ExistingSessionAuth",
    "ExpressionError",
    "ForeignHostError",
    "GenericObject",
    "Global",
    "HandshakeError",
    "HeaderAuth",
    "HostnameMismatchError",
    "IncompleteDownloadError",
    "InsecureTlsWarning",
    "InvalidCredentialsError",
    "InvalidHeaderValueError",
    "InvalidParametersError",
    "JwtAuth",
    "JwtError",
    "JwtSigner",
    "LoginRedirectError",
    "MethodNotFoundError",
    "MissingSettingsError",
    "MustAuthenticateError",
    "NtlmAuth",
    "ObjectNotFoundError",
    "ProxySession",
    "QlikAuthError",
    "QlikClient",
    "QlikUser",
    "QpsClient",
    "RequestsAuth",
    "Route",
    "SessionAuth",
    "SessionExpiredError",
    "SessionLimitError",
    "Site",
    "Ticket",
    "TicketAuth",
    "TicketError",
    "TlsConfig",
    "TlsError",
    "TooManyAttemptsError",
    "TransportError",
    "VirtualProxy",
    "WebSocketOptions",
    "WebSocketRejectedError",
    "WindowsAuth",
    "XrfkeyRejectedError",
    "__version__",
    "create_authenticator",
    "get_authenticator",
    "inspect_jwt",
    "issue_ticket",
    "make_jwt_keypair",
    "verify_jwt",
]

# Names imported here are the public API, hence the qualified names below.
if typing.TYPE_CHECKING:
    # Deprecated spellings, served with a warning below.
    InsecureTLSWarning = InsecureTlsWarning
    TLSError = TlsError
else:
    __getattr__ = _deprecation.deprecated_names(
        __name__,
        {
            "InsecureTLSWarning": ("qlikauth.InsecureTlsWarning", InsecureTlsWarning),
            "TLSError": ("qlikauth.TlsError", TlsError),
        },
    )
