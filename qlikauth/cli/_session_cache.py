"""The proxy session a profile's commands share, cached between runs.

``qlikauth login`` (and the first command that needs a session) stores the session cookie,
CSRF token and user in the OS keyring (:mod:`qlikauth.keystore`, entry
``<profile>:session``), or - when no keyring backend is available - in a 0600 JSON file in
a 0700 ``sessions`` folder beside the configuration file. The next command checks the
cached session with the proxy (``GET /{prefix}/qps/csrftoken`` and the personal API) and
reuses it; only when the proxy no longer knows it does the profile's authenticator log in
again. So consecutive commands, and the tools run by ``qlikauth exec``, share one Qlik
session instead of opening one per run.

``QLIKAUTH_SESSION_STORE=file`` (or ``keyring``) forces the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from qlikauth._files import atomic_write
from qlikauth.auth.base import Authenticator
from qlikauth.auth.existing import ExistingSessionAuth
from qlikauth.config import is_secret_key
from qlikauth.credentials import Credentials, QlikUser, Route
from qlikauth.errors import AuthenticationError, ConfigurationError
from qlikauth.http import Flow
from qlikauth.site import Site

__all__ = ["STORE_ENV", "CachedSessionAuth", "SessionCache", "cache_key", "fingerprint"]

#: Environment variable that forces the session store: ``keyring`` or ``file``.
STORE_ENV = "QLIKAUTH_SESSION_STORE"
_SAFE_RE = re.compile(r"[^A-Za-z0-9_.-]")


def fingerprint(site: Site, authenticator: str | None, settings: Mapping[str, Any]) -> str:
    """What a cached session is valid for: host, port, prefix, cookie and the identity.

    The identity is the authenticator's name and its settings that are not secrets (as
    written), so a profile edited to another user does not reuse the old user's session,
    and no secret is needed to find the cached session.
    """
    identity = {k: v for k, v in settings.items() if not is_secret_key(k)}
    parts = [site.host.lower(), str(site.proxy_port), site.prefix, site.cookie_name or ""]
    parts.append(json.dumps([authenticator, identity], sort_keys=True, default=str))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def cache_key(profile: str, site: Site) -> str:
    """The cache entry's name: the profile's, or one made from the site without a profile."""
    if profile:
        return profile
    raw = f"site-{site.host}-{site.proxy_port}-{site.prefix or 'default'}"
    return _SAFE_RE.sub("_", raw)


def _keyring_usable() -> bool:
    import keyring
    from keyring.backends import fail

    return not isinstance(keyring.get_keyring(), fail.Keyring)


@dataclass(frozen=True)
class SessionCache:
    """One cached session entry (keyring or 0600 file)."""

    key: str
    folder: Path
    store: Literal["keyring", "file"]

    @classmethod
    def for_profile(
        cls, key: str, config_path: Path, env: Mapping[str, str] | None = None
    ) -> SessionCache:
        """The cache for ``key``, in the keyring when one is available, else in a file."""
        environ = os.environ if env is None else env
        forced = environ.get(STORE_ENV, "").strip().lower()
        if forced not in ("", "keyring", "file"):
            raise ConfigurationError(
                f"{STORE_ENV} must be 'keyring' or 'file', not {forced!r}",
                hint=f"unset {STORE_ENV} to choose automatically",
            )
        store: Literal["keyring", "file"]
        if forced:
            store = "keyring" if forced == "keyring" else "file"
        else:
            store = "keyring" if _keyring_usable() else "file"
        return cls(_SAFE_RE.sub("_", key), config_path.parent / "sessions", store)

    @property
    def path(self) -> Path:
        """The file the session is kept in when the store is ``file``."""
        return self.folder / f"{self.key}.json"

    @property
    def where(self) -> str:
        """Where the session is kept, for messages."""
        if self.store == "keyring":
            return f"the OS keyring (qlikauth / {self.key}:session)"
        return str(self.path)

    def _read(self) -> str | None:
        if self.store == "keyring":
            from qlikauth import keystore

            return keystore.get_secret(keystore.secret_name(self.key, "session"))
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the cached session {self.path}: {exc.strerror or exc}",
                hint="check its owner and permissions, or delete it (qlikauth logout)",
            ) from None

    def load(self, identity: str) -> Credentials | None:
        """The cached credentials, if there are some for this :func:`fingerprint`."""
        raw = self._read()
        if not raw:
            return None
        try:
            data = json.loads(raw)
            if data.get("fingerprint") != identity:
                return None
            user = data.get("user")
            return Credentials(
                route=Route.PROXY,
                user=QlikUser.parse(user) if user else None,
                cookies={data["cookie_name"]: data["session_id"]},
                csrf_token=data.get("csrf_token"),
                cookie_name=data["cookie_name"],
                expires_at=data.get("expires_at"),
            )
        except (ValueError, KeyError, TypeError, AttributeError, ConfigurationError):
            return None  # a damaged entry is as good as none; the next login replaces it

    def save(self, site: Site, identity: str, credentials: Credentials) -> bool:
        """Keep ``credentials`` for the next run; ``False`` when they cannot be cached."""
        if credentials.route is not Route.PROXY or credentials.session_id is None:
            return False
        data: dict[str, Any] = {
            "fingerprint": identity,
            "host": site.host,
            "prefix": site.prefix,
            "cookie_name": credentials.cookie_name,
            "session_id": credentials.session_id,
            "csrf_token": credentials.csrf_token,
            "user": str(credentials.user) if credentials.user is not None else None,
            "expires_at": credentials.expires_at,
            "saved_at": time.time(),
        }
        text = json.dumps(data, sort_keys=True)
        if self.store == "keyring":
            from qlikauth import keystore

            keystore.set_secret(keystore.secret_name(self.key, "session"), text)
        else:
            if not self.folder.exists():
                self.folder.mkdir(mode=0o700, parents=True)
            atomic_write(self.path, text.encode("utf-8"), mode=0o600)
        return True

    def clear(self) -> bool:
        """Forget the cached session; ``False`` when there was none."""
        if self.store == "keyring":
            from qlikauth import keystore

            return keystore.delete_secret(keystore.secret_name(self.key, "session"))
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True


Fallback = Authenticator | Callable[[], "Authenticator | None"] | None


class CachedSessionAuth(Authenticator):
    """Reuse a cached session while the proxy still knows it, else log in with ``fallback``.

    The cached session is checked the way :class:`ExistingSessionAuth` checks any session
    (CSRF token endpoint and personal API). ``fallback`` may be a function that builds the
    authenticator, so a password is asked for only when the cached session is gone; the
    fallback's :meth:`~qlikauth.auth.base.Authenticator.prepare` runs inside the login
    flow, so drive it synchronously (as :class:`~qlikauth.client.QlikClient` does).
    """

    name: ClassVar[str] = "cached"

    def __init__(
        self, cached: Credentials | None, fallback: Fallback, *, creates_session: bool = True
    ) -> None:
        self.cached = cached
        self._fallback = fallback
        self._creates_session = creates_session
        #: Whether the last login reused the cached session (rather than logging in).
        self.reused = False

    @property
    def creates_session(self) -> bool:  # type: ignore[override]
        return self._creates_session

    def fallback(self) -> Authenticator | None:
        """The authenticator to log in with (built on first use)."""
        if self._fallback is not None and not isinstance(self._fallback, Authenticator):
            self._fallback = self._fallback()
        return self._fallback

    def login(self, site: Site) -> Flow[Credentials]:
        """Check the cached session; when it is gone, log in with the fallback."""
        cached = self.cached
        self.reused = False
        if cached is not None and cached.session_id is not None:
            existing = ExistingSessionAuth(
                cached.session_id, csrf_token=cached.csrf_token, cookie_name=cached.cookie_name
            )
            with contextlib.suppress(AuthenticationError):
                fresh = yield from existing.login(site)
                self.reused = True
                return fresh
        fallback = self.fallback()
        if fallback is None:
            raise ConfigurationError(
                "no cached session, and the profile names no authenticator to log in with",
                hint="set authenticator = NAME (and its settings) in the profile, or "
                "QLIKAUTH_AUTHENTICATOR",
            )
        # prepare() may block (a directory check, a prompt): the command line drives this
        # flow synchronously, and only when the cached session is gone.
        return (yield from fallback.prepare(site).login(site))

    def login_description(self) -> str:
        """``reused cached session on`` when the cached session served, else the fallback's."""
        if self.reused:
            return "reused cached session on"
        fallback = self._fallback if isinstance(self._fallback, Authenticator) else None
        return fallback.login_description() if fallback is not None else "logged in to"

    def logout(self, site: Site, credentials: Credentials) -> Flow[None]:
        """End the session as the fallback would, or through the personal API."""
        fallback = self._fallback if isinstance(self._fallback, Authenticator) else None
        if fallback is not None:
            return (yield from fallback.logout(site, credentials))
        return (yield from super().logout(site, credentials))

    def __repr__(self) -> str:
        return f"CachedSessionAuth(cached={self.cached is not None}, fallback={self._fallback!r})"
