"""The authenticator interface and the registry.

An authenticator is a small immutable object whose :meth:`Authenticator.login` is a
generator: it yields :class:`~qlikauth.http.HttpRequest` values, receives each
:class:`~qlikauth.http.HttpResponse`, and returns :class:`~qlikauth.credentials.Credentials`.
It does no I/O, so the sync and asyncio drivers run the same code and tests drive it by
hand. Proxy logins start and complete their sessions with :mod:`qlikauth.sessions`.
Authenticators are found by name through the entry-point group
``qlikauth.authenticators``; the built-ins register there too.
"""

from __future__ import annotations

import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from importlib import metadata
from typing import Any, ClassVar

from qlikauth.credentials import Credentials
from qlikauth.errors import ConfigurationError
from qlikauth.http.values import Flow
from qlikauth.sessions import end_session
from qlikauth.site import Site

__all__ = [
    "ENTRY_POINT_GROUP",
    "Authenticator",
    "available_authenticators",
    "create_authenticator",
    "get_authenticator",
]

log = logging.getLogger("qlikauth.auth")

ENTRY_POINT_GROUP = "qlikauth.authenticators"


class Authenticator(ABC):
    """Turns configuration into :class:`Credentials` through a login flow without I/O.

    Subclasses set ``name`` (the registry name) and implement :meth:`login`. ``creates_session``
    says whether the login makes a new proxy session that qlikauth owns and should end on
    close (the default); it is ``False`` for sessions brought from elsewhere.
    """

    name: ClassVar[str] = ""
    creates_session: ClassVar[bool] = True

    @abstractmethod
    def login(self, site: Site) -> Flow[Credentials]:
        """Yield the requests the login needs and return the credentials."""

    def prepare(self, site: Site) -> Authenticator:
        """Do the blocking work a login needs besides HTTP; return the authenticator to run.

        The default has none and returns ``self``. An authenticator that must talk to
        something else first (``windows`` checks a password with a directory) does it here
        and returns an authenticator whose :meth:`login` flow needs nothing more. Drivers
        call it before each login: ``run_flow(auth.prepare(site).login(site), ...)``;
        :class:`~qlikauth.client.QlikClient` does, in a worker thread on asyncio.
        """
        return self

    def login_description(self) -> str:
        """How the log says what the last login did: ``logged in to`` (a new session) or
        ``using a session on`` (one brought from elsewhere)."""
        return "logged in to" if self.creates_session else "using a session on"

    def logout(self, site: Site, credentials: Credentials) -> Flow[None]:
        """End the proxy session (:func:`qlikauth.sessions.end_session`).

        A session that is already gone is not an error.
        """
        return (yield from end_session(site, credentials))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@functools.cache
def available_authenticators() -> Mapping[str, type[Authenticator]]:
    """Every authenticator registered under ``qlikauth.authenticators``, by name.

    A plug-in that fails to load is logged and skipped, so one broken plug-in does not
    break the others.
    """
    found: dict[str, type[Authenticator]] = {}
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = entry_point.load()
        except Exception as exc:  # third-party code may fail in any way
            # One line for users; the traceback only for whoever debugs the plug-in.
            log.warning(
                "could not load authenticator plug-in %r: %s: %s",
                entry_point.value,
                type(exc).__name__,
                exc,
            )
            log.debug("plug-in %r traceback", entry_point.value, exc_info=True)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Authenticator)):
            log.warning("plug-in %r is not an Authenticator subclass; skipped", entry_point.value)
            continue
        found[entry_point.name] = cls
    return found


def get_authenticator(name: str) -> type[Authenticator]:
    """The authenticator class registered as ``name``."""
    registry = available_authenticators()
    try:
        return registry[name]
    except KeyError:
        raise ConfigurationError(
            f"no authenticator named {name!r}",
            hint=f"Known: {', '.join(sorted(registry)) or 'none'}. Plug-ins register under "
            f"the entry-point group {ENTRY_POINT_GROUP!r}.",
        ) from None


def create_authenticator(name: str, **settings: Any) -> Authenticator:
    """Create the authenticator ``name`` from keyword settings."""
    cls = get_authenticator(name)
    try:
        return cls(**settings)
    except TypeError as exc:
        raise ConfigurationError(
            f"bad settings for the {name!r} authenticator: {exc}",
            hint=f"See help(qlikauth.{cls.__name__}) for its settings.",
        ) from exc
