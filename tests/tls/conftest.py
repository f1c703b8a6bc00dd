"""Fixtures for the TLS tests: two test PKIs and loopback TLS servers (helpers are in
``tls_support``)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
from tls_support import PFX_PASSWORD, TlsServer, server_side_context

from qlikauth.pki import TestPki, make_test_pki


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """A site whose server certificate names localhost only (no IP address)."""
    return make_test_pki(tmp_path_factory.mktemp("site"), ["localhost"], pfx_password=PFX_PASSWORD)


@pytest.fixture(scope="package")
def other(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """Another site: same layout, a different root."""
    return make_test_pki(tmp_path_factory.mktemp("other"), ["localhost"], pfx_password=PFX_PASSWORD)


@pytest.fixture
def https(site: TestPki) -> Iterator[TlsServer]:
    """The site's proxy: server certificate, no client certificate asked."""
    server = TlsServer(server_side_context(site))
    yield server
    server.close()


@pytest.fixture
def mtls(site: TestPki) -> Iterator[TlsServer]:
    """The site's QPS: requires a client certificate signed by the site's root."""
    server = TlsServer(server_side_context(site, client_roots=site.root))
    yield server
    server.close()


@pytest.fixture
def mtls12(site: TestPki) -> Iterator[TlsServer]:
    """The QPS again, limited to TLS 1.2: the client certificate is judged mid-handshake."""
    context = server_side_context(site, client_roots=site.root)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    server = TlsServer(context)
    yield server
    server.close()
