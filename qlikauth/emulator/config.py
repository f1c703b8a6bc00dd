"""The emulator's configuration: defaults from the issue's table, overridable by TOML.

Every default here is documented in ``docs/emulator.md``; keep the two in step.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from qlikauth.errors import ConfigurationError

__all__ = [
    "DEFAULT_WINDOWS_USERS",
    "EmulatorConfig",
    "JwtClaims",
    "UserConfig",
    "VirtualProxyConfig",
    "WindowsConfig",
    "WindowsUser",
    "default_config",
    "load_config",
]

Method = Literal["windows", "header", "header_dynamic", "jwt", "ticket"]
Anonymous = Literal["none", "allow", "always"]
SameSite = Literal["", "None", "Lax", "Strict"]

_METHODS = ("windows", "header", "header_dynamic", "jwt", "ticket")
_PREFIX_RE = re.compile(r"^[a-z0-9\-._~]*$")
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
    """Names of the JWT claims that carry the user id, directory and groups."""

    user: str = "userId"
    directory: str = "userDirectory"
    groups: str = "groups"


@dataclass(frozen=True)
class VirtualProxyConfig:
    """One virtual proxy: how it authenticates and how its session cookie looks."""

    prefix: str
    method: Method
    cookie_name: str
    header_name: str = ""
    user_directory: str = ""
    header_pattern: str = "$ud\\$id"
    jwt_claims: JwtClaims = field(default_factory=JwtClaims)
    auth_module_uri: str = ""
    allow_list: tuple[str, ...] = ()
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
    legacy_websocket: bool = False
    ticket_ttl: float = 60.0
    max_parallel_sessions: int = 5
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
            header_pattern="$ud\\$id",
        ),
        VirtualProxyConfig(prefix="jwt", method="jwt", cookie_name="X-Qlik-Session-jwt"),
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
    if vp.session_timeout <= 0:
        raise ConfigurationError(f"{where}: session_timeout must be positive")
    for name in ("same_site", "same_site_http"):
        if getattr(vp, name) not in typing.get_args(SameSite):
            raise ConfigurationError(
                f'{where}: {name} must be "", "None", "Lax" or "Strict", not {getattr(vp, name)!r}'
            )
    return vp


def _check_unique(config: EmulatorConfig) -> EmulatorConfig:
    prefixes = [vp.prefix for vp in config.virtual_proxies]
    cookies = [vp.cookie_name for vp in config.virtual_proxies]
    if len(set(prefixes)) != len(prefixes):
        raise ConfigurationError("two virtual proxies share a prefix")
    if len(set(cookies)) != len(cookies):
        raise ConfigurationError("two virtual proxies share a session cookie name")
    for vp in config.virtual_proxies:
        _validate_vp(vp)
    return config


def _number(value: Any) -> float:
    return float(value)


def _str_tuple(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(f"{where} must be a list of strings")
    return tuple(value)


_VP_SCALARS: dict[str, type | tuple[type, ...]] = {
    "method": str,
    "cookie_name": str,
    "header_name": str,
    "user_directory": str,
    "header_pattern": str,
    "auth_module_uri": str,
    "session_timeout": (int, float),
    "anonymous": str,
    "same_site": str,
    "same_site_http": str,
    "windows_pattern": str,
}


def _vp_from_table(table: Mapping[str, Any], base: VirtualProxyConfig | None) -> VirtualProxyConfig:
    prefix = table.get("prefix", "")
    if not isinstance(prefix, str):
        raise ConfigurationError("virtual_proxies: prefix must be a string")
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key == "prefix":
            continue
        if key == "allow_list":
            changes[key] = _str_tuple(value, f"virtual proxy {prefix!r}: allow_list")
        elif key == "jwt_claims":
            if not isinstance(value, dict):
                raise ConfigurationError(f"virtual proxy {prefix!r}: jwt_claims must be a table")
            changes[key] = JwtClaims(**{k: str(v) for k, v in value.items()})
        elif key in _VP_SCALARS:
            if not isinstance(value, _VP_SCALARS[key]) or isinstance(value, bool):
                raise ConfigurationError(f"virtual proxy {prefix!r}: {key} has the wrong type")
            changes[key] = _number(value) if key == "session_timeout" else value
        else:
            raise ConfigurationError(f"virtual proxy {prefix!r}: unknown key {key!r}")
    if base is not None:
        return dataclasses.replace(base, **changes)
    if "method" not in changes:
        raise ConfigurationError(f"virtual proxy {prefix!r}: method is mandatory")
    changes.setdefault("cookie_name", f"X-Qlik-Session-{prefix}" if prefix else "X-Qlik-Session")
    return VirtualProxyConfig(prefix=prefix, **changes)


def _merge_vps(
    defaults: Sequence[VirtualProxyConfig], tables: Any, replace: bool
) -> tuple[VirtualProxyConfig, ...]:
    if not isinstance(tables, list):
        raise ConfigurationError("virtual_proxies must be an array of tables")
    result = {} if replace else {vp.prefix: vp for vp in defaults}
    for table in tables:
        if not isinstance(table, dict):
            raise ConfigurationError("virtual_proxies must be an array of tables")
        prefix = table.get("prefix", "")
        result[prefix] = _vp_from_table(table, result.get(prefix))
    return tuple(result.values())


_TOP_SCALARS: dict[str, type | tuple[type, ...]] = {
    "host": str,
    "bind": str,
    "legacy_websocket": bool,
    "allow_http": bool,
    "ticket_ttl": (int, float),
    "max_parallel_sessions": int,
    "jwt_leeway": (int, float),
    "large_app_rows": int,
}
_PORTS = ("proxy", "qps", "qrs", "engine", "auth", "proxy_http", "auth_http")


def config_from_mapping(data: Mapping[str, Any]) -> EmulatorConfig:
    """Build a configuration from parsed TOML: defaults, then the file's values."""
    changes: dict[str, Any] = {}
    windows = WindowsConfig()
    if "windows" in data:
        table = data["windows"]
        if not isinstance(table, dict):
            raise ConfigurationError("[windows] must be a table")
        users = windows.users
        if "users" in table:
            users = tuple(WindowsUser(str(u["name"]), str(u["password"])) for u in table["users"])
        windows = WindowsConfig(domain=str(table.get("domain", windows.domain)), users=users)
    config = default_config(windows=windows)
    for key, value in data.items():
        if key in _TOP_SCALARS:
            expected = _TOP_SCALARS[key]
            if not isinstance(value, expected) or (
                expected is not bool and isinstance(value, bool)
            ):
                raise ConfigurationError(f"{key} has the wrong type")
            changes[key] = _number(value) if expected == (int, float) else value
        elif key == "certificate_names":
            names = _str_tuple(value, "certificate_names")
            if not names:
                raise ConfigurationError("certificate_names needs at least one name")
            changes[key] = names
        elif key == "ports":
            for name, port in dict(value).items():
                if name not in _PORTS or not isinstance(port, int):
                    raise ConfigurationError(f"[ports] {name}: unknown listener or not a number")
                changes[f"{name}_port"] = port
        elif key == "virtual_proxies":
            changes[key] = _merge_vps(
                config.virtual_proxies, value, bool(data.get("replace_virtual_proxies"))
            )
        elif key == "users":
            changes[key] = tuple(
                UserConfig(
                    str(u["directory"]),
                    str(u["id"]),
                    str(u.get("name", "")),
                    _str_tuple(u.get("groups", []), "users.groups"),
                )
                for u in value
            )
        elif key == "apps":
            apps = dict(value)
            unknown = set(apps) - {"large_app_rows", "csv_cell_limit"}
            if unknown:
                raise ConfigurationError(f"unknown [apps] key(s): {', '.join(sorted(unknown))}")
            rows = apps.get("large_app_rows", 0)
            if not isinstance(rows, int) or rows < 0:
                raise ConfigurationError("[apps] large_app_rows must be a non-negative integer")
            changes["large_app_rows"] = rows
            limit = apps.get("csv_cell_limit", 5_000_000)
            if not isinstance(limit, int) or limit < 0:
                raise ConfigurationError(
                    "[apps] csv_cell_limit must be a non-negative integer (0 = no limit)"
                )
            changes["csv_cell_limit"] = limit or None
        elif key in ("windows", "replace_virtual_proxies", "session_timeout"):
            continue
        else:
            raise ConfigurationError(f"unknown configuration key {key!r}")
    config = dataclasses.replace(config, **changes)
    if "session_timeout" in data:
        config = config.with_session_timeout(float(data["session_timeout"]))
    return _check_unique(config)


def load_config(path: Path | str | None) -> EmulatorConfig:
    """Read a TOML configuration file (``None``: the defaults)."""
    if path is None:
        return _check_unique(default_config())
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigurationError(f"cannot read emulator configuration {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"emulator configuration {path} is not TOML: {exc}") from exc
    try:
        return config_from_mapping(data)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ConfigurationError):
            raise
        raise ConfigurationError(f"emulator configuration {path}: {exc}") from exc
