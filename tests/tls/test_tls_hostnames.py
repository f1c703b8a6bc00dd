"""qlikauth.tls.hostnames: the names a certificate holds and how a host matches them."""

from __future__ import annotations

from cryptography import x509

from qlikauth.pki import TestPki
from qlikauth.tls import certificate_names, host_matches


def test_host_matching_rules() -> None:
    assert host_matches("LocalHost", ["localhost"])
    assert host_matches("127.0.0.1", ["localhost", "127.0.0.1"])
    assert not host_matches("127.0.0.1", ["localhost"])
    assert host_matches("qlik.example.com", ["*.example.com"])
    assert not host_matches("a.qlik.example.com", ["*.example.com"])
    assert not host_matches("qlik", ["qlik.example.com"])
    assert host_matches("::1", ["0:0:0:0:0:0:0:1"])


def test_certificate_names_reads_the_san(site: TestPki) -> None:
    server = x509.load_pem_x509_certificate(site.server.read_bytes())
    assert certificate_names(server) == ("localhost",)
