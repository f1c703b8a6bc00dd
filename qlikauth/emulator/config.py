"""The emulator's configuration: the documented defaults and the checks every value passes.

Every default here is documented in ``docs/emulator.md``; keep the two in step. The TOML
file is read by :mod:`qlikauth.emulator.configfile`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from qlikauth.emulator.headerpattern import HeaderPattern
from qlikauth.emulator.release import DEFAULT_RELEASE, RELEASES, Release
from qlikauth.errors import ConfigurationError

__all__ = [
    "DEFAULT_WINDOWS_USERS",
    "SESSION_LIMITS",
    "EmulatorConfig",
    "JwtAttributeMapping",
    "JwtClaims",
    "UserConfig",
    "VirtualProxyConfig",
    "WindowsConfig",
    "WindowsUser",
    "check_config",
    "default_config",
    "is_ip_address",
]

Method = Literal["windows", "header", "header_dynamic", "jwt", "ticket"]
Anonymous = Literal["none", "allow", "always"]
SameSite = Literal["", "None", "Lax", "Strict"]
SessionLimit = Literal["websocket", "login"]
SESSION_LIMITS: tuple[SessionLimit, ...] = ("websocket", "login")

_METHODS = ("windows", "header", "header_dynamic", "jwt", "ticket")
_PREFIX_RE = re.compile(r"^[a-z0-9\-._~]*$")
_HOST_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9\-._]*[a-z0-9])?$", re.IGNORECASE)
# Qlik refuses header names that contain these (qlik-protocol.md §2.6).
_RESERVED_HEADER_PARTS = (
    "x-qlik-security",
    "x-qlik-user",
    "x-qlik-proxysession",
    "x-qlik-proxyid",
    "x-qlik-trace",
    "x-qlik-app",
    "x-qlik-capabilities",
)


@dataclass(frozen=True)
class JwtClaims:
    """Names of the JWT claims that carry the user id and the user directory."""

    user: str = "userId"
    directory: str = "userDirectory"


@dataclass(frozen=True)
class JwtAttributeMapping:
    """One row of a JWT virtual proxy's "JWT attribute mapping" (QRS
    ``VirtualProxyConfigJwtAttributeMapItem``: jwtAttribute, senseAttribute, isMandatory)."""

    claim: str
    attribute: str
    mandatory: bool = False


@dataclass(frozen=True)
class VirtualProxyConfig:
    """One virtual proxy: how it authenticates and how its session cookie looks."""

    prefix: str
    method: Method
    cookie_name: str
    header_name: str = ""
    user_directory: str = ""
    #: As the QMC stores it: a backslash doubled (``$ud\\$id`` means ``CORP\alice``).
    header_pattern: str = "$ud\\\\$id"
    jwt_claims: JwtClaims = field(default_factory=JwtClaims)
    jwt_attribute_mapping: tuple[JwtAttributeMapping, ...] = ()
    auth_module_uri: str = ""
    #: The host allow list, exactly as configured; ``None`` lists the emulator's host.
    allow_list: tuple[str, ...] | None = None
    session_timeout: float = 1800.0
    anonymous: Anonymous = "none"
    same_site: SameSite = ""
    #: Qlik's separate http setting (sameSiteAttributeHttp); the http cookie has no Secure.
    same_site_http: SameSite = ""
    windows_pattern: str = "Windows"


@dataclass(frozen=True)
class UserConfig:
    """A user the emulator knows (QRS lists them; any user may still log in)."""

    directory: str
    user_id: str
    name: str = ""
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class WindowsUser:
    """A Windows account the NTLM/Negotiate and forms modules accept."""

    name: str
    password: str = field(repr=False)


DEFAULT_WINDOWS_USERS: tuple[WindowsUser, ...] = (
    WindowsUser("alice", "Alice-Emu-1"),
    WindowsUser("bob", "Bob-Emu-2"),
    WindowsUser("carol", "Carol-Emu-3"),
    WindowsUser("dave", "Dave-Emu-4"),
)


@dataclass(frozen=True)
class WindowsConfig:
    """The Windows domain the internal authentication module checks passwords against."""

    domain: str = "QLIKEMU"
    users: tuple[WindowsUser, ...] = DEFAULT_WINDOWS_USERS


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything that shapes one emulator instance."""

    host: str = "localhost"
    bind: str = "127.0.0.1"
    proxy_port: int = 0
    qps_port: int = 0
    qrs_port: int = 0
    engine_port: int = 0
    auth_port: int = 0
    #: Qlik's "Allow HTTP" proxy setting: also serve the proxy and the internal
    #: authentication module over plain http (80 and 4248 on Qlik).
    allow_http: bool = False
    proxy_http_port: int = 0
    auth_http_port: int = 0
    #: The Qlik Sense release modelled: ``2024-05`` (before the November 2024 websocket
    #: CSRF change) or ``2024-11``.
    release: Release = DEFAULT_RELEASE
    ticket_ttl: float = 60.0
    max_parallel_sessions: int = 5
    #: Where the per-user limit bites: the next engine ``websocket`` (as live servers were
    #: seen to do) or the HTTP ``login`` itself.
    session_limit: SessionLimit = "websocket"
    jwt_leeway: float = 30.0
    virtual_proxies: tuple[VirtualProxyConfig, ...] = ()
    users: tuple[UserConfig, ...] = ()
    windows: WindowsConfig = field(default_factory=WindowsConfig)
    large_app_rows: int = 0
    #: Qlik's CSV export limit (5,000,000 cells); ``None`` lifts it for benchmark exports.
    csv_cell_limit: int | None = 5_000_000
    #: The names the server certificate holds; empty means ``host``, ``localhost`` and
    #: ``127.0.0.1``. Leave out the name clients dial to reproduce a hostname mismatch.
    certificate_names: tuple[str, ...] = ()

    def server_certificate_names(self) -> tuple[str, ...]:
        """The names the server certificate holds, defaults applied."""
        if self.certificate_names:
            return self.certificate_names
        return tuple(dict.fromkeys([self.host, "localhost", "127.0.0.1"]))

    def allow_list(self, vp: VirtualProxyConfig) -> tuple[str, ...]:
        """The virtual proxy's host allow list, the default (this host) applied."""
        return (self.host,) if vp.allow_list is None else vp.allow_list

    def virtual_proxy(self, prefix: str) -> VirtualProxyConfig | None:
        """The virtual proxy with this prefix, if configured."""
        for vp in self.virtual_proxies:
            if vp.prefix == prefix:
                return vp
        return None

    def with_session_timeout(self, seconds: float) -> EmulatorConfig:
        """The same configuration with every virtual proxy's inactivity timeout set."""
        vps = tuple(dataclasses.replace(vp, session_timeout=seconds) for vp in self.virtual_proxies)
        return dataclasses.replace(self, virtual_proxies=vps)


def _default_virtual_proxies() -> tuple[VirtualProxyConfig, ...]:
    return (
        VirtualProxyConfig(prefix="", method="windows", cookie_name="X-Qlik-Session"),
        VirtualProxyConfig(
            prefix="hdr",
            method="header",
            cookie_name="X-Qlik-Session-hdr",
            header_name="header_user",
            user_directory="QLIKEMU",
        ),
        VirtualProxyConfig(
            prefix="hdrdyn",
            method="header_dynamic",
            cookie_name="X-Qlik-Session-hdrdyn",
            header_name="header_user",
            header_pattern="$ud\\\\$id",
        ),
        VirtualProxyConfig(
            prefix="jwt",
            method="jwt",
            cookie_name="X-Qlik-Session-jwt",
            jwt_attribute_mapping=(JwtAttributeMapping("groups", "Group"),),
        ),
        VirtualProxyConfig(prefix="ticket", method="ticket", cookie_name="X-Qlik-Session-ticket"),
    )


def _default_users(windows: WindowsConfig) -> tuple[UserConfig, ...]:
    users = [
        UserConfig(windows.domain, u.name, u.name.capitalize(), ("Everyone",))
        for u in windows.users
    ]
    users.append(UserConfig("INTERNAL", "sa_api", "sa_api", ()))
    return tuple(users)


def default_config(**overrides: Any) -> EmulatorConfig:
    """The documented default configuration, with keyword overrides."""
    windows = overrides.pop("windows", WindowsConfig())
    base = EmulatorConfig(
        virtual_proxies=_default_virtual_proxies(),
        users=_default_users(windows),
        windows=windows,
    )
    return dataclasses.replace(base, **overrides)


def _check_allow_list(where: str, entries: tuple[str, ...]) -> None:
    for entry in entries:
        if not _HOST_NAME_RE.match(entry) or is_ip_address(entry):
            raise ConfigurationError(
                f"{where}: allow_list entry {entry!r} is not a host name (the host allow list "
                "holds host names only: no IP address, scheme, port or path)"
            )


def _validate_vp(vp: VirtualProxyConfig) -> VirtualProxyConfig:
    where = f"virtual proxy {vp.prefix!r}"
    if not _PREFIX_RE.match(vp.prefix) or vp.prefix.startswith("_"):
        raise ConfigurationError(
            f"{where}: a prefix is lowercase a-z 0-9 - . _ ~ without slashes "
            "(and may not start with '_', reserved for /_emulator/)"
        )
    if vp.method not in _METHODS:
        raise ConfigurationError(f"{where}: method must be one of {', '.join(_METHODS)}")
    if not vp.cookie_name:
        raise ConfigurationError(f"{where}: cookie_name is mandatory")
    if vp.method in ("header", "header_dynamic"):
        lowered = vp.header_name.lower()
        if not vp.header_name:
            raise ConfigurationError(f"{where}: header_name is mandatory for header methods")
        if any(part in lowered for part in _RESERVED_HEADER_PARTS):
            raise ConfigurationError(f"{where}: header name {vp.header_name!r} is reserved")
        if vp.method == "header" and not vp.user_directory:
            raise ConfigurationError(f"{where}: user_directory is mandatory for static headers")
    if vp.method == "header_dynamic":
        try:
            HeaderPattern(vp.header_pattern)
        except ValueError as exc:
            raise ConfigurationError(f"{where}: {exc}") from exc
    for row in vp.jwt_attribute_mapping:
        if not row.claim or not row.attribute:
            raise ConfigurationError(
                f"{where}: every jwt_attribute_mapping row needs a claim and an attribute"
            )
    if vp.allow_list is not None:
        _check_allow_list(where, vp.allow_list)
    if vp.session_timeout <= 0:
        raise ConfigurationError(f"{where}: session_timeout must be positive")
    for name in ("same_site", "same_site_http"):
        if getattr(vp, name) not in typing.get_args(SameSite):
            raise ConfigurationError(
                f'{where}: {name} must be "", "None", "Lax" or "Strict", not {getattr(vp, name)!r}'
            )
    return vp


def check_config(config: EmulatorConfig) -> EmulatorConfig:
    """The configuration, if every value is one the emulator can serve; else why not."""
    if config.release not in RELEASES:
        raise ConfigurationError(
            f"release must be one of {', '.join(RELEASES)}, not {config.release!r}"
        )
    if config.session_limit not in SESSION_LIMITS:
        raise ConfigurationError(
            f"session_limit must be one of {', '.join(SESSION_LIMITS)}, "
            f"not {config.session_limit!r}"
        )
    prefixes = [vp.prefix for vp in config.virtual_proxies]
    cookies = [vp.cookie_name for vp in config.virtual_proxies]
    if len(set(prefixes)) != len(prefixes):
        raise ConfigurationError("two virtual proxies share a prefix")
    if len(set(cookies)) != len(cookies):
        raise ConfigurationError("two virtual proxies share a session cookie name")
    for vp in config.virtual_proxies:
        _validate_vp(vp)
    return config


def is_ip_address(host: str) -> bool:
    """Whether ``host`` is an IP address rather than a name (brackets allowed for IPv6)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
