"""Validate a Windows domain password by binding to Active Directory as the user.

The bind travels over LDAPS (``ldaps://``) or StartTLS only, and the domain controller's
certificate is verified against a CA file: a password never crosses the network in clear
text. Active Directory explains a refused bind with a ``data NNN`` code; each becomes a
specific qlikauth error. ldap3 (extra ``windows``) does the wire work and is imported only
when a validator is made.
"""

from __future__ import annotations

import logging
import math
import os
import re
import ssl
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from qlikauth.errors import (
    CertificateChainError,
    CertificateFileError,
    CertificateValidityError,
    ConfigurationError,
    HandshakeError,
    HostnameMismatchError,
    InvalidCredentialsError,
    QlikAuthError,
    TlsError,
    TransportError,
)
from qlikauth.site import Site
from qlikauth.tls.handshake import HOSTNAME_MISMATCH_CODES, VALIDITY_CODES
from qlikauth.validators.base import (
    INVALID_CREDENTIALS,
    ParsedUsername,
    ValidatedUser,
    account_restricted,
    check_password_given,
    parse_username,
)

__all__ = ["AD_BIND_CODES", "LdapValidator", "bind_failure"]

log = logging.getLogger(__name__)

#: Active Directory's ``data NNN`` bind diagnostics: restriction reason (``None`` when the
#: name or password is wrong) and what it means, for the log.
AD_BIND_CODES: dict[str, tuple[str | None, str]] = {
    "525": (None, "no such user"),
    "52e": (None, "wrong password"),
    "530": ("logon_hours", "not permitted to log on at this time"),
    "531": ("workstation", "not permitted to log on from this workstation"),
    "532": ("password_expired", "password expired"),
    "533": ("disabled", "account disabled"),
    "701": ("expired", "account expired"),
    "773": ("must_change_password", "user must change password"),
    "775": ("locked", "account locked out"),
}

_DATA_CODE = re.compile(r"\bdata ([0-9a-fA-F]{3,8})\b")
_INVALID_CREDENTIALS_RESULT = 49
_STRONGER_AUTH_REQUIRED_RESULT = 8
_CONFIDENTIALITY_REQUIRED_RESULT = 13
_IN_CHAIN = "1.2.840.113556.1.4.1941"  # LDAP_MATCHING_RULE_IN_CHAIN: nested membership
_PAGE_SIZE = 500
_INSTALL_HINT = "install the extra: pip install 'qlikauth[windows]'"


def _import_ldap3() -> ModuleType:
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


def bind_failure(message: str, username: str) -> QlikAuthError:
    """Translate the diagnostic text of a refused bind (result 49) into a qlikauth error.

    Wrong name and wrong password both become a bare "invalid credentials"; the AD code
    goes to the log. Restricted accounts name their reason.
    """
    match = _DATA_CODE.search(message)
    code = match.group(1).lower() if match else None
    reason, meaning = AD_BIND_CODES.get(code or "", (None, "no AD diagnostic code"))
    if reason is None:
        log.info("LDAP bind for %r refused: %s (AD data %s)", username, meaning, code or "-")
        return InvalidCredentialsError(INVALID_CREDENTIALS)
    log.info("LDAP bind for %r refused: %s (AD data %s)", username, meaning, code)
    return account_restricted(reason, username)


def _tls_error(exc: BaseException, where: str, server_name: str, ca: str) -> TlsError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        if code in HOSTNAME_MISMATCH_CODES:
            return HostnameMismatchError(
                f"the certificate of {where} does not name {server_name!r}",
                host=server_name,
                hint="use the domain controller's name from its certificate in the URL, "
                "or set tls_server_name to it",
            )
        if code in VALIDITY_CODES:
            return CertificateValidityError(
                f"the certificate of {where} is {exc.verify_message}",
                hint="renew the domain controller's certificate, or check this clock",
            )
        return CertificateChainError(
            f"the certificate of {where} is not trusted by {ca}: {exc.verify_message}",
            hint="set ca_file to the root CA that issued the domain controller's certificate (PEM)",
        )
    return HandshakeError(f"the TLS handshake with {where} failed: {exc}")


class LdapValidator:
    """Checks a password by an LDAP simple bind as the user, over LDAPS or StartTLS.

    ``url`` is ``ldaps://dc.corp.example.com`` (port 636) or, with ``start_tls=True``,
    ``ldap://dc.corp.example.com`` (port 389). ``ca_file`` is the PEM root that issued
    the domain controller's certificate (the system store when ``None``);
    ``tls_server_name`` is the name to expect in that certificate when the URL holds an
    address. ``upn_suffix`` (``corp.example.com``) or ``netbios_domain`` (``CORP``) lets
    users type a bare ``alice``. ``directories`` maps a domain (NetBIOS or DNS name, any
    case) to a Qlik user directory; without an entry the directory is the NetBIOS domain
    name upper-cased. ``ticket_attributes`` maps ticket attribute names to LDAP attributes
    (``{"Email": "mail"}``). ``verify=False`` turns certificate checks off and warns.
    """

    name = "ldap"

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], site: Site | None = None) -> LdapValidator:
        """An LDAP validator from a configuration table (``kind = "ldap"``)."""
        return cls(**settings)

    def __init__(
        self,
        url: str,
        *,
        ca_file: str | os.PathLike[str] | None = None,
        start_tls: bool = False,
        tls_server_name: str | None = None,
        verify: bool = True,
        upn_suffix: str | None = None,
        netbios_domain: str | None = None,
        base_dn: str | None = None,
        read_groups: bool = True,
        nested_groups: bool = True,
        directories: Mapping[str, str] | None = None,
        ticket_attributes: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._ldap3 = _import_ldap3()
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
        self.upn_suffix = upn_suffix
        self.netbios_domain = netbios_domain
        self.base_dn = base_dn
        self.read_groups = read_groups
        self.nested_groups = nested_groups
        self.directories = {k.casefold(): v for k, v in (directories or {}).items()}
        self.ticket_attribute_map = dict(ticket_attributes or {})
        self.timeout = timeout
        self._context = self._make_context()

    def __repr__(self) -> str:
        return f"LdapValidator({self.url!r}, ca_file={self.ca_file!r}, verify={self.verify})"

    def _make_context(self) -> ssl.SSLContext:
        if not self.verify:
            from qlikauth.tls.contexts import InsecureTlsWarning

            warnings.warn(
                f"LDAP TLS verification is off for {self.url}: anyone on the path can "
                "read the passwords",
                InsecureTlsWarning,
                stacklevel=3,
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

    # -- the login ---------------------------------------------------------------------

    def validate(self, username: str, password: str) -> ValidatedUser:
        """Bind as the user; on success read groups and say who the user is."""
        check_password_given(password)
        parsed = parse_username(
            username, default_domain=self.upn_suffix or self.netbios_domain or None
        )
        bind_name = self._bind_name(parsed)
        conn, tls = self._connection(bind_name, password)
        where = f"{self.host}:{self.port}"
        try:
            log.debug("LDAP bind as %r to %s", bind_name, where)
            try:
                self._open(conn, where)
                bound = conn.bind(read_server_info=False)
            except self._ldap3.core.exceptions.LDAPException as exc:
                raise self._translate(exc, tls, where) from exc
            finally:
                conn.password = None
            if not bound:
                raise self._refused(conn.result, bind_name, where)
            return self._who(conn, parsed, where)
        finally:
            self._close(conn, where)

    def check_connection(self) -> str:
        """Reach the directory without logging in: the TLS handshake (certificate checked)
        and an anonymous read of the root entry. Says what answered; raises the errors of
        :meth:`validate` (``TLSError``, ``TransportError``) when it cannot."""
        conn, tls = self._connection(None, None)
        where = f"{self.host}:{self.port}"
        try:
            try:
                self._open(conn, where)
            except self._ldap3.core.exceptions.LDAPException as exc:
                raise self._translate(exc, tls, where) from exc
            root = self._search(conn, "", "(objectClass=*)", ["defaultNamingContext"], scope="BASE")
        finally:
            self._close(conn, where)
        naming = _first(root[0]["attributes"].get("defaultNamingContext")) if root else None
        security = "StartTLS" if self.start_tls else "LDAPS"
        return f"{where} answered over {security} (naming context {naming or 'unknown'})"

    def _connection(self, user: str | None, password: str | None) -> tuple[Any, Any]:
        tls = self._tls_for_one_connection()
        server = self._ldap3.Server(
            self.host,
            port=self.port,
            use_ssl=self.use_ssl,
            tls=tls,
            get_info=self._ldap3.NONE,
            connect_timeout=self.timeout,
        )
        conn = self._ldap3.Connection(
            server,
            user=user,
            password=password,
            authentication=self._ldap3.SIMPLE if user else self._ldap3.ANONYMOUS,
            read_only=True,
            raise_exceptions=False,
            auto_referrals=False,
            # ldap3 packs this into a struct of integers.
            receive_timeout=max(1, math.ceil(self.timeout)),
        )
        return conn, tls

    def _open(self, conn: Any, where: str) -> None:
        conn.open(read_server_info=False)
        if self.start_tls and not (conn.start_tls(read_server_info=False) and conn.tls_started):
            # Never fall through to a bind on a connection still in clear text.
            raise HandshakeError(
                f"{where} did not start TLS", hint="check StartTLS, or use ldaps://"
            )

    def _close(self, conn: Any, where: str) -> None:
        try:
            conn.unbind()
        except self._ldap3.core.exceptions.LDAPException:
            log.debug("LDAP unbind from %s failed; closing the socket", where)
        # ldap3 leaves the socket open when opening or the handshake failed.
        sock = getattr(conn, "socket", None)
        if sock is not None:
            sock.close()

    def _bind_name(self, parsed: ParsedUsername) -> str:
        if parsed.form == "upn":
            return f"{parsed.user}@{parsed.domain}"
        if parsed.form == "down-level":
            return f"{parsed.domain}\\{parsed.user}"
        if self.upn_suffix:
            return f"{parsed.user}@{self.upn_suffix}"
        if self.netbios_domain:
            return f"{self.netbios_domain}\\{parsed.user}"
        raise ConfigurationError(
            f"the user name {parsed.user!r} has no domain",
            hint="type DOMAIN\\user or user@domain, or configure upn_suffix or netbios_domain",
        )

    def _tls_for_one_connection(self) -> Any:
        context, server_name = self._context, self.tls_server_name
        ldap3 = self._ldap3
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

    def _translate(self, exc: BaseException, tls: Any, where: str) -> QlikAuthError:
        failure = getattr(tls, "failure", None)
        if isinstance(failure, ssl.SSLError | ssl.CertificateError):
            ca = str(self.ca_file) if self.ca_file else "the system's trusted roots"
            return _tls_error(failure, where, self.tls_server_name, ca)
        if isinstance(exc, self._ldap3.core.exceptions.LDAPStartTLSError):
            return HandshakeError(
                f"{where} refused StartTLS: {exc}",
                hint="check the domain controller has a certificate, or use ldaps://",
            )
        return TransportError(
            f"cannot talk LDAP to {where}: {exc}",
            hint="check the host name, the port (636 for ldaps://, 389 for ldap://) and "
            "that the domain controller is reachable",
        )

    def _refused(self, result: Mapping[str, Any], username: str, where: str) -> QlikAuthError:
        code = result.get("result")
        message = str(result.get("message") or "")
        if code == _INVALID_CREDENTIALS_RESULT:
            return bind_failure(message, username)
        if code in (_STRONGER_AUTH_REQUIRED_RESULT, _CONFIDENTIALITY_REQUIRED_RESULT):
            return ConfigurationError(
                f"{where} requires a stronger bind: {message}",
                hint="use ldaps:// or StartTLS",
            )
        log.info("LDAP bind for %r refused by %s: %s %s", username, where, code, message)
        return InvalidCredentialsError(INVALID_CREDENTIALS)

    # -- after the bind ---------------------------------------------------------------

    def _search(
        self, conn: Any, base: str, filt: str, attributes: list[str], *, scope: str = "SUBTREE"
    ) -> list[dict[str, Any]]:
        ldap3 = self._ldap3
        try:
            if scope == "BASE":
                conn.search(base, filt, search_scope=ldap3.BASE, attributes=attributes)
                entries = list(conn.response or ())
            else:
                entries = list(
                    conn.extend.standard.paged_search(
                        base,
                        filt,
                        search_scope=ldap3.SUBTREE,
                        attributes=attributes,
                        paged_size=_PAGE_SIZE,
                        generator=False,
                    )
                )
        except ldap3.core.exceptions.LDAPException as exc:
            raise TransportError(f"LDAP search in {base!r} failed: {exc}") from exc
        result = conn.result or {}
        if result.get("result") not in (0, None):
            if result.get("description") == "noSuchObject":
                raise ConfigurationError(f"the directory has no {base!r}", hint="check base_dn")
            raise TransportError(
                f"LDAP search in {base!r} failed: {result.get('description')} "
                f"{result.get('message') or ''}".strip()
            )
        return [e for e in entries if e.get("type") == "searchResEntry"]

    def _who(self, conn: Any, parsed: ParsedUsername, where: str) -> ValidatedUser:
        escape = self._ldap3.utils.conv.escape_filter_chars
        root = self._search(
            conn,
            "",
            "(objectClass=*)",
            ["defaultNamingContext", "configurationNamingContext"],
            scope="BASE",
        )
        root_attrs = root[0]["attributes"] if root else {}
        base_dn = self.base_dn or _first(root_attrs.get("defaultNamingContext"))
        if not base_dn:
            raise ConfigurationError(f"{where} did not say its naming context", hint="set base_dn")
        wanted = ["sAMAccountName", *sorted(set(self.ticket_attribute_map.values()))]
        # Look up the account the directory says is bound, not the name as typed: a UPN
        # prefix may be another person's sAMAccountName.
        account = _bound_account(conn)
        if account is not None:
            filt = f"(&(objectClass=user)(sAMAccountName={escape(account)}))"
        elif parsed.form == "upn":
            upn = escape(f"{parsed.user}@{parsed.domain}")
            filt = f"(&(objectClass=user)(userPrincipalName={upn}))"
        else:
            filt = f"(&(objectClass=user)(sAMAccountName={escape(parsed.user)}))"
        found = self._search(conn, base_dn, filt, wanted)
        if len(found) != 1:
            log.info(
                "LDAP bind as %r worked but %s holds %d matching users",
                parsed.user,
                base_dn,
                len(found),
            )
            raise InvalidCredentialsError(INVALID_CREDENTIALS)
        entry = found[0]
        attrs = entry["attributes"]
        user_id = _first(attrs.get("sAMAccountName")) or parsed.user
        groups: tuple[str, ...] = ()
        if self.read_groups:
            rule = f":{_IN_CHAIN}:" if self.nested_groups else ""
            group_filter = f"(&(objectClass=group)(member{rule}={escape(entry['dn'])}))"
            rows = self._search(conn, base_dn, group_filter, ["sAMAccountName"])
            groups = tuple(
                sorted(
                    {
                        name
                        for row in rows
                        if (name := _first(row["attributes"].get("sAMAccountName")))
                    },
                    key=str.casefold,
                )
            )
        extra = tuple(
            (ticket_name, value)
            for ticket_name, ldap_name in self.ticket_attribute_map.items()
            for value in _all(attrs.get(ldap_name))
        )
        directory = self._directory(conn, parsed, root_attrs, base_dn)
        log.info("LDAP validated %s\\%s (%d groups)", directory, user_id, len(groups))
        return ValidatedUser(directory, user_id, groups, extra)

    def _directory(
        self, conn: Any, parsed: ParsedUsername, root_attrs: Mapping[str, Any], base_dn: str
    ) -> str:
        netbios = self.netbios_domain or self._netbios_name(conn, root_attrs, base_dn)
        for key in (parsed.domain, netbios, self.upn_suffix, _dns_name(base_dn)):
            if key and key.casefold() in self.directories:
                return self.directories[key.casefold()]
        if netbios:
            return netbios.upper()
        if parsed.form == "down-level" and parsed.domain:
            return parsed.domain.upper()
        return (_dns_name(base_dn).split(".")[0] or "DOMAIN").upper()

    def _netbios_name(self, conn: Any, root_attrs: Mapping[str, Any], base_dn: str) -> str | None:
        config_dn = _first(root_attrs.get("configurationNamingContext"))
        if not config_dn:
            return None
        escape = self._ldap3.utils.conv.escape_filter_chars
        try:
            rows = self._search(
                conn,
                f"CN=Partitions,{config_dn}",
                f"(&(objectClass=crossRef)(nCName={escape(base_dn)}))",
                ["nETBIOSName"],
            )
        except QlikAuthError as exc:
            log.debug("cannot read the NetBIOS domain name: %s", exc)
            return None
        return _first(rows[0]["attributes"].get("nETBIOSName")) if rows else None


def _all(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v not in (None, "")]
    return [str(value)] if value != "" else []


def _bound_account(conn: Any) -> str | None:
    """The account name of the bound user per LDAP "Who am I?" (``u:DOMAIN\\name``)."""
    try:
        who = conn.extend.standard.who_am_i()
    except Exception:  # a server without the operation: fall back
        return None
    if not isinstance(who, str) or not who.startswith("u:"):
        return None
    name = who[2:]
    if "\\" in name:
        return name.split("\\", 1)[1] or None
    return None


def _first(value: Any) -> str | None:
    values = _all(value)
    return values[0] if values else None


def _dns_name(dn: str) -> str:
    """``DC=corp,DC=example,DC=com`` -> ``corp.example.com``."""
    labels = [
        part.split("=", 1)[1]
        for part in dn.split(",")
        if part.strip().upper().startswith("DC=") and "=" in part
    ]
    return ".".join(label.strip() for label in labels)
