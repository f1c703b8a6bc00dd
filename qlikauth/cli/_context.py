"""What every command that talks to Qlik shares: profile + environment + options -> site.

Commands call :func:`resolve_args` (or :func:`qps_client`) and never build a
:class:`~qlikauth.site.Site` themselves, so ``--profile``, ``--server``, ``--prefix``,
``--certs``, ``--insecure`` and ``--timeout`` mean the same everywhere. Handlers are
wrapped with :func:`command`, which prints the ``--insecure`` warning on stderr every time
and keeps Python's own warning about it from repeating.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import shlex
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from urllib3.exceptions import InsecureRequestWarning

from qlikauth.auth.base import Authenticator
from qlikauth.cli._session_cache import CachedSessionAuth, SessionCache, cache_key, fingerprint
from qlikauth.client import QlikClient
from qlikauth.config import (
    ConfigFile,
    Options,
    Resolved,
    authenticator_settings,
    is_secret_key,
    missing_settings,
    resolve,
)
from qlikauth.credentials import Credentials
from qlikauth.engine import DocInfo
from qlikauth.errors import (
    AppNotFoundError,
    ConfigurationError,
    EngineTimeoutError,
    MissingSettingsError,
    SessionLimitError,
)
from qlikauth.qps import QpsClient
from qlikauth.site import Site
from qlikauth.tls.contexts import InsecureTlsWarning

__all__ = [
    "INSECURE_WARNING",
    "Connected",
    "ProfileSession",
    "app_id_of",
    "command",
    "connected",
    "doc_list",
    "insecure_warning",
    "load_config",
    "missing_secrets",
    "options_from",
    "profile_session",
    "qps_client",
    "resolve_args",
    "say_insecure",
    "session_limit_hint",
    "warn_if_insecure",
]


def insecure_warning(source: str) -> str:
    """The loud line printed on stderr when TLS verification is off; ``source`` says which
    setting turned it off (``option --insecure``, a profile's key, ...)."""
    return (
        f"WARNING: TLS verification is off ({source}): the server's TLS certificate is NOT "
        "verified; anyone on the network path can read and change this traffic, credentials "
        "included."
    )


#: Printed on stderr by every command run with ``--insecure``.
INSECURE_WARNING = insecure_warning("option --insecure")

Handler = Callable[[argparse.Namespace], int]

#: Whether the running command said that TLS verification is off (``None``: no command runs).
_insecure_said: ContextVar[bool | None] = ContextVar("qlikauth_insecure_said", default=None)


def warn_if_insecure(resolved: Resolved) -> None:
    """Print the loud line when ``resolved`` turns TLS verification off, once per command.

    The one path for every source of ``verify = false`` (``--insecure``, a profile, ...);
    printed, not a Python warning, so no warnings filter silences it. Python's own
    per-connection warning would only repeat it, so the command silences that one.
    """
    if not resolved.site.tls.verify:
        say_insecure(resolved.sources.get("verify", "verify = false"))


def say_insecure(source: str) -> None:
    """Print the loud line for ``source`` unless the running command already did."""
    if _insecure_said.get():
        return
    print(insecure_warning(source), file=sys.stderr)
    if _insecure_said.get() is not None:
        _insecure_said.set(True)
        warnings.simplefilter("ignore", InsecureTlsWarning)
        warnings.simplefilter("ignore", InsecureRequestWarning)


def command(handler: Handler) -> Handler:
    """Wrap a handler: the loud line when TLS verification is off (see
    :func:`warn_if_insecure`), then the handler.

    An error's Python advice becomes the command to run where the CLI has one (see
    :func:`session_limit_hint`).
    """

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        said = _insecure_said.set(False)
        try:
            # The warnings filters the command changes are undone when it ends.
            with warnings.catch_warnings():
                if getattr(args, "insecure", False):
                    say_insecure("option --insecure")
                return handler(args)
        except SessionLimitError as exc:
            exc.hint = session_limit_hint(args, exc)
            raise
        except EngineTimeoutError as exc:
            exc.hint = (
                "The engine did not answer in time: it is busy, or it stopped answering. "
                "For a long call (a big app opening) raise --timeout SECONDS or the "
                "profile's timeout."
            )
            raise
        finally:
            _insecure_said.reset(said)

    return run


#: ``user 'DIR\id'`` (the proxy's and QPS's refusal text), or ``DIR\id holds`` (the client's).
_LIMIT_USER_RES = (
    re.compile(r"user '([^'\\\s]+\\[^'\s]+)'"),
    re.compile(r"([^\s'\\]+\\[^\s'\\]+) holds"),
)


def _refused_user(args: argparse.Namespace, exc: SessionLimitError) -> str | None:
    """The user whose session was refused: the error's, ``--user`` (with ``--directory``),
    else the one its text names."""
    if exc.user is not None:
        return str(exc.user)
    user = getattr(args, "user", None)
    if isinstance(user, str) and user:
        directory = getattr(args, "directory", None)
        return user if "\\" in user or not directory else f"{directory}\\{user}"
    for pattern in _LIMIT_USER_RES:
        found = pattern.search(exc.message)
        if found:
            return found.group(1)
    return None


def session_limit_hint(args: argparse.Namespace, exc: SessionLimitError) -> str:
    """What to run to free a session slot, with this command line's site options."""
    options = [
        f"--{name} {shlex.quote(str(value))}"
        for name in ("config", "profile", "server", "prefix", "certs")
        if (value := getattr(args, name, None)) is not None
    ]
    user = _refused_user(args, exc)
    who = ["--user", shlex.quote(user) if user else "'DIRECTORY\\user'"]
    if not _has_client_certificate(args):
        options.append("--certs FOLDER")
    listing = " ".join(["qlikauth session list", *options, *who])
    deleting = " ".join(["qlikauth session delete", *options, *who])
    needs = (
        ""
        if "--certs FOLDER" not in options
        else "The session commands talk to QPS, which needs the client certificate (a QMC "
        "export folder, given as --certs or as the profile's certs). "
    )
    return (
        f"{needs}Free a slot: `{listing}` shows the user's sessions on this virtual proxy and "
        f"`{deleting}` ends them all (or pipe chosen ids from `session list --show-ids` to "
        "`qlikauth session delete --stdin`); sessions on every virtual proxy count toward "
        "the limit (--prefix for another one). Commands of one profile share one cached "
        "session (qlikauth login); other sessions end at the inactivity timeout."
    )


def _has_client_certificate(args: argparse.Namespace) -> bool:
    """Whether this command line's site has a client certificate (QPS calls need one)."""
    try:
        return resolve_args(args, with_authenticator=False).site.tls.bundle is not None
    except ConfigurationError:
        return False


def load_config(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> ConfigFile:
    """The configuration file named by ``--config`` (or ``QLIKAUTH_CONFIG``, or the default)."""
    return ConfigFile.load(getattr(args, "config", None), env=os.environ if env is None else env)


def options_from(args: argparse.Namespace, **auth: Any) -> Options:
    """The common options as :class:`~qlikauth.config.Options`; ``auth`` adds settings."""
    timeout = getattr(args, "timeout", None)
    return Options(
        server=getattr(args, "server", None),
        prefix=getattr(args, "prefix", None),
        certs=getattr(args, "certs", None),
        insecure=bool(getattr(args, "insecure", False)),
        timeout=timeout,
        auth={k: v for k, v in auth.items() if v is not None},
    )


def missing_secrets(name: str | None, settings: Mapping[str, Any]) -> list[str]:
    """Required secret settings (``password``, ...) of authenticator ``name`` not given.

    None while another required setting is missing too: asking for a password that cannot
    be used yet would only be typing for nothing (resolve() then names what is missing).
    """
    if not name:
        return []
    try:
        missing = missing_settings(name, settings)
    except ConfigurationError:
        return []  # resolve() reports the unknown name with its hint
    secrets = [key for key in missing if is_secret_key(key)]
    return secrets if len(secrets) == len(missing) else []


def _prompted(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, str]:
    """Ask on the terminal (no echo) for required secrets the profile does not give."""
    if not sys.stdin.isatty():
        return {}
    name, settings = authenticator_settings(
        getattr(args, "profile", None),
        config=load_config(args, environ),
        env=environ,
        options=options_from(args),
    )
    from qlikauth.keystore import prompt_secret

    return {key: prompt_secret(f"{name} {key}: ") for key in missing_secrets(name, settings)}


def resolve_args(
    args: argparse.Namespace,
    *,
    with_authenticator: bool = True,
    env: Mapping[str, str] | None = None,
    **auth: Any,
) -> Resolved:
    """The site (and authenticator) for this command line.

    A required secret of the authenticator (an NTLM password, say) that neither the profile
    nor the environment gives is asked for on the terminal, without echo.
    """
    environ = os.environ if env is None else env
    if with_authenticator:
        auth = {**_prompted(args, environ), **auth}
    try:
        resolved = resolve(
            getattr(args, "profile", None),
            config=load_config(args, environ),
            env=environ,
            options=options_from(args, **auth),
            with_authenticator=with_authenticator,
        )
    except MissingSettingsError as exc:
        secrets = [key for key in exc.settings if is_secret_key(key)]
        advice = [exc.hint or ""]
        if secrets:
            advice.append(
                "qlikauth profile add NAME --force ... --prompt-secret "
                + " ".join(f"auth.{key}" for key in secrets)
                + " stores a secret in the keyring (--force rewrites the whole profile)."
            )
        if secrets and not sys.stdin.isatty():
            advice.append(
                f"Or run the command on a terminal: it asks for {' and '.join(secrets)} "
                "without echo."
            )
        exc.hint = " ".join(part for part in advice if part)
        raise
    warn_if_insecure(resolved)
    return resolved


def qps_client(args: argparse.Namespace, *, prefix: str | None = None) -> QpsClient:
    """A QPS client for the resolved site (or another virtual proxy of it)."""
    resolved = resolve_args(args, with_authenticator=False)
    site = resolved.site if prefix is None else resolved.site.with_prefix(prefix)
    client = QpsClient(site)
    client.transport.timeout = resolved.timeout
    return client


@dataclass(frozen=True)
class ProfileSession:
    """Where a profile's cached session lives, and how to log in when it is gone.

    Found without reading any secret, so a cached session serves commands that run
    without a terminal even when logging in would need a password prompt.
    """

    resolved: Resolved
    cache: SessionCache
    identity: str
    build: Callable[[], Authenticator | None]
    creates_session: bool

    @property
    def site(self) -> Site:
        """The resolved site."""
        return self.resolved.site

    def authenticator(self, cached: Credentials | None) -> CachedSessionAuth:
        """The cached session, with the profile's authenticator (built on demand) behind it."""
        return CachedSessionAuth(cached, self.build, creates_session=self.creates_session)


def profile_session(
    args: argparse.Namespace, env: Mapping[str, str] | None = None
) -> ProfileSession:
    """The :class:`ProfileSession` of this command line."""
    environ = os.environ if env is None else env
    resolved = resolve_args(args, with_authenticator=False, env=environ)
    name, settings = authenticator_settings(
        getattr(args, "profile", None),
        config=load_config(args, environ),
        env=environ,
        options=options_from(args),
        resolve_references=False,
    )
    site = resolved.site
    cache = SessionCache.for_profile(cache_key(resolved.name, site), resolved.config_path, environ)
    creates_session = True
    if name:
        from qlikauth.auth.base import get_authenticator

        creates_session = get_authenticator(name).creates_session

    def build() -> Authenticator | None:
        return resolve_args(args, env=environ).authenticator

    return ProfileSession(
        resolved,
        cache,
        fingerprint(site, name, settings),
        build,
        creates_session,
    )


@dataclass
class Connected:
    """An authenticated client for a command, and how its session was obtained."""

    resolved: Resolved
    client: QlikClient
    cache: SessionCache
    credentials: Credentials
    reused: bool
    #: Whether the session is kept in the profile's cache (not for a session made elsewhere).
    cached: bool = True

    @property
    def site(self) -> Site:
        """The resolved site."""
        return self.resolved.site

    @property
    def engine_options(self) -> dict[str, Any]:
        """What every engine connection of a command gets: ``--timeout`` bounds each call."""
        return {"call_timeout": self.resolved.timeout}


@contextlib.contextmanager
def connected(
    args: argparse.Namespace, *, fresh: bool = False, env: Mapping[str, str] | None = None
) -> Iterator[Connected]:
    """A client with the profile's session: the cached one while the proxy knows it.

    A new session is cached for the next command; closing the client leaves the session
    open (``qlikauth logout`` ends it). ``fresh`` ignores the cached session.
    """
    plan = profile_session(args, env)
    # A session made elsewhere (``existing``) is the profile's own setting: use it as given,
    # so that a changed session id takes effect, and never cache it.
    caching = plan.creates_session
    cached = plan.cache.load(plan.identity) if caching and not fresh else None
    client = QlikClient(
        plan.site,
        plan.authenticator(cached),
        timeout=plan.resolved.timeout,
        logout_on_close=False,
    )
    try:
        credentials = client.credentials()
        reused = cached is not None and credentials.session_id == cached.session_id
        if caching and not reused:
            plan.cache.save(plan.site, plan.identity, credentials)
        yield Connected(plan.resolved, client, plan.cache, credentials, reused, caching)
    finally:
        client.close()


_APP_ID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def doc_list(session: Connected) -> list[DocInfo]:
    """The apps the session's user can open (the engine's GetDocList)."""
    with session.client.engine(**session.engine_options) as connection:
        return connection.global_.get_doc_list()


def app_id_of(session: Connected, app: str) -> str:
    """The id of APP: itself when it looks like an id, else looked up by name or title."""
    if _APP_ID_RE.fullmatch(app):
        return app
    docs = doc_list(session)
    for doc in docs:
        if app in (doc.doc_id, doc.name, doc.title):
            return str(doc.doc_id)
    names = ", ".join(sorted(d.title or d.name for d in docs)) or "none"
    raise AppNotFoundError(
        f"no app named {app!r} for {session.credentials.user}",
        code=1003,
        hint=f"Apps this user can open: {names} (qlikauth doclist shows their ids).",
    )
