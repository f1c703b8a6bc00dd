"""Which login a request is for: the ``targetId`` and ``proxyRestUri`` a proxy sent.

A Qlik Sense ticket virtual proxy sends an unauthenticated browser to the broker with both
(qlik-protocol.md §2.3, §2.5). ``proxyRestUri`` says where the broker would present its
QPS client certificate, so it is taken only when it is the QPS base of a configured proxy
node; anything else is refused before any connection is made. A visit with neither logs in
to the default virtual proxy and ends on its hub.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qlikauth.broker.settings import BrokerSettings, VirtualProxyRoute
from qlikauth.site import Site

__all__ = ["LoginTarget", "Refusal", "login_target"]

# Qlik's targetIds are GUIDs; allow any short run of URL-safe characters, nothing else.
_TARGET_ID = re.compile(r"[A-Za-z0-9._~-]{1,128}")


@dataclass(frozen=True)
class LoginTarget:
    """The virtual proxy and node a login is for, and the ``targetId`` to ticket with."""

    route: VirtualProxyRoute
    node: Site
    target_id: str | None = None
    proxy_rest_uri: str | None = None

    @property
    def binding(self) -> str:
        """What a login form's token is bound to."""
        return f"{self.route.name}\n{self.proxy_rest_uri or ''}\n{self.target_id or ''}"


@dataclass(frozen=True)
class Refusal:
    """Why a request cannot lead to a login: ``reason`` for the audit, ``message`` for
    the person."""

    reason: str
    message: str


_NOT_OURS = Refusal(
    "unknown_proxy_rest_uri",
    "This login link does not come from a Qlik Sense server this login page serves.",
)


def login_target(
    settings: BrokerSettings, target_ids: Sequence[str], proxy_rest_uris: Sequence[str]
) -> LoginTarget | Refusal:
    """The login the request's parameters (every value given for each) ask for."""
    if not target_ids and not proxy_rest_uris:
        route = settings.default_route
        return LoginTarget(route, route.home)
    if len(proxy_rest_uris) != 1:
        # Without proxyRestUri a targetId cannot be ticketed on the node that made it.
        return _NOT_OURS
    proxy_rest_uri = proxy_rest_uris[0]
    found = next(
        (
            (route, node)
            for route in settings.routes
            if (node := route.node_for(proxy_rest_uri)) is not None
        ),
        None,
    )
    if found is None:
        return _NOT_OURS
    if not target_ids:
        return Refusal("missing_target_id", "This login link is incomplete: it names no target.")
    if len(target_ids) != 1 or not _TARGET_ID.fullmatch(target_ids[0]):
        return Refusal(
            "malformed_target_id", "This login link is damaged: its target is not valid."
        )
    route, node = found
    return LoginTarget(route, node, target_ids[0], proxy_rest_uri)
