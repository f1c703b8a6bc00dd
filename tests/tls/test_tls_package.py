"""The tls package as a whole: its public names, and the old spellings kept for one release
(its place at the bottom of the import graph is in ``test_architecture``)."""

from __future__ import annotations

import importlib

import pytest

import qlikauth
import qlikauth.tls
from qlikauth.tls import handshake
from qlikauth.tls.contexts import InsecureTlsWarning


def test_public_names_are_those_of_the_former_module() -> None:
    assert qlikauth.tls.__all__ == [
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
    for name in qlikauth.tls.__all__:
        assert getattr(qlikauth.tls, name).__doc__, name


@pytest.mark.parametrize("module", [qlikauth, qlikauth.tls])
def test_insecure_tls_warning_old_spelling_warns_and_is_the_same_class(module: object) -> None:
    with pytest.warns(DeprecationWarning, match="InsecureTlsWarning") as record:
        old = module.InsecureTLSWarning  # type: ignore[attr-defined]
    assert old is InsecureTlsWarning
    assert "InsecureTLSWarning is deprecated" in str(record[0].message)


def test_handshake_module_moved_into_tls() -> None:
    old = importlib.import_module("qlikauth.handshake")
    with pytest.warns(DeprecationWarning, match=r"qlikauth\.tls\.handshake\.explain_tls_failure"):
        assert old.explain_tls_failure is handshake.explain_tls_failure
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = old.nothing_here
