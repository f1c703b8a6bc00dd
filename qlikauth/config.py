"""Profiles: where a Qlik site is and how to log in to it, kept in one TOML file.

A profile names the server, virtual proxy, ports, certificate export, trusted root and the
authenticator with its settings. Secrets are never stored in the file: a value that is a
secret (a password, passphrase, token, ...) must be a reference, ``keyring:<name>`` (the OS
keyring, through :mod:`qlikauth.keystore`) or ``env:<VAR>`` (an environment variable);
references are resolved only when a site is built.

Precedence, lowest first: the profile, then ``QLIKAUTH_*`` environment variables
(:data:`ENVIRONMENT`), then command-line options. :func:`resolve` turns the three into a
:class:`~qlikauth.site.Site` (with its :class:`~qlikauth.tls.TlsConfig`) and an
:class:`~qlikauth.auth.base.Authenticator`, so every command (and the broker and proxy)
builds them the same way.

The file::

    default_profile = "prod"

    [profiles.prod]
    server = "qlik.example.com"
    prefix = "hdr"
    cookie_name = "X-Qlik-Session-hdr"
    certs = "~/qlik/prod-certs"          # a QMC export folder, or a client.pfx
    certs_password = "env:QLIK_PFX_PASSWORD"
    authenticator = "header"

    [profiles.prod.auth]                  # the authenticator's settings
    user = "alice"
    header_name = "header_user"
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import re
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from qlikauth import keystore
from qlikauth._files import atomic_write
from qlikauth.errors import ConfigurationError, MissingSettingsError, QlikAuthError, TLSError
from qlikauth.site import Site, VirtualProxy
from qlikauth.tls import CertificateBundle, TlsConfig

if TYPE_CHECKING:
    from qlikauth.auth.base import Authenticator

__all__ = [
    "CONFIG_ENV",
    "ENVIRONMENT",
    "EXTENSION_TABLES",
    "KEYRING_SERVICE",
    "PROFILE_ENV",
    "ConfigFile",
    "Options",
    "Profile",
    "Resolved",
    "authenticator_settings",
    "default_config_path",
    "emulator_profile_settings",
    "is_reference",
    "is_secret_key",
    "missing_settings",
    "profile_from_settings",
    "profile_toml",
    "redacted",
    "resolve",
    "resolve_secret",
    "site_from_emulator",
    "table_toml",
    "toml_assignment",
]

#: The environment variable naming the configuration file.
CONFIG_ENV = "QLIKAUTH_CONFIG"
#: The environment variable naming the profile to use.
PROFILE_ENV = "QLIKAUTH_PROFILE"
#: Prefix of environment variables that set authenticator settings
#: (``QLIKAUTH_AUTH_USER=alice`` sets ``user``).
AUTH_ENV_PREFIX = "QLIKAUTH_AUTH_"
#: The keyring service under which ``keyring:<name>`` references are looked up.
KEYRING_SERVICE = keystore.SERVICE

_PROFILE_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SETTING_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_WORDS = (
    "password",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "ticket",
    "session_id",
)
_REFERENCE_SCHEMES = ("keyring:", "env:")

_PORTS = ("proxy_port", "qps_port", "qrs_port", "engine_port", "auth_port")

#: Top-level tables that other parts of qlikauth keep in this file (``[broker]``): kept
#: and written back as they are; the part that owns a table checks it when it reads it.
EXTENSION_TABLES = ("broker",)


@dataclass(frozen=True)
class _Key:
    """One profile key: its type, and the environment variable that overrides it."""

    kind: Literal["str", "port", "bool", "float"]
    env: str | None


#: Every profile key, its type, and its ``QLIKAUTH_*`` override.
_KEYS: Mapping[str, _Key] = MappingProxyType(
    {
        "server": _Key("str", "QLIKAUTH_SERVER"),
        "prefix": _Key("str", "QLIKAUTH_PREFIX"),
        "cookie_name": _Key("str", "QLIKAUTH_COOKIE_NAME"),
        "scheme": _Key("str", "QLIKAUTH_SCHEME"),
        "proxy_port": _Key("port", "QLIKAUTH_PROXY_PORT"),
        "qps_port": _Key("port", "QLIKAUTH_QPS_PORT"),
        "qrs_port": _Key("port", "QLIKAUTH_QRS_PORT"),
        "engine_port": _Key("port", "QLIKAUTH_ENGINE_PORT"),
        "auth_port": _Key("port", "QLIKAUTH_AUTH_PORT"),
        "websocket_origin": _Key("str", "QLIKAUTH_WEBSOCKET_ORIGIN"),
        "certs": _Key("str", "QLIKAUTH_CERTS"),
        "certs_password": _Key("str", "QLIKAUTH_CERTS_PASSWORD"),
        "root": _Key("str", "QLIKAUTH_ROOT"),
        "verify": _Key("bool", None),
        "timeout": _Key("float", "QLIKAUTH_TIMEOUT"),
        "authenticator": _Key("str", "QLIKAUTH_AUTHENTICATOR"),
    }
)

#: The ``QLIKAUTH_*`` environment variables and the profile key each overrides. An
#: environment variable holds the value itself (``QLIKAUTH_CERTS_PASSWORD`` the password),
#: never a reference. ``QLIKAUTH_AUTH_<SETTING>`` sets an authenticator setting.
ENVIRONMENT: Mapping[str, str] = MappingProxyType(
    {key.env: name for name, key in _KEYS.items() if key.env is not None}
)


# --------------------------------------------------------------------------- secrets


def is_secret_key(name: str) -> bool:
    """Whether a setting named ``name`` holds a secret (and so must be a reference)."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def is_reference(value: object) -> bool:
    """Whether ``value`` is a secret reference, ``keyring:<name>`` or ``env:<VAR>``."""
    return isinstance(value, str) and value.startswith(_REFERENCE_SCHEMES)


def _check_reference(value: str) -> str | None:
    """What is wrong with a reference, or ``None``."""
    scheme, _, name = value.partition(":")
    if not name:
        return f"the reference {value!r} names nothing after '{scheme}:'"
    if scheme == "env" and not _ENV_NAME_RE.fullmatch(name):
        return f"{name!r} is not an environment variable name"
    return None


def _keystore_lookup(name: str) -> str | None:
    """The keyring secret ``name`` (service ``qlikauth``)."""
    return keystore.get_secret(name)


def resolve_secret(
    reference: str,
    *,
    env: Mapping[str, str] | None = None,
    where: str = "",
    lookup: Callable[[str], str | None] | None = None,
) -> str:
    """The secret a ``keyring:<name>`` or ``env:<VAR>`` reference points to.

    ``where`` says which setting the reference came from, for the error message (which
    never contains the secret).
    """
    environ = os.environ if env is None else env
    prefix = f"{where}: " if where else ""
    problem = _check_reference(reference) if is_reference(reference) else "not a reference"
    if problem is not None:
        raise ConfigurationError(
            f"{prefix}{problem}",
            hint="Write keyring:NAME (a secret stored in the OS keyring) or env:VAR.",
        )
    scheme, _, name = reference.partition(":")
    if scheme == "env":
        value = environ.get(name)
        if value is None:
            raise ConfigurationError(
                f"{prefix}the environment variable {name} is not set",
                hint=f"export {name}=... before running, or store the secret in the keyring.",
            )
        return value
    try:
        found = (lookup or _keystore_lookup)(name)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{prefix}{exc.message}", hint=exc.hint) from exc
    if found is None:
        raise ConfigurationError(
            f"{prefix}the keyring holds no secret named {name!r} (service {KEYRING_SERVICE!r})",
            hint=f"Store it first: keyring set {KEYRING_SERVICE} {name}",
        )
    return found


def redacted(value: object, key: str) -> object:
    """``value`` fit to show: references as they are, any other secret as ``[secure]``
    (also inside a table, such as a validator's ``bind_password``)."""
    if isinstance(value, dict):
        return {k: redacted(v, k) for k, v in value.items()}
    if is_secret_key(key) and not is_reference(value) and value not in (None, ""):
        return "[secure]"
    return value


# --------------------------------------------------------------------------- the file


def default_config_path(
    env: Mapping[str, str] | None = None, *, platform: str | None = None
) -> Path:
    """The configuration file: ``$QLIKAUTH_CONFIG``, else the platform's config folder.

    Linux and others: ``$XDG_CONFIG_HOME/qlikauth/config.toml`` (``~/.config/...``);
    Windows: ``%APPDATA%\\qlikauth\\config.toml``; macOS:
    ``~/Library/Application Support/qlikauth/config.toml``.
    """
    environ = os.environ if env is None else env
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV]).expanduser()
    system = platform or sys.platform
    home = Path(environ.get("HOME") or environ.get("USERPROFILE") or Path.home())
    if system.startswith("win"):
        base = Path(environ["APPDATA"]) if environ.get("APPDATA") else home / "AppData/Roaming"
    elif system == "darwin":
        base = home / "Library" / "Application Support"
    else:
        xdg = environ.get("XDG_CONFIG_HOME")
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".config"
    return base / "qlikauth" / "config.toml"


@dataclass(frozen=True)
class Profile:
    """One profile as written in the file: site settings and authenticator settings.

    Values are kept as written (secrets as references). ``None`` means "not set", so the
    environment, options or the library's defaults apply.
    """

    name: str
    server: str | None = None
    prefix: str | None = None
    cookie_name: str | None = None
    scheme: str | None = None
    proxy_port: int | None = None
    qps_port: int | None = None
    qrs_port: int | None = None
    engine_port: int | None = None
    auth_port: int | None = None
    websocket_origin: str | None = None
    certs: str | None = None
    certs_password: str | None = field(default=None, repr=False)
    root: str | None = None
    verify: bool | None = None
    timeout: float | None = None
    authenticator: str | None = None
    auth: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "auth", MappingProxyType(dict(self.auth)))

    def values(self) -> dict[str, Any]:
        """The set site keys (everything but ``name`` and ``auth``)."""
        return {k: getattr(self, k) for k in _KEYS if getattr(self, k) is not None}

    def to_table(self) -> dict[str, Any]:
        """The profile as its TOML table."""
        table: dict[str, Any] = self.values()
        if self.auth:
            table["auth"] = dict(self.auth)
        return table

    def redacted(self) -> dict[str, Any]:
        """The profile fit to show: secrets that are not references appear as ``[secure]``."""
        table = {k: redacted(v, k) for k, v in self.values().items()}
        if self.auth:
            table["auth"] = {k: redacted(v, k) for k, v in self.auth.items()}
        return table

    def __repr__(self) -> str:
        return f"Profile({self.name!r}, {self.redacted()!r})"


def _check_value(key: str, kind: str, value: Any, where: Callable[[str], str]) -> Any:
    """``value`` converted to the key's type, or a :class:`ConfigurationError`."""
    if kind == "str":
        if not isinstance(value, str):
            raise ConfigurationError(
                f"{where(key)} must be a string, not {type(value).__name__}",
                hint=f'Write {key} = "..." in quotes.',
            )
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigurationError(
                f"{where(key)} must be true or false", hint=f"Write {key} = true (no quotes)."
            )
        return value
    if kind == "port":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
            raise ConfigurationError(
                f"{where(key)} must be a port number from 1 to 65535, not {value!r}",
                hint=f"Write {key} = 4243 (a number, no quotes).",
            )
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(
            f"{where(key)} must be a positive number of seconds, not {value!r}",
            hint=f"Write {key} = 30.",
        )
    if not math.isfinite(float(value)):
        raise ConfigurationError(f"{where(key)} must be finite", hint=f"Write {key} = 30.")
    return float(value)


def _check_auth_value(key: str, value: Any, where: Callable[[str], str]) -> Any:
    if not _SETTING_RE.fullmatch(key):
        raise ConfigurationError(
            f"{where(key)}: not a valid setting name",
            hint="Authenticator settings are Python identifiers, e.g. header_name.",
        )
    scalar = (str, int, float, bool)
    if isinstance(value, list):
        if not all(isinstance(v, scalar) for v in value):
            raise ConfigurationError(
                f"{where(key)}: a list may hold only strings, numbers and booleans",
                hint="Flatten the value.",
            )
    elif isinstance(value, dict):
        if not all(isinstance(k, str) and isinstance(v, scalar) for k, v in value.items()):
            raise ConfigurationError(
                f"{where(key)}: a table may hold only strings, numbers and booleans",
                hint="Flatten the value.",
            )
        for inner, item in value.items():
            _check_secret(f"{key}.{inner}", inner, item, where)
        return value
    elif not isinstance(value, scalar):
        raise ConfigurationError(f"{where(key)}: unsupported value", hint="Use a string.")
    if isinstance(value, str) and "PRIVATE KEY-----" in value:
        raise ConfigurationError(
            f"{where(key)} holds a private key in plain text; secrets are never stored in the "
            "configuration file",
            hint=f"Give the key file's path, or store the PEM in the keyring and write {key} = "
            '"keyring:NAME".',
        )
    _check_secret(key, key, value, where)
    return value


def _check_secret(path: str, key: str, value: Any, where: Callable[[str], str]) -> None:
    """A secret setting (``path``, named ``key``) must be a reference, also inside a table."""
    if isinstance(value, str) and is_reference(value):
        problem = _check_reference(value)
        if problem is not None:
            raise ConfigurationError(
                f"{where(path)}: {problem}", hint="Write keyring:NAME or env:VAR."
            )
    elif is_secret_key(key):
        raise ConfigurationError(
            f"{where(path)} holds a secret in plain text; secrets are never stored in the "
            "configuration file",
            hint=f'Store it in the keyring and write {key} = "keyring:NAME", or in an '
            f'environment variable and write {key} = "env:VAR".',
        )


def _profile_from_table(
    name: str, table: Mapping[str, Any], where: Callable[[str], str]
) -> Profile:
    values: dict[str, Any] = {}
    auth: dict[str, Any] = {}
    for key, value in table.items():
        if key == "auth":
            if not isinstance(value, dict):
                raise ConfigurationError(
                    f"{where(key)} must be a table",
                    hint=f"Write the settings under [profiles.{name}.auth].",
                )
            for setting, setting_value in value.items():
                auth[setting] = _check_auth_value(
                    setting, setting_value, lambda k: where(f"auth.{k}")
                )
            continue
        spec = _KEYS.get(key)
        if spec is None:
            known = ", ".join([*_KEYS, "auth"])
            raise ConfigurationError(f"{where(key)}: unknown key", hint=f"Known keys: {known}.")
        values[key] = _check_value(key, spec.kind, value, where)
    password = values.get("certs_password")
    if password is not None:
        _check_auth_value("certs_password", password, where)
    return Profile(name=name, auth=auth, **values)


def _check_profile_name(name: str, where: str) -> str:
    if not _PROFILE_NAME_RE.fullmatch(name):
        raise ConfigurationError(
            f"{where}invalid profile name {name!r}",
            hint="Profile names are 1-64 letters, digits, '-' or '_'.",
        )
    return name


@dataclass(frozen=True)
class ConfigFile:
    """The configuration file: its profiles and the default profile's name."""

    path: Path
    profiles: Mapping[str, Profile] = field(default_factory=dict)
    default_profile: str | None = None
    exists: bool = False
    #: The :data:`EXTENSION_TABLES` the file holds, by name, as written.
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "profiles", MappingProxyType(dict(self.profiles)))
        object.__setattr__(self, "tables", MappingProxyType(dict(self.tables)))

    @classmethod
    def load(
        cls, path: Path | str | None = None, *, env: Mapping[str, str] | None = None
    ) -> ConfigFile:
        """Read and validate the file; a missing file is an empty configuration."""
        file = Path(path).expanduser() if path is not None else default_config_path(env)
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            return cls(file)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the configuration file {file}: {exc.strerror or exc}",
                hint="Check the path (--config, QLIKAUTH_CONFIG) and its permissions.",
            ) from None
        try:
            document = tomllib.loads(data.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigurationError(
                f"{file}: not valid TOML: {exc}",
                hint="Fix the syntax (strings in double quotes, [profiles.NAME] tables).",
            ) from None
        return cls._from_document(file, document)

    @classmethod
    def _from_document(cls, file: Path, document: Mapping[str, Any]) -> ConfigFile:
        profiles: dict[str, Profile] = {}
        tables: dict[str, Mapping[str, Any]] = {}
        default: str | None = None
        for key, value in document.items():
            if key == "default_profile":
                if not isinstance(value, str):
                    raise ConfigurationError(
                        f"{file}: key 'default_profile' must be a string",
                        hint='Write default_profile = "NAME".',
                    )
                default = value
            elif key == "profiles":
                if not isinstance(value, dict):
                    raise ConfigurationError(
                        f"{file}: 'profiles' must be a table", hint="Use [profiles.NAME] tables."
                    )
                for name, table in value.items():
                    _check_profile_name(name, f"{file}: ")
                    if not isinstance(table, dict):
                        raise ConfigurationError(
                            f"{file}: profile {name!r} must be a table",
                            hint=f"Write [profiles.{name}] and its keys below it.",
                        )

                    def where(k: str, name: str = name) -> str:
                        return f"{file}: profile {name!r}: key {k!r}"

                    profiles[name] = _profile_from_table(name, table, where)
            elif key in EXTENSION_TABLES:
                if not isinstance(value, dict):
                    raise ConfigurationError(
                        f"{file}: {key!r} must be a table", hint=f"Write [{key}] and its keys."
                    )
                tables[key] = value
            else:
                raise ConfigurationError(
                    f"{file}: unknown top-level key {key!r}",
                    hint="The file holds default_profile, [profiles.NAME] tables and "
                    + ", ".join(f"[{name}]" for name in EXTENSION_TABLES)
                    + ".",
                )
        if default is not None and default not in profiles:
            raise ConfigurationError(
                f"{file}: key 'default_profile' names {default!r}, which is not a profile",
                hint=f"Profiles: {', '.join(sorted(profiles)) or 'none'}.",
            )
        return cls(file, profiles, default, exists=True, tables=tables)

    def profile(self, name: str) -> Profile:
        """The profile ``name``; a missing one is a :class:`ConfigurationError`."""
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise ConfigurationError(
                f"{self.path}: no profile named {name!r} (profiles: {known})",
                hint=f"Add it with: qlikauth profile add {name} --server HOST ...",
            ) from None

    def with_profile(self, profile: Profile, *, make_default: bool = False) -> ConfigFile:
        """A copy with ``profile`` added or replaced (checked as if read from the file)."""
        _check_profile_name(profile.name, f"{self.path}: ")

        def where(k: str) -> str:
            return f"{self.path}: profile {profile.name!r}: key {k!r}"

        checked = _profile_from_table(profile.name, profile.to_table(), where)
        profiles = {**self.profiles, profile.name: checked}
        default = profile.name if make_default else self.default_profile
        return dataclasses.replace(self, profiles=profiles, default_profile=default)

    def without_profile(self, name: str) -> ConfigFile:
        """A copy without the profile ``name`` (which must exist)."""
        self.profile(name)
        profiles = {k: v for k, v in self.profiles.items() if k != name}
        default = None if self.default_profile == name else self.default_profile
        return dataclasses.replace(self, profiles=profiles, default_profile=default)

    def dumps(self) -> str:
        """The file's TOML text."""
        lines = ["# qlikauth profiles. Secrets are references: keyring:NAME or env:VAR.", ""]
        if self.default_profile is not None:
            lines += [f"default_profile = {_toml_value(self.default_profile)}", ""]
        for name in sorted(self.profiles):
            lines += [*profile_toml(name, self.profiles[name].to_table()), ""]
        for name in sorted(self.tables):
            lines += [*table_toml(name, self.tables[name]), ""]
        return "\n".join(lines)

    def save(self) -> None:
        """Write the file atomically, readable by this user only (0600)."""
        text = self.dumps()
        tomllib.loads(text)  # never write what cannot be read back
        atomic_write(self.path, text.encode("utf-8"), mode=0o600)


def profile_toml(name: str, table: Mapping[str, Any]) -> list[str]:
    """The lines of ``[profiles.NAME]`` (and its ``.auth`` table) for a profile's table."""
    settings = dict(table)
    auth = settings.pop("auth", None)
    lines = [f"[profiles.{name}]", *(toml_assignment(k, v) for k, v in settings.items())]
    if auth:
        lines += ["", f"[profiles.{name}.auth]", *(toml_assignment(k, v) for k, v in auth.items())]
    return lines


def table_toml(name: str, table: Mapping[str, Any], *, array: bool = False) -> list[str]:
    """The lines of the table ``[name]`` (``[[name]]`` for an ``array`` item), its tables
    and arrays of tables below it."""
    lines = [f"[[{name}]]" if array else f"[{name}]"]
    nested: list[str] = []
    for key, value in table.items():
        below = f"{name}.{_toml_key(key)}"
        if isinstance(value, Mapping):
            nested += ["", *table_toml(below, value)]
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for item in value:
                nested += ["", *table_toml(below, item, array=True)]
        else:
            lines.append(toml_assignment(key, value))
    return lines + nested


def toml_assignment(key: str, value: Any) -> str:
    """``key = value`` as a line of TOML (strings quoted and escaped)."""
    return f"{_toml_key(key)} = {_toml_value(value)}"


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def _toml_string(value: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f"}
    escapes["\r"] = "\\r"
    out = []
    for char in value:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise ConfigurationError(f"cannot write {type(value).__name__} to TOML")


# --------------------------------------------------------------------------- resolving


@dataclass(frozen=True)
class Options:
    """What the command line says; ``None`` (or ``False``) leaves the lower layers alone."""

    server: str | None = None
    prefix: str | None = None
    cookie_name: str | None = None
    certs: str | None = None
    root: str | None = None
    insecure: bool = False
    timeout: float | None = None
    authenticator: str | None = None
    auth: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Resolved:
    """A profile after environment and options: the site, the authenticator, the rest.

    ``authenticator`` is ``None`` when no authenticator is configured (commands that only
    use QPS with the client certificate need none). ``sources`` says where each setting
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


def _pick_profile(config: ConfigFile, name: str | None, env: Mapping[str, str]) -> Profile:
    if name:
        return config.profile(name)
    from_env = env.get(PROFILE_ENV)
    if from_env:
        return config.profile(from_env)
    if config.default_profile is not None:
        return config.profile(config.default_profile)
    if len(config.profiles) == 1:
        return next(iter(config.profiles.values()))
    return Profile(name="")


def _layer(
    profile: Profile, config_path: Path, env: Mapping[str, str], options: Options
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """Merge profile < environment < options; return site values, auth settings, sources."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    file_where = f"{config_path}: profile {profile.name!r}: key"
    for key, value in profile.values().items():
        values[key], sources[key] = value, f"{file_where} {key!r}"
    auth: dict[str, Any] = dict(profile.auth)
    for key in profile.auth:
        sources[f"auth.{key}"] = f"{file_where} 'auth.{key}'"
    for var, key in ENVIRONMENT.items():
        raw = env.get(var)
        if raw is None or raw == "":
            continue
        sources[key] = f"environment variable {var}"
        values[key] = _from_env(key, raw, sources[key])
    for var, raw in env.items():
        if var in ENVIRONMENT:  # QLIKAUTH_AUTH_PORT is the port, not a setting "port"
            continue
        if var.startswith(AUTH_ENV_PREFIX) and len(var) > len(AUTH_ENV_PREFIX):
            setting = var[len(AUTH_ENV_PREFIX) :].lower()
            auth[setting] = raw
            sources[f"auth.{setting}"] = f"environment variable {var}"
    for key in ("server", "prefix", "cookie_name", "certs", "root", "timeout", "authenticator"):
        value = getattr(options, key)
        if value is not None:
            values[key], sources[key] = value, f"option --{key.replace('_', '-')}"
    if options.insecure:
        values["verify"], sources["verify"] = False, "option --insecure"
    for key, value in options.auth.items():
        auth[key], sources[f"auth.{key}"] = value, f"option for auth setting {key!r}"
    return values, auth, sources


def _from_env(key: str, raw: str, where: str) -> Any:
    kind = _KEYS[key].kind
    if kind == "port":
        try:
            number: Any = int(raw)
        except ValueError:
            number = raw
        return _check_value(key, kind, number, lambda _k: where)
    if kind == "float":
        try:
            return _check_value(key, kind, float(raw), lambda _k: where)
        except ValueError:
            return _check_value(key, kind, raw, lambda _k: where)
    return raw


def _secret(value: str, key: str, sources: Mapping[str, str], env: Mapping[str, str]) -> str:
    """A secret setting's value: references resolved; environment values used as they are."""
    if is_reference(value):
        return resolve_secret(value, env=env, where=sources.get(key, key))
    return value


def _blame(error: QlikAuthError, where: str) -> ConfigurationError:
    return ConfigurationError(f"{where}: {error.message}", hint=error.hint)


#: How a profile (or the environment) gives the password of a PFX or an encrypted key.
_PFX_ADVICE = (
    'Give it in the profile as certs_password = "env:VAR" or certs_password = "keyring:NAME" '
    "(qlikauth profile add NAME --prompt-secret certs_password stores it in the keyring), or "
    "in the environment variable QLIKAUTH_CERTS_PASSWORD; it is the password typed when "
    "exporting from the QMC. Never put it on a command line."
)


def _asks_for_password(error: TLSError) -> bool:
    """Whether the certificate files failed to load only for want of a password."""
    return "needs its password" in error.message or "give its passphrase" in error.message


def _build_tls(
    values: Mapping[str, Any], sources: Mapping[str, str], env: Mapping[str, str]
) -> TlsConfig:
    password = values.get("certs_password")
    if password is not None:
        password = _secret(password, "certs_password", sources, env)
    bundle: CertificateBundle | None = None
    certs = values.get("certs")
    if certs:
        try:
            bundle = CertificateBundle.from_folder(Path(certs).expanduser(), passphrase=password)
        except TLSError as exc:
            exc.message = f"{sources['certs']}: {exc.message}"
            if password is None and _asks_for_password(exc):
                exc.hint = _PFX_ADVICE
            raise
    root = values.get("root")
    try:
        return TlsConfig(
            root=Path(root).expanduser() if root else None,
            bundle=bundle,
            verify=values.get("verify", True) is not False,
        )
    except TLSError as exc:
        exc.message = f"{sources.get('root', 'root')}: {exc.message}"
        raise


def _build_site(
    values: Mapping[str, Any], sources: Mapping[str, str], tls: TlsConfig, profile: Profile
) -> Site:
    server = values.get("server")
    if not server:
        where = f"profile {profile.name!r}" if profile.name else "no profile was chosen and"
        raise ConfigurationError(
            f"{where} no server is set",
            hint="Pass --server HOST, set QLIKAUTH_SERVER, or choose a profile with "
            "--profile (qlikauth profile list).",
        )
    prefix = values.get("prefix", "")
    cookie_name = values.get("cookie_name") or None
    try:
        VirtualProxy(prefix)
    except ConfigurationError as exc:
        raise _blame(exc, sources["prefix"]) from None
    try:
        vp = VirtualProxy(prefix, cookie_name)
    except ConfigurationError as exc:
        raise _blame(exc, sources["cookie_name"]) from None
    scheme = values.get("scheme", "https")
    if scheme not in ("https", "http"):
        raise ConfigurationError(
            f"{sources['scheme']}: scheme must be 'https' or 'http', not {scheme!r}",
            hint="Qlik Sense serves https unless plain http was enabled on the proxy.",
        )
    ports = {k: values[k] for k in _PORTS if k in values}
    try:
        Site(host=server)
    except ConfigurationError as exc:
        raise _blame(exc, sources["server"]) from None
    origin = values.get("websocket_origin") or None
    try:
        return Site(
            host=server, virtual_proxy=vp, scheme=scheme, tls=tls, websocket_origin=origin, **ports
        )
    except ConfigurationError as exc:
        if origin is None:
            raise
        raise _blame(exc, sources["websocket_origin"]) from None


def _resolve_references(
    settings: Mapping[str, Any], sources: Mapping[str, str], env: Mapping[str, str]
) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    for key, value in settings.items():
        where = sources.get(f"auth.{key}", key)
        if isinstance(value, str) and is_reference(value):
            resolved[key] = resolve_secret(value, env=env, where=where)
        elif isinstance(value, dict):
            resolved[key] = {
                k: resolve_secret(v, env=env, where=f"{where}: {k}")
                if isinstance(v, str) and is_reference(v)
                else v
                for k, v in value.items()
            }
        else:
            resolved[key] = value
    return resolved


def missing_settings(name: str, settings: Mapping[str, Any]) -> list[str]:
    """The settings the authenticator ``name`` requires (no default) that ``settings`` lacks.

    Empty when ``settings`` also holds a name the constructor does not take: that mistake
    is the one to report first (the constructor does).
    """
    from qlikauth.auth.base import get_authenticator

    try:
        parameters = inspect.signature(get_authenticator(name)).parameters.values()
    except (TypeError, ValueError):
        return []  # not introspectable: the constructor itself says what is wrong
    required_positional = [
        p.name
        for p in parameters
        if p.kind is inspect.Parameter.POSITIONAL_ONLY and p.default is inspect.Parameter.empty
    ]
    if required_positional:
        raise ConfigurationError(
            f"the {name!r} authenticator cannot be configured by named settings: its "
            f"constructor takes {', '.join(required_positional)} by position only",
            hint="Build it in Python and pass it to QlikClient, or ask its author to make "
            "the parameter a keyword.",
        )
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    named = {p.name for p in parameters if p.kind in kinds}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    if not takes_any and not set(settings) <= named:
        return []
    return [
        p.name
        for p in parameters
        if p.kind in kinds and p.default is inspect.Parameter.empty and p.name not in settings
    ]


def _missing_settings_error(
    name: str, missing: list[str], profile: Profile, config_path: Path
) -> MissingSettingsError:
    where = f"{config_path}: profile {profile.name!r}: " if profile.name else ""
    quoted = ", ".join(repr(k) for k in missing)
    table = f"[profiles.{profile.name or 'NAME'}.auth]"
    ways = []
    for key in missing:
        if is_secret_key(key):
            way = f'{key} = "env:VAR" or {key} = "keyring:NAME" under {table}'
        else:
            way = f"{key} = ... under {table}"
        if key == key.lower():  # environment names are read in lower case
            way += f", or the environment variable {AUTH_ENV_PREFIX}{key.upper()}"
        ways.append(way)
    plural = "s" if len(missing) > 1 else ""
    return MissingSettingsError(
        f"{where}the {name!r} authenticator needs the setting{plural} {quoted}, which "
        f"{'are' if plural else 'is'} not given",
        settings=missing,
        hint="Give " + "; ".join(ways) + ".",
    )


def _build_authenticator(
    name: str | None,
    settings: Mapping[str, Any],
    sources: Mapping[str, str],
    env: Mapping[str, str],
    profile: Profile,
    config_path: Path,
) -> Authenticator | None:
    if not name:
        if settings:
            keys = ", ".join(sorted(settings))
            raise ConfigurationError(
                f"authenticator settings ({keys}) are given but no authenticator",
                hint="Set authenticator = NAME in the profile (or QLIKAUTH_AUTHENTICATOR).",
            )
        return None
    from qlikauth.auth.base import create_authenticator

    try:
        missing = missing_settings(name, settings)
    except ConfigurationError as exc:  # an unknown authenticator
        raise _blame(exc, sources.get("authenticator", "authenticator")) from None
    if missing:
        raise _missing_settings_error(name, missing, profile, config_path)
    resolved = _resolve_references(settings, sources, env)
    try:
        return create_authenticator(name, **resolved)
    except ConfigurationError as exc:
        raise _blame(exc, sources.get("authenticator", "authenticator")) from None


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
    chosen = _pick_profile(file, profile, environ)
    values, auth, sources = _layer(chosen, file.path, environ, options or Options())
    tls = _build_tls(values, sources, environ)
    site = _build_site(values, sources, tls, chosen)
    authenticator = None
    if with_authenticator:
        authenticator = _build_authenticator(
            values.get("authenticator"), auth, sources, environ, chosen, file.path
        )
    timeout = float(values.get("timeout", 30.0))
    return Resolved(chosen, site, authenticator, timeout, MappingProxyType(sources), file.path)


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
    chosen = _pick_profile(file, profile, environ)
    values, auth, sources = _layer(chosen, file.path, environ, options or Options())
    if not resolve_references:
        return values.get("authenticator"), auth
    return values.get("authenticator"), _resolve_references(auth, sources, environ)


def profile_from_settings(name: str, settings: Iterable[tuple[str, Any]]) -> Profile:
    """A :class:`Profile` from ``(key, value)`` pairs; ``auth.X`` keys become auth settings."""
    values: dict[str, Any] = {}
    auth: dict[str, Any] = {}
    for key, value in settings:
        if key.startswith("auth."):
            auth[key[5:]] = value
        else:
            values[key] = value
    return Profile(name=name, auth=auth, **values)


def emulator_profile_settings(
    info: Mapping[str, Any], prefix: str | None = None, *, http: bool = False
) -> dict[str, Any]:
    """Profile settings for a running emulator, from its info file: server, ports, certs.

    ``info`` is the parsed JSON the emulator writes (``qlikauth emulator --info-file``).
    With ``prefix`` the settings also name that virtual proxy and its cookie name; ``http``
    reaches the proxy and the login module over plain http (the emulator must run with
    ``--allow-http``). A relative certificate folder is taken from the current folder.
    """
    not_info = ConfigurationError(
        "not an emulator info file (it needs host, the ports of every listener, certs_dir "
        "and virtual_proxies with prefix and cookie_name)",
        hint="Name the JSON file qlikauth emulator writes (--info-file, or "
        "STATE_DIR/emulator.json).",
    )
    try:
        host = str(info["host"])
        ports = {str(name): int(port) for name, port in dict(info["ports"]).items()}
        certs = Path(info["certs_dir"])
        cookies = {str(vp["prefix"]): str(vp["cookie_name"]) for vp in info["virtual_proxies"]}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise not_info from None
    if not {"proxy", "qps", "qrs", "engine", "auth"} <= set(ports):
        raise not_info
    settings: dict[str, Any] = {"server": host}
    if prefix is not None:
        if prefix not in cookies:
            raise ConfigurationError(
                f"the emulator has no virtual proxy with prefix {prefix!r}",
                hint="Known prefixes: " + ", ".join(repr(known) for known in cookies),
            )
        settings.update(prefix=prefix, cookie_name=cookies[prefix])
    if http and "proxy_http" not in ports:
        raise ConfigurationError(
            "the emulator serves no plain http",
            hint="Start it with --allow-http (or allow_http = true in its configuration).",
        )
    if http:
        settings["scheme"] = "http"
    settings.update(
        proxy_port=ports["proxy_http" if http else "proxy"],
        qps_port=ports["qps"],
        qrs_port=ports["qrs"],
        engine_port=ports["engine"],
        auth_port=ports["auth_http" if http else "auth"],
        certs=str(certs if certs.is_absolute() else Path.cwd() / certs),
    )
    return settings


def site_from_emulator(
    info: Mapping[str, Any],
    prefix: str = "",
    *,
    client_certificate: bool = True,
    http: bool = False,
) -> Site:
    """A :class:`Site` for one virtual proxy of a running emulator, from its info file.

    ``info`` is the parsed JSON the emulator writes (``qlikauth emulator --info-file``). The
    site trusts the emulator's root and, unless ``client_certificate`` is false, presents
    its client certificate on the trusted ports. ``http`` reaches the proxy and the login
    module over plain http (the emulator must run with ``allow_http``).
    """
    settings = emulator_profile_settings(info, prefix, http=http)
    certs = Path(settings["certs"])
    if client_certificate:
        tls = TlsConfig(bundle=CertificateBundle.from_folder(certs))
    else:
        tls = TlsConfig(root=certs / "root.pem")
    return Site(
        settings["server"],
        VirtualProxy(prefix, settings["cookie_name"]),
        scheme=settings.get("scheme", "https"),
        tls=tls,
        **{port: settings[port] for port in _PORTS},
    )
