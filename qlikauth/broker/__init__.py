"""The authentication broker: a login page that turns a Windows password into a Qlik ticket.

A Qlik Sense ticket virtual proxy sends an unauthenticated browser here (its
"Authentication module redirect URI") with ``targetId`` and ``proxyRestUri``. The broker
shows a login form, checks the password with a validator (Active Directory over LDAPS,
NTLM, LogonUser or a plug-in), requests a ticket for that user - groups as attributes -
from the QPS of the proxy node that sent the browser, and sends the browser back to the
``TargetUri`` with the ticket.

Modules, one job each: :mod:`~qlikauth.broker.config` reads the ``[broker]`` table into
:mod:`~qlikauth.broker.settings`; :mod:`~qlikauth.broker.targets` decides which login a
request is for; :mod:`~qlikauth.broker.csrf` signs the form; :mod:`~qlikauth.broker.limits`
(and :mod:`~qlikauth.broker.redis_store`) count failures; :mod:`~qlikauth.broker.login` runs
one login; :mod:`~qlikauth.broker.audit` writes the audit log;
:mod:`~qlikauth.broker.pages` renders; :mod:`~qlikauth.broker.app` is the web application,
:mod:`~qlikauth.broker.server` serves it and :mod:`~qlikauth.broker.check` is ``--check``.
The web parts need the ``broker`` extra (aiohttp; redis for shared limits).
"""

from __future__ import annotations

from qlikauth.broker.audit import AuditLog
from qlikauth.broker.check import CheckResult, check_broker
from qlikauth.broker.config import load_settings
from qlikauth.broker.settings import (
    AttributeMapping,
    BrokerSettings,
    LimitSettings,
    VirtualProxyRoute,
)

__all__ = [
    "AttributeMapping",
    "AuditLog",
    "BrokerSettings",
    "CheckResult",
    "LimitSettings",
    "VirtualProxyRoute",
    "check_broker",
    "load_settings",
]
