"""What the broker is configured with, once read: routes to Qlik, limits, TLS, secrets.

:mod:`qlikauth.broker.config` reads these from the ``[broker]`` table of the profile file;
everything here is already checked and has its secrets resolved (and kept out of reprs).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from qlikauth.errors import CertificateFileError, CertificateMismatchError
from qlikauth.site import Site
from qlikauth.validators import ValidatedUser, Validator

__all__ = [
    "AttributeMapping",
    "BrokerSettings",
    "IpNetwork",
    "LimitSettings",
    "VirtualProxyRoute",
]

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class LimitSettings:
    """How many logins may fail before the broker stops asking the directory.

    ``per_user`` wrong passwords for one user name (in whatever form it was typed), and
    ``per_address`` failed logins from one client address, within ``window`` seconds; then
    that user or address is refused until the window ends. Keep ``per_user`` below the
    domain's account lockout threshold and ``window`` at least its "reset account lockout
    counter after" time: no one can then lock a real user out through the broker.
    """

    per_user: int = 3
    per_address: int = 30
    window: float = 900.0


@dataclass(frozen=True)
class AttributeMapping:
    """How a validated user's groups and attributes become ticket attributes.

    Each group whose name matches one of ``groups`` (shell patterns, any case) becomes a
    ``group_attribute`` attribute (none when it is empty); the validator's other attributes
    keep their names unless ``rename`` maps them to another (an empty name drops one).
    """

    group_attribute: str = "Group"
    groups: tuple[str, ...] = ("*",)
    rename: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rename", MappingProxyType(dict(self.rename)))

    def pairs(self, user: ValidatedUser) -> list[tuple[str, str]]:
        """The ticket's ``(name, value)`` attributes for ``user``: groups first."""
        pairs: list[tuple[str, str]] = []
        if self.group_attribute:
            pairs += [
                (self.group_attribute, group)
                for group in user.groups
                if any(fnmatch.fnmatchcase(group.casefold(), p.casefold()) for p in self.groups)
            ]
        for name, value in user.attributes:
            renamed = self.rename.get(name, name)
            if renamed:
                pairs.append((renamed, value))
        return pairs


def _same_base(url: str, base: str) -> bool:
    """Whether two QPS base URLs are the same: scheme, host (any case), port and path."""
    try:
        ours, theirs = urlsplit(base), urlsplit(url)
        their_port = theirs.port
    except ValueError:
        return False
    if theirs.username or theirs.password or theirs.query or theirs.fragment:
        return False
    return (
        theirs.scheme == "https"
        and theirs.hostname == ours.hostname
        and (their_port or 443) == (ours.port or 443)
        and theirs.path.rstrip("/") == ours.path.rstrip("/")
    )


@dataclass(frozen=True)
class VirtualProxyRoute:
    """One ticket virtual proxy the broker logs users in to.

    ``nodes`` are the site as seen through each proxy node (the first is the profile's
    server): a ticket is requested from the QPS of the node whose proxy sent the browser,
    named by ``proxyRestUri``. ``proxy_names`` are further names a ``TargetUri`` may use
    (a load balancer, a DNS alias).
    """

    name: str
    nodes: tuple[Site, ...]
    proxy_names: tuple[str, ...] = ()

    @property
    def prefix(self) -> str:
        """The virtual proxy's prefix."""
        return self.nodes[0].prefix

    @property
    def home(self) -> Site:
        """The node a login without a ``targetId`` gets its ticket from (and its hub)."""
        return self.nodes[0]

    def qps_bases(self) -> list[str]:
        """The ``proxyRestUri`` each node sends: ``https://node:4243/qps/{prefix}/``."""
        return [node.qps_url("").rstrip("/") + "/" for node in self.nodes]

    def node_for(self, proxy_rest_uri: str) -> Site | None:
        """The node whose QPS base ``proxy_rest_uri`` is, or ``None``."""
        for node, base in zip(self.nodes, self.qps_bases(), strict=True):
            if _same_base(proxy_rest_uri, base):
                return node
        return None

    def origins(self) -> list[str]:
        """Where the login form's answer may send the browser (the CSP ``form-action``)."""
        found = [node.origin for node in self.nodes]
        for name in self.proxy_names:
            scheme = self.home.scheme
            found.append(f"{scheme}://{name}")
            if ":" not in name:
                found.append(f"{scheme}://{name}:{self.home.proxy_port}")
        return list(dict.fromkeys(found))


def _load_chain(certificate: Path, key: Path, password: str | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for path in (certificate, key):
        if not path.is_file():
            raise CertificateFileError(
                f"the broker's TLS file {path} does not exist",
                hint="certificate and key are PEM files: the certificate (with its chain) "
                "the browsers trust for the broker's name, and its private key",
            )
    try:
        context.load_cert_chain(certificate, key, password)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise CertificateMismatchError(
                f"the key {key} does not belong to the certificate {certificate}",
                hint="give the private key made together with the broker's certificate",
            ) from None
        raise CertificateFileError(
            f"cannot load the broker's TLS certificate {certificate} and key {key}: "
            f"{exc.reason or exc}",
            hint="both must be PEM; an encrypted key needs key_password",
        ) from None
    return context


@dataclass(frozen=True)
class BrokerSettings:
    """Everything the broker runs with; secrets resolved, and hidden from its repr.

    ``routes[0]`` is where a visit without ``targetId`` logs in. ``secret`` signs the
    login forms and names the rate-limit keys: give every instance the same one.
    """

    routes: tuple[VirtualProxyRoute, ...]
    validator: Validator
    secret: bytes = field(repr=False)
    host: str = "0.0.0.0"  # noqa: S104 - browsers reach the broker over the network
    port: int = 8443
    tls: bool = True
    certificate: Path | None = None
    key: Path | None = None
    key_password: str | None = field(default=None, repr=False)
    redis_url: str | None = field(default=None, repr=False)
    audit_log: str = "-"
    trusted_proxies: tuple[IpNetwork, ...] = ()
    limits: LimitSettings = field(default_factory=LimitSettings)
    attributes: AttributeMapping = field(default_factory=AttributeMapping)
    answer_time: float = 1.0
    form_lifetime: float = 600.0
    title: str = "Qlik Sense"
    workers: int = 8
    source: Path | None = None

    @property
    def default_route(self) -> VirtualProxyRoute:
        """The route of a visit without ``targetId``."""
        return self.routes[0]

    def server_context(self) -> ssl.SSLContext | None:
        """The TLS context to serve with (``None`` with ``tls = false``)."""
        if not self.tls:
            return None
        assert self.certificate is not None and self.key is not None  # the reader checks
        return _load_chain(self.certificate, self.key, self.key_password)

    def trusts(self, address: str) -> bool:
        """Whether ``address`` is a reverse proxy whose ``X-Forwarded-*`` headers count."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted_proxies)

    def form_origins(self) -> list[str]:
        """Every origin a login may end on, over all routes."""
        return list(dict.fromkeys(o for route in self.routes for o in route.origins()))
