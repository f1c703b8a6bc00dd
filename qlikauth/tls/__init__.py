"""TLS for one Qlik site: certificate bundles, their diagnosis, SSL contexts, handshakes.

* :mod:`~qlikauth.tls.files` reads certificate files: PEM, DER, encrypted keys, PFX;
* :mod:`~qlikauth.tls.hostnames` says which hosts a certificate names;
* :mod:`~qlikauth.tls.chain` says how certificates and keys relate;
* :mod:`~qlikauth.tls.diagnosis` finds what is wrong with a bundle (:class:`Finding`);
* :mod:`~qlikauth.tls.bundle` locates a QMC export (:class:`CertificateBundle`);
* :mod:`~qlikauth.tls.contexts` builds the ``ssl.SSLContext`` objects (:class:`TlsConfig`);
* :mod:`~qlikauth.tls.handshake` explains a failed handshake.

Of the rest of qlikauth the package imports only :mod:`qlikauth.errors` (and the helper that
serves deprecated names): everything else builds on it.
"""

from __future__ import annotations

import typing

from qlikauth import _deprecation
from qlikauth.tls.bundle import CertificateBundle, diagnose
from qlikauth.tls.contexts import InsecureTlsWarning, KeyPermissionWarning, TlsConfig, load_identity
from qlikauth.tls.diagnosis import Finding
from qlikauth.tls.hostnames import certificate_names, host_matches, hostname_advice, is_ip_address

__all__ = [
    "CertificateBundle",
    "Finding",
    "InsecureTlsWarning",
    "KeyPermissionWarning",
    "TlsConfig",
    "certificate_names",
    "diagnose",
    "host_matches",
    "hostname_advice",
    "is_ip_address",
    "load_identity",
]

if typing.TYPE_CHECKING:
    InsecureTLSWarning = InsecureTlsWarning  # deprecated spelling, served with a warning below
else:
    __getattr__ = _deprecation.deprecated_names(
        __name__, {"InsecureTLSWarning": ("qlikauth.tls.InsecureTlsWarning", InsecureTlsWarning)}
    )
