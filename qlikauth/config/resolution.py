"""From profile, environment and options to a :class:`~qlikauth.site.Site` and an
:class:`~qlikauth.auth.base.Authenticator`, the same way for every command.

Secret references are resolved here, and only here. Every error names the file, profile and
key (or the environment variable or option) that the bad value came from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from qlikauth.config.diagnosis import missing_settings, missing_settings_error
from qlikauth.config.layers import Layered, Options, layer, pick_profile
from qlikauth.config.profiles import ConfigFile, Profile
from qlikauth.config.references import is_reference, resolve_references, resolve_secret
from qlikauth.config.schema import PORTS
from qlikauth.errors import ConfigurationError, TlsError
from qlikauth.site import Site, VirtualProxy
from qlikauth.tls.bundle import CertificateBundle
from qlikauth.tls.contexts import TlsConfig

if TYPE_CHECKING:
    from qlikauth.auth.base import Authenticator

__all__ = ["Resolved", "authenticator_settings", "resolve"]


@dataclass(frozen=True)
class Resolved:
    """A profile after environment and options: the site, the authenticator, the rest.

    ``authenticator`` is ``None`` when no authenticator is configured (commands that only
    use QPS with the client certificate need none); :meth:`require_authenticator` gives it
    typed as :class:`~qlikauth.auth.base.Authenticator`. ``sources`` says where each setting
    came from (file, environment variable, option), for diagnosis.
    """

    profile: Profile
    site: Site
    authenticator: Authenticator | None
    timeout: float
    sources: Mapping[str, str]
    config_path: Path

    @property
    def name(self) -> str:
        """The profile's name (``""`` for settings given without a profile)."""
        return self.profile.name

    def require_authenticator(self) -> Authenticator:
        """The authenticator, or a :class:`~qlikauth.errors.ConfigurationError` saying why
        there is none: ``QlikClient(resolved.site, resolved.require_authenticator())``."""
        if self.authenticator is not None:
            return self.authenticator
        where = f"{self.config_path}: profile {self.name!r}: " if self.name else ""
        configured = self.sources.get("authenticator")
        if configured is not None:
            raise ConfigurationError(
                f"{where}the authenticator ({configured}) was not built: resolved with "
                "with_authenticator=False",
                hint="Call resolve() without with_authenticator=False to build it.",
            )
        raise ConfigurationError(
            f"{where}no authenticator is set",
            hint="Set authenticator = NAME (header, jwt, ticket, ...) in the profile, the "
            "environment variable QLIKAUTH_AUTHENTICATOR, or Options(authenticator=NAME).",
        )


def resolve(
    profile: str | None = None,
    *,
    config: ConfigFile | Path | str | None = None,
    env: Mapping[str, str] | None = None,
    options: Options | None = None,
    with_authenticator: bool = True,
) -> Resolved:
    """Turn a profile, the environment and command-line options into a site and authenticator.

    ``profile`` ``None`` picks ``$QLIKAUTH_PROFILE``, else the file's ``default_profile``,
    else its only profile, else none (then ``--server``/``QLIKAUTH_SERVER`` must say where).
    Secret references are resolved here; errors name the file, profile and key (or the
    environment variable or option) the bad value came from.
    """
    environ = os.environ if env is None else env
    file = config if isinstance(config, ConfigFile) else ConfigFile.load(config, env=environ)
    chosen = pick_profile(file, profile, environ)
    layered = layer(chosen, file.path, environ, options or Options())
    site = _build_site(layered, _build_tls(layered, environ), chosen)
    authenticator = None
    if with_authenticator:
        authenticator = _build_authenticator(layered, environ, chosen, file.path)
    timeout = float(layered.values.get("timeout", 30.0))
    sources = MappingProxyType(layered.sources)
    return Resolved(chosen, site, authenticator, timeout, sources, file.path)


def authenticator_settings(
    profile: str | None = None,
    *,
    config: ConfigFile | Path | str | None = None,
    env: Mapping[str, str] | None = None,
    options: Options | None = None,
    resolve_references: bool = True,
) -> tuple[str | None, dict[str, Any]]:
    """The authenticator's name and settings, without building a site.

    For commands that need no server, such as minting a JWT with the profile's key.
    References are resolved unless ``resolve_references`` is false (then no secret is read).
    """
    environ = os.environ if env is None else env
    file = config if isinstance(config, ConfigFile) else ConfigFile.load(config, env=environ)
    layered = layer(pick_profile(file, profile, environ), file.path, environ, options or Options())
    name = layered.values.get("authenticator")
    if not resolve_references:
        return name, layered.auth
    return name, _resolved_settings(layered, environ)


class _Blamed:
    """Prefix a :class:`ConfigurationError` raised inside with the setting it came from."""

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        if isinstance(error, ConfigurationError):
            raise ConfigurationError(f"{self.where}: {error.message}", hint=error.hint) from None


#: How a profile (or the environment) gives the password of a PFX or an encrypted key.
_PFX_ADVICE = (
    'Give it in the profile as certs_password = "env:VAR" or certs_password = "keyring:NAME" '
    "(qlikauth profile add NAME --prompt-secret certs_password stores it in the keyring), or "
    "in the environment variable QLIKAUTH_CERTS_PASSWORD; it is the password typed when "
    "exporting from the QMC. Never put it on a command line."
)


def _asks_for_password(error: TlsError) -> bool:
    """Whether the certificate files failed to load only for want of a password."""
    return "needs its password" in error.message or "give its passphrase" in error.message


def _build_tls(layered: Layered, env: Mapping[str, str]) -> TlsConfig:
    values, sources = layered.values, layered.sources
    password = values.get("certs_password")
    if password is not None:
        password = _secret(password, sources.get("certs_password", "certs_password"), env)
    bundle: CertificateBundle | None = None
    certs = values.get("certs")
    root = values.get("root")
    root_only = _root_only(Path(certs).expanduser()) if certs else None
    if root_only is not None:
        # A folder with just the root: the server is verified; no client certificate.
        root = root or str(root_only)
    elif certs:
        try:
            bundle = CertificateBundle.from_folder(Path(certs).expanduser(), passphrase=password)
        except TlsError as exc:  # keeps its class (CertificateFileError, ...)
            exc.message = f"{sources['certs']}: {exc.message}"
            if password is None and _asks_for_password(exc):
                exc.hint = _PFX_ADVICE
            raise
    try:
        return TlsConfig(
            root=Path(root).expanduser() if root else None,
            bundle=bundle,
            verify=values.get("verify", True) is not False,
        )
    except TlsError as exc:
        exc.message = f"{sources.get('root', 'root')}: {exc.message}"
        raise


def _root_only(folder: Path) -> Path | None:
    """``folder/root.pem`` when the folder holds the root and no client certificate: what
    the authenticators that go through the proxy need (docs/authenticators.md)."""
    if not folder.is_dir() or not (folder / "root.pem").is_file():
        return None
    client_files = ("client.pem", "client_key.pem", "client.pfx")
    return None if any((folder / name).exists() for name in client_files) else folder / "root.pem"


def _secret(value: str, where: str, env: Mapping[str, str]) -> str:
    """A secret setting's value: a reference resolved, an environment value as it is."""
    return resolve_secret(value, env=env, where=where) if is_reference(value) else value


def _build_site(layered: Layered, tls: TlsConfig, profile: Profile) -> Site:
    values, sources = layered.values, layered.sources
    server = values.get("server")
    if not server:
        where = f"profile {profile.name!r}" if profile.name else "no profile was chosen and"
        raise ConfigurationError(
            f"{where} no server is set",
            hint="Pass --server HOST, set QLIKAUTH_SERVER, or choose a profile with "
            "--profile (qlikauth profile list).",
        )
    prefix = values.get("prefix", "")
    with _Blamed(sources.get("prefix", "prefix")):
        VirtualProxy(prefix)
    with _Blamed(sources.get("cookie_name", "cookie_name")):
        virtual_proxy = VirtualProxy(prefix, values.get("cookie_name") or None)
    scheme = values.get("scheme", "https")
    if scheme not in ("https", "http"):
        raise ConfigurationError(
            f"{sources['scheme']}: scheme must be 'https' or 'http', not {scheme!r}",
            hint="Qlik Sense serves https unless plain http was enabled on the proxy.",
        )
    with _Blamed(sources["server"]):
        Site(host=server)
    origin = values.get("websocket_origin") or None
    ports = {key: values[key] for key in PORTS if key in values}
    try:
        return Site(server, virtual_proxy, scheme=scheme, tls=tls, websocket_origin=origin, **ports)
    except ConfigurationError as exc:
        if origin is None:
            raise
        raise ConfigurationError(
            f"{sources['websocket_origin']}: {exc.message}", hint=exc.hint
        ) from None


def _resolved_settings(layered: Layered, env: Mapping[str, str]) -> dict[str, Any]:
    return resolve_references(layered.auth, layered.sources, env)


def _build_authenticator(
    layered: Layered, env: Mapping[str, str], profile: Profile, config_path: Path
) -> Authenticator | None:
    name = layered.values.get("authenticator")
    settings = layered.auth
    if not name:
        if settings:
            keys = ", ".join(sorted(settings))
            raise ConfigurationError(
                f"authenticator settings ({keys}) are given but no authenticator",
                hint="Set authenticator = NAME in the profile (or QLIKAUTH_AUTHENTICATOR).",
            )
        return None
    from qlikauth.auth.base import create_authenticator

    blame = layered.sources.get("authenticator", "authenticator")
    with _Blamed(blame):  # an unknown authenticator
        missing = missing_settings(name, settings)
    if missing:
        raise missing_settings_error(name, missing, profile.name, config_path)
    resolved = _resolved_settings(layered, env)
    with _Blamed(blame):
        authenticator = create_authenticator(name, **resolved)
    return authenticator
