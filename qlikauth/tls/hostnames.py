"""Which hosts a certificate is good for, and what to do when the host dialled is not one.

A host name that is not in the server certificate is the most common support question with
Qlik Sense: :func:`hostname_advice` answers it from the names the certificate does hold.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.x509.oid import NameOID

__all__ = ["certificate_names", "host_matches", "hostname_advice", "is_ip_address"]


def certificate_names(cert: x509.Certificate) -> tuple[str, ...]:
    """The host names and IP addresses ``cert`` is valid for (SAN, else the CN)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return tuple(str(a.value) for a in cn)
    names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return tuple(names)


def is_ip_address(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 address (brackets allowed)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def host_matches(host: str, names: Sequence[str]) -> bool:
    """Whether ``host`` is one of ``names`` as TLS checks it (IP exact, one-label wildcards)."""
    host = host.strip("[]").rstrip(".").lower()
    if is_ip_address(host):
        ip = ipaddress.ip_address(host)
        return any(is_ip_address(n) and ipaddress.ip_address(n) == ip for n in names)
    for name in names:
        name = name.rstrip(".").lower()
        if name == host:
            return True
        if (
            name.startswith("*.")
            and "." in host
            and host.split(".", 1)[1] == name[2:]
            and not is_ip_address(name[2:])
        ):
            return True
    return False


def hostname_advice(host: str, names: Sequence[str]) -> str:
    """What to do when ``host`` is not among ``names``: the #1 support question."""
    shown = ", ".join(names) if names else "(no names)"
    bare = host.strip("[]").lower()
    advice: list[str] = []
    matches = [n for n in names if n.lower().split(".", 1)[0] == bare]
    if is_ip_address(bare):
        advice.append(
            "Qlik certificates name the server by host name, rarely by IP address: connect "
            f"with one of {shown}"
        )
    elif matches:
        advice.append(f"you used the short name; connect with the full name {matches[0]}")
    elif "." in bare and any(n.lower() == bare.split(".", 1)[0] for n in names):
        advice.append(f"you used the full name; the certificate holds {bare.split('.', 1)[0]}")
    else:
        advice.append(f"connect with one of the names the certificate holds ({shown})")
    advice.append(
        "or re-export the certificates for the name you use, or map that name to the "
        "server's address in the hosts file"
    )
    return "; ".join(advice)
