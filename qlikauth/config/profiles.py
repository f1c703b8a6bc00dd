"""The configuration file: where it is, its profiles as checked values, and saving it.

Reading checks every key (and refuses a secret in plain text) with the file, profile and key
named in the error. Saving edits the file's own text (:mod:`qlikauth.config.toml_edit`), so
the user's comments and layout survive, and writes it atomically, readable by its owner only.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from qlikauth._files import atomic_write
from qlikauth.config.references import redacted
from qlikauth.config.schema import (
    CONFIG_ENV,
    KEYS,
    check_auth_value,
    check_profile_name,
    check_value,
)
from qlikauth.config.toml_edit import NEW_FILE, Changes, edited, same, with_tables
from qlikauth.errors import ConfigurationError

__all__ = [
    "EXTENSION_TABLES",
    "ConfigFile",
    "Profile",
    "default_config_path",
    "profile_from_settings",
]

#: Top-level tables that other parts of qlikauth keep in this file (``[broker]``): kept as
#: they are when the file is edited; the part that owns a table checks it when it reads it.
EXTENSION_TABLES = ("broker",)


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
        return {k: getattr(self, k) for k in KEYS if getattr(self, k) is not None}

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
                auth[setting] = check_auth_value(
                    setting, setting_value, lambda k: where(f"auth.{k}")
                )
            continue
        if key not in KEYS:
            known = ", ".join([*KEYS, "auth"])
            raise ConfigurationError(f"{where(key)}: unknown key", hint=f"Known keys: {known}.")
        values[key] = check_value(key, value, where(key))
    password = values.get("certs_password")
    if password is not None:
        check_auth_value("certs_password", password, where)
    return Profile(name=name, auth=auth, **values)


@dataclass(frozen=True)
class ConfigFile:
    """The configuration file: its profiles and the default profile's name.

    ``text`` is the file as read (``None`` when there was none): :meth:`save` edits it, so
    only what changed changes in the file.
    """

    path: Path
    profiles: Mapping[str, Profile] = field(default_factory=dict)
    default_profile: str | None = None
    exists: bool = False
    text: str | None = field(default=None, repr=False, compare=False)
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
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigurationError(
                f"{file}: not valid TOML: {exc}",
                hint="Fix the syntax (strings in double quotes, [profiles.NAME] tables).",
            ) from None
        return cls._from_text(file, text)

    @classmethod
    def _from_text(cls, file: Path, text: str) -> ConfigFile:
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(
                f"{file}: not valid TOML: {exc}",
                hint="Fix the syntax (strings in double quotes, [profiles.NAME] tables).",
            ) from None
        return dataclasses.replace(cls._from_document(file, document), text=text)

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
                    check_profile_name(name, f"{file}: ")
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
        check_profile_name(profile.name, f"{self.path}: ")

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

    def with_default(self, name: str) -> ConfigFile:
        """A copy whose default profile is ``name`` (which must exist)."""
        self.profile(name)
        return dataclasses.replace(self, default_profile=name)

    def dumps(self) -> str:
        """The file's TOML text: the text as read, with only what changed changed."""
        before = (
            ConfigFile(self.path) if self.text is None else self._from_text(self.path, self.text)
        )
        changes = Changes.between(
            {name: p.to_table() for name, p in before.profiles.items()},
            {name: p.to_table() for name, p in self.profiles.items()},
            before.default_profile,
            self.default_profile,
        )
        tables = {
            name: table
            for name in {*before.tables, *self.tables}
            if not same(before.tables.get(name), table := self.tables.get(name))
        }
        for text in edited(NEW_FILE if self.text is None else self.text, changes):
            text = with_tables(text, tables) if tables else text
            if self._reads_back(text):
                return text
        raise ConfigurationError(  # a safety net: the whole-document edit reads back
            f"{self.path}: cannot change the file without changing what else it says",
            hint="Edit it by hand (qlikauth profile show prints a profile as TOML).",
        )

    def _reads_back(self, text: str) -> bool:
        """Whether ``text`` holds exactly this configuration."""
        try:
            again = self._from_text(self.path, text)
        except ConfigurationError:
            return False
        tables = {name: p.to_table() for name, p in self.profiles.items()}
        return (
            again.default_profile == self.default_profile
            and same({name: p.to_table() for name, p in again.profiles.items()}, tables)
            and same(dict(again.tables), dict(self.tables))
        )

    def save(self) -> None:
        """Write the file atomically, readable by this user only (0600)."""
        atomic_write(self.path, self.dumps().encode("utf-8"), mode=0o600)
