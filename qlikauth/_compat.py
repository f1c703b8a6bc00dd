"""Names kept for one release after they moved or were replaced; each warns when used."""

from __future__ import annotations

import warnings

from qlikauth.http.transport import HttpTransport
from qlikauth.identity import QlikUser
from qlikauth.qps import Attributes, QpsClient, Ticket
from qlikauth.site import Site

__all__ = ["issue_ticket"]


def issue_ticket(
    site: Site,
    user: QlikUser | str,
    *,
    attributes: Attributes = None,
    target_id: str | None = None,
    transport: HttpTransport | None = None,
) -> Ticket:
    """Deprecated: ``QpsClient(site).issue_ticket(user, ...)`` is the one way to issue one."""
    warnings.warn(
        "qlikauth.issue_ticket is deprecated and goes in the next release: use "
        "qlikauth.qps.QpsClient(site).issue_ticket(user, attributes=..., target_id=...)",
        DeprecationWarning,
        stacklevel=2,
    )
    with QpsClient(site, transport=transport) as client:
        return client.issue_ticket(user, attributes=attributes, target_id=target_id)
