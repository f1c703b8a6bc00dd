"""The emulator's TOML configuration file: the documented defaults, then the file's values.

Keys and their meaning are in ``docs/emulator.md`` ("TOML configuration").
"""

from __future__ import annotations

import dataclasses
import tomllib
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qlikauth.emulator.config import (
    EmulatorConfig,
    JwtAttributeMapping,
    JwtClaims,
    UserConfig,
    VirtualProxyConfig,
    WindowsConfig,
    WindowsUser,
    check_config,
    default_config,
)
from qlikauth.errors import ConfigurationError

__all__ = ["LEGACY_WEBSOCKET_NOTICE", "config_from_mapping", "load_config"]

#: What the deprecated ``legacy_websocket`` key and ``--legacy-websocket`` flag say.
LEGACY_WEBSOCKET_NOTICE = (
    "legacy_websocket is deprecated and will be removed: it now means release 2024-05 "
    '(write release = "2024-05", or --release 2024-05)'
)


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


def _jwt_claims(value: Any, where: str) -> JwtClaims:
    if not isinstance(value, dict):
        raise ConfigurationError(f"{where}: jwt_claims must be a table")
    if "groups" in value:
        raise ConfigurationError(
            f"{where}: jwt_claims has no 'groups' any more: map claims to attributes with "
            'jwt_attribute_mapping = [{ claim = "groups", attribute = "Group" }]'
        )
    unknown = set(value) - {"user", "directory"}
    if unknown:
        raise ConfigurationError(f"{where}: unknown jwt_claims key(s) {', '.join(sorted(unknown))}")
    return JwtClaims(**{k: str(v) for k, v in value.items()})


def _jwt_mapping(value: Any, where: str) -> tuple[JwtAttributeMapping, ...]:
    rows = []
    if not isinstance(value, list):
        raise ConfigurationError(f"{where}: jwt_attribute_mapping must be an array of tables")
    for row in value:
        if not isinstance(row, dict) or set(row) - {"claim", "attribute", "mandatory"}:
            raise ConfigurationError(
                f"{where}: each jwt_attribute_mapping row is {{ claim, attribute, mandatory }}"
            )
        claim, attribute = row.get("claim"), row.get("attribute")
        mandatory = row.get("mandatory", False)
        if not isinstance(claim, str) or not isinstance(attribute, str):
            raise ConfigurationError(
                f"{where}: jwt_attribute_mapping rows need a claim and an attribute (strings)"
            )
        if not isinstance(mandatory, bool):
            raise ConfigurationError(f"{where}: jwt_attribute_mapping mandatory is true or false")
        rows.append(JwtAttributeMapping(claim, attribute, mandatory))
    return tuple(rows)


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
            changes[key] = _jwt_claims(value, f"virtual proxy {prefix!r}")
        elif key == "jwt_attribute_mapping":
            changes[key] = _jwt_mapping(value, f"virtual proxy {prefix!r}")
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
    "release": str,
    "session_limit": str,
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
        elif key == "legacy_websocket":
            changes.update(_legacy_websocket(value, data.get("release")))
        elif key in ("windows", "replace_virtual_proxies", "session_timeout"):
            continue
        else:
            raise ConfigurationError(f"unknown configuration key {key!r}")
    config = dataclasses.replace(config, **changes)
    if "session_timeout" in data:
        config = config.with_session_timeout(float(data["session_timeout"]))
    return check_config(config)


def _legacy_websocket(value: Any, release: Any) -> dict[str, Any]:
    """The deprecated switch, as the release it meant (and a warning that says so)."""
    if not isinstance(value, bool):
        raise ConfigurationError("legacy_websocket has the wrong type")
    meant = "2024-05" if value else "2024-11"
    if release is not None and release != meant:
        raise ConfigurationError(
            f"legacy_websocket = {str(value).lower()} contradicts release = {release!r}; "
            "keep release only"
        )
    warnings.warn(LEGACY_WEBSOCKET_NOTICE, FutureWarning, stacklevel=4)
    return {"release": meant}


def load_config(path: Path | str | None) -> EmulatorConfig:
    """Read a TOML configuration file (``None``: the defaults)."""
    if path is None:
        return check_config(default_config())
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
