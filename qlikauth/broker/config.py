"""Read the broker's settings from the ``[broker]`` table of the profile file.

The same file holds the profiles (``qlikauth profile``); each virtual proxy the broker logs
users in to names a profile for the Qlik server, its ports and its QMC certificate export.
Secrets are references, ``env:VAR`` or ``keyring:NAME``, as everywhere in the file::

    [broker]
    port = 8443
    certificate = "/etc/qlikauth/broker/server.pem"
    key = "/etc/qlikauth/broker/server_key.pem"
    csrf_secret = "env:QLIKAUTH_BROKER_SECRET"     # the same on every instance
    redis_url = "redis://127.0.0.1:6379/0"        # optional: limits shared by instances
    audit_log = "/var/log/qlikauth/broker-audit.jsonl"
    trusted_proxies = ["10.0.0.5"]                 # may set X-Forwarded-For

    [broker.limits]
    per_user = 3
    per_address = 30
    window = 900

    [broker.validator]
    kind = "ldap"
    url = "ldaps://dc1.corp.example.com"
    ca_file = "/etc/qlikauth/broker/corp-root.pem"

    [broker.attributes]
    group_attribute = "Group"

    [[broker.virtual_proxies]]
    profile = "prod"                               # server, ports, certs, prefix
    nodes = ["qlik2.corp.example.com"]             # further proxy nodes
    proxy_names = ["qlik.corp.example.com"]        # a load balancer's name
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from qlikauth.broker.settings import (
    AttributeMapping,
    BrokerSettings,
    IpNetwork,
    LimitSettings,
    VirtualProxyRoute,
)
from qlikauth.config import ConfigFile, is_reference, is_secret_key, resolve, resolve_secret
from qlikauth.errors import ConfigurationError
from qlikauth.site import Site
from qlikauth.validators import Validator
from qlikauth.validators.registry import build_validator

__all__ = ["MIN_SECRET_LENGTH", "load_settings"]

#: The shortest ``csrf_secret`` accepted (characters).
MIN_SECRET_LENGTH = 32

_TOP = (
    "host",
    "port",
    "tls",
    "certificate",
    "key",
    "key_password",
    "csrf_secret",
    "redis_url",
    "audit_log",
    "trusted_proxies",
    "answer_time",
    "form_lifetime",
    "title",
    "workers",
    "limits",
    "attributes",
    "validator",
    "virtual_proxies",
)
_ROUTE = ("profile", "name", "prefix", "cookie_name", "nodes", "proxy_names")
_CSRF_ADVICE = (
    "Generate one (python3 -c 'import secrets; print(secrets.token_urlsafe(48))'), keep it "
    'in the keyring or the environment, and write csrf_secret = "env:VAR" (or '
    '"keyring:NAME"); every instance of the broker needs the same one.'
)


def load_settings(
    config: ConfigFile | Path | str | None = None, *, env: Mapping[str, str] | None = None
) -> BrokerSettings:
    """The broker's settings from the ``[broker]`` table of ``config`` (the default file
    when ``None``); references are resolved from ``env`` and the keyring."""
    environ = os.environ if env is None else env
    file = config if isinstance(config, ConfigFile) else ConfigFile.load(config, env=environ)
    table = file.tables.get("broker")
    if table is None:
        raise ConfigurationError(
            f"{file.path}: no [broker] table",
            hint="Add one with csrf_secret, [broker.validator] and [[broker.virtual_proxies]] "
            "naming a profile (see docs/broker.md).",
        )
    return _Reader(file, environ).read(table)


class _Reader:
    def __init__(self, file: ConfigFile, env: Mapping[str, str]) -> None:
        self.file = file
        self.env = env

    def where(self, key: str) -> str:
        return f"{self.file.path}: [broker] key {key!r}"

    def fail(self, key: str, problem: str, hint: str) -> ConfigurationError:
        return ConfigurationError(f"{self.where(key)} {problem}", hint=hint)

    # -- values ---------------------------------------------------------------------------

    def get(self, table: Mapping[str, Any], key: str, kind: type, default: Any, path: str) -> Any:
        value = table.get(key, default)
        if value is None or (isinstance(value, kind) and not isinstance(value, bool)):
            return value
        if kind is bool and isinstance(value, bool):
            return value
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        raise self.fail(
            path, f"must be {kind.__name__}, not {type(value).__name__}", "Check its type."
        )

    def number(
        self, table: Mapping[str, Any], key: str, default: float, path: str, *, minimum: float
    ) -> float:
        value = float(self.get(table, key, float, default, path))
        if not math.isfinite(value) or value < minimum:
            raise self.fail(path, f"must be a number of at least {minimum:g}", f"{key} = 3")
        return value

    def whole(self, table: Mapping[str, Any], key: str, default: int, path: str) -> int:
        value = self.get(table, key, int, default, path)
        if value < 1:
            raise self.fail(path, "must be at least 1", f"{key} = 3")
        return int(value)

    def strings(self, table: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(path, "must be a list of strings", f'{key} = ["..."]')
        return tuple(value)

    def secret(self, table: Mapping[str, Any], key: str, path: str) -> str | None:
        value = table.get(key)
        if value is None:
            return None
        if not is_reference(value):
            raise self.fail(
                path,
                "holds a secret in plain text; secrets are never stored in this file",
                f'Write {key} = "env:VAR" or {key} = "keyring:NAME".',
            )
        return resolve_secret(value, env=self.env, where=self.where(path))

    def check_keys(self, table: Mapping[str, Any], known: tuple[str, ...], path: str) -> None:
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise ConfigurationError(
                f"{self.file.path}: [{path}] has unknown key(s) {', '.join(unknown)}",
                hint="Known keys: " + ", ".join(known) + ".",
            )

    def table(self, parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = parent.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table", f"Write [broker.{key}].")
        return value

    # -- the whole table ---------------------------------------------------------------

    def read(self, table: Mapping[str, Any]) -> BrokerSettings:
        self.check_keys(table, _TOP, "broker")
        secret = self.secret(table, "csrf_secret", "csrf_secret")
        if secret is None or len(secret) < MIN_SECRET_LENGTH:
            problem = "is missing" if secret is None else f"is shorter than {MIN_SECRET_LENGTH}"
            raise self.fail("csrf_secret", problem, _CSRF_ADVICE)
        tls = bool(self.get(table, "tls", bool, True, "tls"))
        certificate, key = (self.path(table, name) for name in ("certificate", "key"))
        if tls and (certificate is None or key is None):
            raise ConfigurationError(
                f"{self.file.path}: [broker] serves TLS, but certificate and key are not set",
                hint="Give certificate and key (PEM files), or set tls = false only when a "
                "reverse proxy in front of the broker terminates TLS.",
            )
        port = self.get(table, "port", int, 8443, "port")
        if not 0 <= port < 65536:
            raise self.fail("port", "must be a port number (0: any free one)", "port = 8443")
        routes = self.routes(table.get("virtual_proxies"))
        settings = BrokerSettings(
            routes=routes,
            validator=self.validator(self.table(table, "validator"), routes[0].home),
            secret=secret.encode("utf-8"),
            host=self.get(table, "host", str, "0.0.0.0", "host"),  # noqa: S104
            port=port,
            tls=tls,
            certificate=certificate,
            key=key,
            key_password=self.secret(table, "key_password", "key_password"),
            redis_url=self.redis_url(table.get("redis_url")),
            audit_log=self.get(table, "audit_log", str, "-", "audit_log"),
            trusted_proxies=self.networks(table),
            limits=self.limits(self.table(table, "limits")),
            attributes=self.attributes(self.table(table, "attributes")),
            answer_time=self.number(table, "answer_time", 1.0, "answer_time", minimum=0),
            form_lifetime=self.number(table, "form_lifetime", 600.0, "form_lifetime", minimum=10),
            title=self.get(table, "title", str, "Qlik Sense", "title"),
            workers=self.whole(table, "workers", 8, "workers"),
            source=self.file.path,
        )
        settings.server_context()  # a TLS file that does not load is a configuration error
        return settings

    def path(self, table: Mapping[str, Any], key: str) -> Path | None:
        value = self.get(table, key, str, None, key)
        if value is None:
            return None
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = self.file.path.parent / path
        return path

    def redis_url(self, value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail("redis_url", "must be a string", 'redis_url = "redis://host:6379/0"')
        if is_reference(value):
            value = resolve_secret(value, env=self.env, where=self.where("redis_url"))
        elif urlsplit(value).password:
            raise self.fail(
                "redis_url",
                "holds a password in plain text",
                'Put the whole URL in the environment or keyring: redis_url = "env:VAR".',
            )
        if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise self.fail(
                "redis_url", "is not a Redis URL", "redis://host:6379/0 or rediss://..."
            )
        return value

    def networks(self, table: Mapping[str, Any]) -> tuple[IpNetwork, ...]:
        networks: list[IpNetwork] = []
        for text in self.strings(table, "trusted_proxies", "trusted_proxies"):
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise self.fail(
                    "trusted_proxies",
                    f"holds {text!r}, which is not an address or network",
                    'Write addresses such as "10.0.0.5" or "10.0.0.0/24".',
                ) from None
        return tuple(networks)

    def limits(self, table: Mapping[str, Any]) -> LimitSettings:
        self.check_keys(table, ("per_user", "per_address", "window"), "broker.limits")
        return LimitSettings(
            per_user=self.whole(table, "per_user", 3, "limits.per_user"),
            per_address=self.whole(table, "per_address", 30, "limits.per_address"),
            window=self.number(table, "window", 900.0, "limits.window", minimum=1),
        )

    def attributes(self, table: Mapping[str, Any]) -> AttributeMapping:
        self.check_keys(table, ("group_attribute", "groups", "rename"), "broker.attributes")
        rename = table.get("rename", {})
        if not isinstance(rename, dict) or not all(isinstance(v, str) for v in rename.values()):
            raise self.fail("attributes.rename", "must be a table of names", "{ mail = 'Email' }")
        groups = self.strings(table, "groups", "attributes.groups") if "groups" in table else None
        return AttributeMapping(
            group_attribute=self.get(table, "group_attribute", str, "Group", "group_attribute"),
            groups=groups if groups is not None else ("*",),
            rename=rename,
        )

    def validator(self, table: Mapping[str, Any], site: Site) -> Validator:
        if not table:
            raise self.fail(
                "validator",
                "is missing",
                'Add [broker.validator] with kind = "ldap", url and ca_file (see docs/broker.md).',
            )
        settings: dict[str, Any] = {}
        for key, value in table.items():
            if is_reference(value):
                settings[key] = resolve_secret(value, env=self.env, where=self.where(key))
            elif is_secret_key(key) and isinstance(value, str):
                self.secret(table, key, f"validator.{key}")  # raises: not a reference
            else:
                settings[key] = value
        for key in ("ca_file",):
            if isinstance(settings.get(key), str):
                settings[key] = str(self.file.path.parent / Path(settings[key]).expanduser())
        try:
            return build_validator(settings, site)
        except ConfigurationError as exc:
            raise ConfigurationError(
                f"{self.where('validator')}: {exc.message}", hint=exc.hint
            ) from None

    # -- virtual proxies -----------------------------------------------------------------

    def routes(self, value: Any) -> tuple[VirtualProxyRoute, ...]:
        if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
            raise self.fail(
                "virtual_proxies",
                "must hold at least one [[broker.virtual_proxies]] table",
                'Write [[broker.virtual_proxies]] with profile = "NAME" (a profile of this '
                "file with the server and its QMC certificate export).",
            )
        routes = [self.route(table, n) for n, table in enumerate(value)]
        names = [route.name for route in routes]
        if len(set(names)) != len(names):
            raise self.fail("virtual_proxies", "name two routes alike", "Give each a name.")
        return tuple(routes)

    def route(self, table: Mapping[str, Any], index: int) -> VirtualProxyRoute:
        path = f"broker.virtual_proxies[{index}]"
        self.check_keys(table, _ROUTE, path)
        profile = table.get("profile")
        if not isinstance(profile, str) or not profile:
            raise ConfigurationError(
                f"{self.file.path}: [{path}] names no profile",
                hint='Write profile = "NAME": the profile with the server and its certificates.',
            )
        site = resolve(profile, config=self.file, env=self.env, with_authenticator=False).site
        if site.tls.bundle is None:
            raise ConfigurationError(
                f"{self.file.path}: profile {profile!r} has no client certificate",
                hint="The broker asks QPS for tickets with the QMC certificate export: set "
                "certs in the profile.",
            )
        prefix = self.get(table, "prefix", str, site.prefix, f"{path}.prefix")
        cookie = self.get(
            table, "cookie_name", str, site.virtual_proxy.cookie_name, f"{path}.cookie_name"
        )
        if prefix != site.prefix or cookie != site.virtual_proxy.cookie_name:
            site = site.with_prefix(prefix, cookie)
        nodes = [
            site,
            *(self.node(site, text, path) for text in self.strings(table, "nodes", path)),
        ]
        name = self.get(table, "name", str, f"{site.host}/{prefix}", f"{path}.name")
        names = self.strings(table, "proxy_names", f"{path}.proxy_names")
        return VirtualProxyRoute(name=name, nodes=tuple(nodes), proxy_names=names)

    def node(self, site: Site, text: str, path: str) -> Site:
        try:
            parts = urlsplit(f"//{text}")
            port = parts.port
        except ValueError:
            port, parts = None, urlsplit("//")
        if not parts.hostname or parts.path or parts.username:
            raise ConfigurationError(
                f"{self.file.path}: [{path}] node {text!r} is not a host name",
                hint='A node is "host" or "host:qps_port", e.g. "qlik2.corp.example.com".',
            )
        return dataclasses.replace(site, host=parts.hostname, qps_port=port or site.qps_port)
