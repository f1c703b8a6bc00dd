"""JWT authentication for a QSEoW JWT virtual proxy (qlik-protocol.md §2.7).

:class:`JwtAuth` mints a short-lived token with a :class:`~qlikauth.jwt.JwtSigner` and
exchanges it for a proxy session (``GET /{prefix}/qrs/about`` with
``Authorization: Bearer``); afterwards only the session cookie and CSRF token travel. A
refusal explains itself with what the token shows (:func:`~qlikauth.jwt.inspect_jwt`).
"""

from __future__ import annotations

import email.utils
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from qlikauth.auth.base import Authenticator
from qlikauth.credentials import Credentials
from qlikauth.errors import ConfigurationError, CredentialsRejectedError, JwtError, QlikAuthError
from qlikauth.http.values import Flow, HttpRequest
from qlikauth.identity import QlikUser, check_identity_text
from qlikauth.jwt.signing import (
    ALGORITHMS,
    DEFAULT_LIFETIME,
    RESERVED_CLAIMS,
    JwtSigner,
    KeyringKey,
    KeySource,
    check_algorithm,
    make_jwt_keypair,
)
from qlikauth.jwt.verification import JwtInspection, inspect_jwt, verify_jwt
from qlikauth.sessions import credential_request, start_session
from qlikauth.site import Site

# The signer, checks and key pairs moved to qlikauth.jwt; they stay importable from here.
__all__ = [
    "ALGORITHMS",
    "DEFAULT_LIFETIME",
    "JwtAuth",
    "JwtInspection",
    "JwtSigner",
    "KeyringKey",
    "exchange_jwt_flow",
    "inspect_jwt",
    "make_jwt_keypair",
    "verify_jwt",
]


@dataclass(frozen=True)
class JwtAuth(Authenticator):
    """Log in to a JWT virtual proxy with a freshly minted token.

    ``key`` (or a ready ``signer``) signs; ``user``/``directory`` go into the claims the
    virtual proxy is configured to read (``user_claim``, ``directory_claim``, default
    ``userId``/``userDirectory``), ``groups`` into ``groups_claim`` and ``attributes`` as
    further claims. Each token lives ``lifetime`` seconds and has a unique ``jti``.
    ``clock`` gives the time its ``iat``/``nbf``/``exp`` count from (default
    :func:`time.time`).
    """

    name: ClassVar[str] = "jwt"

    user: str
    directory: str
    key: KeySource | None = field(default=None, repr=False)
    passphrase: str | bytes | None = field(default=None, repr=False)
    algorithm: str = "RS256"
    signer: JwtSigner | None = field(default=None, compare=False)
    groups: Sequence[str] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    lifetime: float = DEFAULT_LIFETIME
    user_claim: str = "userId"
    directory_claim: str = "userDirectory"
    groups_claim: str = "groups"
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    def __post_init__(self) -> None:
        for label, value in (("user", self.user), ("directory", self.directory)):
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(
                    f"the JWT {label} is empty", hint="Pass user='alice', directory='CORP'."
                )
            check_identity_text(f"JWT {label}", value)
        for group in self.groups:
            check_identity_text("JWT group", group)
        for claim, value in self.attributes.items():
            if isinstance(value, str):
                check_identity_text(f"JWT claim {claim!r}", value)
        names = [self.user_claim, self.directory_claim, self.groups_claim, *self.attributes]
        reserved = sorted(n for n in names if n in RESERVED_CLAIMS)
        if reserved:
            raise ConfigurationError(
                f"claim name(s) {', '.join(reserved)} are reserved JWT claims",
                hint="Qlik's 'JWT attribute for user ID/user directory' may be anything "
                "except the registered claims (exp, iat, nbf, ...).",
            )
        if self.lifetime <= 0:
            raise ConfigurationError("the JWT lifetime must be positive", hint="e.g. 300")
        object.__setattr__(self, "groups", tuple(self.groups))
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))
        if self.signer is None:
            if self.key is None:
                raise ConfigurationError(
                    "JwtAuth needs a signing key",
                    hint="Pass key=<PEM file, PEM bytes or 'keyring:NAME'>, "
                    "or signer=JwtSigner(...).",
                )
            signer = JwtSigner(self.key, passphrase=self.passphrase, algorithm=self.algorithm)
            object.__setattr__(self, "signer", signer)
        else:
            check_algorithm(self.signer.algorithm)

    def claims(self, *, now: float | None = None) -> dict[str, Any]:
        """The claims of the next token: identity, groups, attributes and time claims."""
        issued = int(self.clock() if now is None else now)
        claims: dict[str, Any] = dict(self.attributes)
        claims[self.user_claim] = self.user
        claims[self.directory_claim] = self.directory
        if self.groups:
            claims[self.groups_claim] = list(self.groups)
        claims.update(
            iat=issued, nbf=issued, exp=issued + int(self.lifetime), jti=secrets.token_hex(16)
        )
        return claims

    def token(self, *, now: float | None = None) -> str:
        """A fresh signed token."""
        assert self.signer is not None
        return self.signer.sign(self.claims(now=now))

    def login(self, site: Site) -> Flow[Credentials]:
        """Exchange a fresh token for a proxy session (cookie + CSRF token)."""
        now = self.clock()
        return (
            yield from exchange_jwt_flow(
                site,
                self.token(now=now),
                user_claim=self.user_claim,
                directory_claim=self.directory_claim,
                now=now,
            )
        )


def exchange_jwt_flow(
    site: Site,
    token: str,
    *,
    user_claim: str = "userId",
    directory_claim: str = "userDirectory",
    now: float | None = None,
) -> Flow[Credentials]:
    """Exchange a JWT minted elsewhere for a proxy session on ``site``'s JWT virtual proxy.

    The token travels once (``Authorization: Bearer`` on ``/qrs/about``); a refusal
    raises :class:`JwtError` with the proxy's reason and what the token itself shows
    (:func:`inspect_jwt`), never the token. When the token is valid by this machine's
    clock (``now``, default :func:`time.time`) but not by the server's, the error says
    "clock skew".
    """
    request = credential_request(site, {"Authorization": f"Bearer {token}"})
    user = _token_user(token, user_claim, directory_claim)
    try:
        return (yield from start_session(site, request, what="JWT login", user=user))
    except CredentialsRejectedError as exc:
        if isinstance(exc, JwtError):
            raise
        refusal = exc
    seen = inspect_jwt(token, user_claim=user_claim, directory_claim=directory_claim, now=now)
    skew = yield from _clock_skew(site, seen, time.time() if now is None else now)
    if skew is not None:
        raise JwtError(
            f"the JWT virtual proxy refused the token: {refusal.message}; {skew}",
            url=refusal.url,
            status=refusal.status,
            hint="Set the clocks of this machine (or of the token's issuer) and of the Qlik "
            "server right (NTP); the proxy tolerates only a small clock skew.",
        ) from refusal
    found = f" The token itself shows: {'; '.join(seen.problems)}." if seen.problems else ""
    raise JwtError(
        f"the JWT virtual proxy refused the token: {refusal.message}",
        url=refusal.url,
        status=refusal.status,
        hint="Check that the virtual proxy holds the certificate of this signing key, "
        f"that its JWT attributes are '{user_claim}' and '{directory_claim}' "
        "(case-sensitive), that the user exists and is enabled, and that this machine's "
        f"clock is right.{found}",
    ) from refusal


def _token_user(token: str, user_claim: str, directory_claim: str) -> QlikUser | None:
    """The user a token names (not verified: only to find a lost login's session)."""
    claims = inspect_jwt(token, user_claim=user_claim, directory_claim=directory_claim).claims
    user, directory = (claims or {}).get(user_claim), (claims or {}).get(directory_claim)
    if not isinstance(user, str) or not isinstance(directory, str):
        return None
    try:
        return QlikUser(directory, user)
    except ConfigurationError:
        return None


def _clock_skew(site: Site, seen: JwtInspection, now: float) -> Flow[str | None]:
    """Why a refused token is not valid at the server's time, when clock skew is the cause.

    ``now`` is this machine's time. A token valid by it but not by the server's clock (the
    ``Date`` header of an anonymous personal API call) was refused for clock skew; a token
    invalid by both clocks is simply expired or early, which :func:`inspect_jwt` says.
    """
    claims = seen.claims or {}
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if (isinstance(nbf, int | float) and nbf > now) or (
        isinstance(exp, int | float) and exp <= now
    ):
        return None
    try:
        answer = yield HttpRequest("GET", site.personal_url("user"))
    except QlikAuthError:
        return None
    stamp = answer.header("Date")
    try:
        server_now = email.utils.parsedate_to_datetime(stamp).timestamp() if stamp else None
    except (TypeError, ValueError):
        server_now = None
    if server_now is None:
        return None
    early = isinstance(nbf, int | float) and nbf > server_now
    late = isinstance(exp, int | float) and exp <= server_now
    if not (early or late):
        return None
    offset = now - server_now
    direction = "ahead of" if offset > 0 else "behind"
    return (
        f"clock skew: this machine's clock is {abs(offset):.0f} s {direction} the server's "
        f"(its Date header), and at the server's time the token is "
        f"{'not valid yet (nbf)' if early else 'expired (exp)'}"
    )
