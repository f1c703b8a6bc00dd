"""After the bind: who the directory says bound, their groups, and their Qlik directory.

The account is looked up by what LDAP "Who am I?" says was bound, not by the name as
typed; groups are read transitively (``LDAP_MATCHING_RULE_IN_CHAIN``) unless told not to;
the Qlik user directory comes from a mapping, else the NetBIOS domain name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from qlikauth.errors import (
    ConfigurationError,
    InvalidCredentialsError,
    QlikAuthError,
    TransportError,
)
from qlikauth.validators.base import INVALID_CREDENTIALS, ParsedUsername, ValidatedUser

__all__ = ["DirectoryLookup", "bound_account", "dns_name", "every", "first", "search"]

log = logging.getLogger("qlikauth.validators.ldap")

_IN_CHAIN = "1.2.840.113556.1.4.1941"  # LDAP_MATCHING_RULE_IN_CHAIN: nested membership
_PAGE_SIZE = 500


def search(
    ldap3: ModuleType,
    conn: Any,
    base: str,
    filt: str,
    attributes: list[str],
    *,
    scope: str = "SUBTREE",
) -> list[dict[str, Any]]:
    """The entries under ``base`` that match ``filt`` (paged), or the ``BASE`` entry."""
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


@dataclass(frozen=True)
class DirectoryLookup:
    """What to read about a user once bound, and how to name their Qlik user directory.

    The fields are :class:`~qlikauth.validators.LdapValidator` settings of the same names
    (``ticket_attributes`` there); ``directories`` is keyed by case-folded domain names.
    """

    ldap3: ModuleType = field(repr=False)
    base_dn: str | None = None
    read_groups: bool = True
    nested_groups: bool = True
    upn_suffix: str | None = None
    netbios_domain: str | None = None
    directories: Mapping[str, str] = field(default_factory=dict)
    ticket_attribute_map: Mapping[str, str] = field(default_factory=dict)

    def root(self, conn: Any) -> Mapping[str, Any]:
        """The root entry's naming contexts (the directory's own and its configuration)."""
        found = search(
            self.ldap3,
            conn,
            "",
            "(objectClass=*)",
            ["defaultNamingContext", "configurationNamingContext"],
            scope="BASE",
        )
        attributes: Mapping[str, Any] = found[0]["attributes"] if found else {}
        return attributes

    def who(self, conn: Any, parsed: ParsedUsername, where: str) -> ValidatedUser:
        """The bound user: id, groups, ticket attributes and Qlik user directory."""
        escape = self.ldap3.utils.conv.escape_filter_chars
        root_attrs = self.root(conn)
        base_dn = self.base_dn or first(root_attrs.get("defaultNamingContext"))
        if not base_dn:
            raise ConfigurationError(f"{where} did not say its naming context", hint="set base_dn")
        wanted = ["sAMAccountName", *sorted(set(self.ticket_attribute_map.values()))]
        # Look up the account the directory says is bound, not the name as typed: a UPN
        # prefix may be another person's sAMAccountName.
        account = bound_account(conn)
        if account is not None:
            filt = f"(&(objectClass=user)(sAMAccountName={escape(account)}))"
        elif parsed.form == "upn":
            upn = escape(f"{parsed.user}@{parsed.domain}")
            filt = f"(&(objectClass=user)(userPrincipalName={upn}))"
        else:
            filt = f"(&(objectClass=user)(sAMAccountName={escape(parsed.user)}))"
        found = search(self.ldap3, conn, base_dn, filt, wanted)
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
        user_id = first(attrs.get("sAMAccountName")) or parsed.user
        groups = self._groups(conn, base_dn, entry["dn"]) if self.read_groups else ()
        extra = tuple(
            (ticket_name, value)
            for ticket_name, ldap_name in self.ticket_attribute_map.items()
            for value in every(attrs.get(ldap_name))
        )
        directory = self._directory(conn, parsed, root_attrs, base_dn)
        log.info("LDAP validated %s\\%s (%d groups)", directory, user_id, len(groups))
        return ValidatedUser(directory, user_id, groups, extra)

    def _groups(self, conn: Any, base_dn: str, user_dn: str) -> tuple[str, ...]:
        escape = self.ldap3.utils.conv.escape_filter_chars
        rule = f":{_IN_CHAIN}:" if self.nested_groups else ""
        group_filter = f"(&(objectClass=group)(member{rule}={escape(user_dn)}))"
        rows = search(self.ldap3, conn, base_dn, group_filter, ["sAMAccountName"])
        names = {name for row in rows if (name := first(row["attributes"].get("sAMAccountName")))}
        return tuple(sorted(names, key=str.casefold))

    def _directory(
        self, conn: Any, parsed: ParsedUsername, root_attrs: Mapping[str, Any], base_dn: str
    ) -> str:
        netbios = self.netbios_domain or self._netbios_name(conn, root_attrs, base_dn)
        for key in (parsed.domain, netbios, self.upn_suffix, dns_name(base_dn)):
            if key and key.casefold() in self.directories:
                return self.directories[key.casefold()]
        if netbios:
            return netbios.upper()
        if parsed.form == "down-level" and parsed.domain:
            return parsed.domain.upper()
        return (dns_name(base_dn).split(".")[0] or "DOMAIN").upper()

    def _netbios_name(self, conn: Any, root_attrs: Mapping[str, Any], base_dn: str) -> str | None:
        config_dn = first(root_attrs.get("configurationNamingContext"))
        if not config_dn:
            return None
        escape = self.ldap3.utils.conv.escape_filter_chars
        try:
            rows = search(
                self.ldap3,
                conn,
                f"CN=Partitions,{config_dn}",
                f"(&(objectClass=crossRef)(nCName={escape(base_dn)}))",
                ["nETBIOSName"],
            )
        except QlikAuthError as exc:
            log.debug("cannot read the NetBIOS domain name: %s", exc)
            return None
        return first(rows[0]["attributes"].get("nETBIOSName")) if rows else None


def bound_account(conn: Any) -> str | None:
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


def every(value: Any) -> list[str]:
    """An attribute's non-empty values as strings (ldap3 gives a value or a list)."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v not in (None, "")]
    return [str(value)] if value != "" else []


def first(value: Any) -> str | None:
    """An attribute's first non-empty value."""
    values = every(value)
    return values[0] if values else None


def dns_name(dn: str) -> str:
    """``DC=corp,DC=example,DC=com`` -> ``corp.example.com``."""
    labels = [
        part.split("=", 1)[1]
        for part in dn.split(",")
        if part.strip().upper().startswith("DC=") and "=" in part
    ]
    return ".".join(label.strip() for label in labels)
