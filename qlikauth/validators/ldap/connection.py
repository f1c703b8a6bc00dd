"""One connection to a domain controller over LDAPS or StartTLS, verified, then closed.

ldap3 does the wire work; it is imported when an endpoint is made, so that qlikauth works
without the ``windows`` extra until an LDAP validator is asked for.
"""

from __future__ import annotations

import logging
import math
import os
import ssl
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from qlikauth.errors import (
    CertificateFileError,
    ConfigurationError,
    HandshakeError,
    QlikAuthError,
    TransportError,
)
from qlikauth.validators.ldap.bind import refused_bind, tls_failure

__all__ = ["LdapEndpoint", "import_ldap3"]

log = logging.getLogger("qlikauth.validators.ldap")

_INSTALL_HINT = "install the extra: pip install 'qlikauth[windows]'"


def import_ldap3() -> ModuleType:
    """The ldap3 module, or a ConfigurationError that says how to install it."""
    try:
        with warnings.catch_warnings():
            # ldap3 imports pyasn1 names that pyasn1 deprecated; not ours to fix.
            warnings.simplefilter("ignore", DeprecationWarning)
            import ldap3
    except ImportError as exc:
        raise ConfigurationError(
            "the LDAP validator needs the ldap3 package, which is not installed",
            hint=_INSTALL_HINT,
        ) from exc
    module: ModuleType = ldap3
    return module


class LdapEndpoint:
    """A domain controller's LDAP URL and the TLS that protects every connection to it.

    A plain ``ldap://`` URL is refused unless ``start_tls`` is set: no password is ever
    sent in clear text. See :class:`~qlikauth.validators.LdapValidator` for the settings.
    """

    def __init__(
        self,
        url: str,
        *,
        ca_file: str | os.PathLike[str] | None = None,
        start_tls: bool = False,
        tls_server_name: str | None = None,
        verify: bool = True,
        timeout: float = 10.0,
    ) -> None:
        self.ldap3 = import_ldap3()
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        try:
            port = parts.port
        except ValueError as exc:
            raise ConfigurationError(f"bad port in LDAP URL {url!r}") from exc
        if scheme not in ("ldap", "ldaps") or not parts.hostname:
            raise ConfigurationError(
                f"not an LDAP URL: {url!r}",
                hint="use ldaps://dc.example.com, or ldap://dc.example.com with start_tls=True",
            )
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigurationError(
                f"an LDAP server URL holds only scheme, host and port: {url!r}",
                hint="give the base DN with base_dn=",
            )
        if scheme == "ldap" and not start_tls:
            raise ConfigurationError(
                f"refusing to send passwords over a plain LDAP bind to {url!r}",
                hint="use ldaps:// (port 636), or keep ldap:// and set start_tls=True",
            )
        if scheme == "ldaps" and start_tls:
            raise ConfigurationError(
                "start_tls applies to ldap:// URLs; ldaps:// is already encrypted",
                hint="drop start_tls, or use an ldap:// URL",
            )
        self.url = url
        self.host = parts.hostname
        self.port = port or (636 if scheme == "ldaps" else 389)
        self.use_ssl = scheme == "ldaps"
        self.start_tls = start_tls
        self.tls_server_name = tls_server_name or self.host
        self.verify = verify
        self.ca_file = Path(ca_file) if ca_file is not None else None
        self.timeout = timeout
        self._context = self._make_context()

    @property
    def where(self) -> str:
        """``host:port``, for messages."""
        return f"{self.host}:{self.port}"

    @property
    def security(self) -> str:
        """How the connection is protected: ``LDAPS`` or ``StartTLS``."""
        return "StartTLS" if self.start_tls else "LDAPS"

    def _make_context(self) -> ssl.SSLContext:
        if not self.verify:
            from qlikauth.tls.contexts import InsecureTlsWarning

            warnings.warn(
                f"LDAP TLS verification is off for {self.url}: anyone on the path can "
                "read the passwords",
                InsecureTlsWarning,
                stacklevel=4,  # the code that made the validator
            )
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise CertificateFileError(
                f"cannot load the CA file {self.ca_file}: {exc}",
                hint="ca_file must be the PEM root certificate that issued the domain "
                "controller's certificate",
            ) from exc

    @contextmanager
    def connected(self, user: str | None = None, password: str | None = None) -> Iterator[Any]:
        """An ldap3 connection over TLS, bound as ``user`` (anonymous when ``None``), closed
        on leaving. A refused bind raises the error :func:`refused_bind` gives."""
        conn, tls = self._connection(user, password)
        try:
            try:
                self._open(conn)
                if user is not None:
                    log.debug("LDAP bind as %r to %s", user, self.where)
                bound = conn.bind(read_server_info=False) if user is not None else True
            except self.ldap3.core.exceptions.LDAPException as exc:
                raise self._translate(exc, tls) from exc
            finally:
                conn.password = None
            if not bound:
                raise refused_bind(conn.result, user or "", self.where)
            yield conn
        finally:
            self._close(conn)

    def _connection(self, user: str | None, password: str | None) -> tuple[Any, Any]:
        tls = self._tls_for_one_connection()
        server = self.ldap3.Server(
            self.host,
            port=self.port,
            use_ssl=self.use_ssl,
            tls=tls,
            get_info=self.ldap3.NONE,
            connect_timeout=self.timeout,
        )
        conn = self.ldap3.Connection(
            server,
            user=user,
            password=password,
            authentication=self.ldap3.SIMPLE if user else self.ldap3.ANONYMOUS,
            read_only=True,
            raise_exceptions=False,
            auto_referrals=False,
            # ldap3 packs this into a struct of integers.
            receive_timeout=max(1, math.ceil(self.timeout)),
        )
        return conn, tls

    def _open(self, conn: Any) -> None:
        conn.open(read_server_info=False)
        if self.start_tls and not (conn.start_tls(read_server_info=False) and conn.tls_started):
            # Never fall through to a bind on a connection still in clear text.
            raise HandshakeError(
                f"{self.where} did not start TLS", hint="check StartTLS, or use ldaps://"
            )

    def _close(self, conn: Any) -> None:
        try:
            conn.unbind()
        except self.ldap3.core.exceptions.LDAPException:
            log.debug("LDAP unbind from %s failed; closing the socket", self.where)
        # ldap3 leaves the socket open when opening or the handshake failed.
        sock = getattr(conn, "socket", None)
        if sock is not None:
            sock.close()

    def _tls_for_one_connection(self) -> Any:
        context, server_name = self._context, self.tls_server_name
        ldap3 = self.ldap3
        check_names = self.verify

        class _ContextTls(ldap3.Tls):  # type: ignore[misc,name-defined]
            """Wraps with our SSLContext; remembers why a handshake failed."""

            def __init__(self) -> None:
                super().__init__(validate=ssl.CERT_REQUIRED if check_names else ssl.CERT_NONE)
                self.failure: BaseException | None = None

            def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
                raw = connection.socket
                try:
                    connection.socket = context.wrap_socket(
                        raw,
                        server_side=False,
                        do_handshake_on_connect=True,
                        server_hostname=server_name,
                    )
                except (OSError, ValueError) as exc:
                    self.failure = exc
                    raw.close()
                    raise

        return _ContextTls()

    def _translate(self, exc: BaseException, tls: Any) -> QlikAuthError:
        failure = getattr(tls, "failure", None)
        if isinstance(failure, ssl.SSLError | ssl.CertificateError):
            ca = str(self.ca_file) if self.ca_file else "the system's trusted roots"
            return tls_failure(failure, self.where, self.tls_server_name, ca)
        if isinstance(exc, self.ldap3.core.exceptions.LDAPStartTLSError):
            return HandshakeError(
                f"{self.where} refused StartTLS: {exc}",
                hint="check the domain controller has a certificate, or use ldaps://",
            )
        return TransportError(
            f"cannot talk LDAP to {self.where}: {exc}",
            hint="check the host name, the port (636 for ldaps://, 389 for ldap://) and "
            "that the domain controller is reachable",
        )
