"""The error tree: messages, hints, redaction, engine error mapping."""

from __future__ import annotations

import pytest

import qlikauth
from qlikauth import errors
from qlikauth.errors import (
    AppNotFoundError,
    ConfigurationError,
    EngineError,
    LoginRedirectError,
    MethodNotFoundError,
    QlikAuthError,
    TlsError,
    engine_error,
    redact_url,
)


def test_str_has_message_and_hint() -> None:
    exc = ConfigurationError("bad prefix", hint="use 'hdr'")
    assert str(exc) == "bad prefix\nhint: use 'hdr'"
    assert isinstance(exc, ValueError)
    assert str(QlikAuthError("plain")) == "plain"


def test_urls_in_errors_are_redacted() -> None:
    url = "https://h/hdr/hub/?qlikTicket=SECRET1&a=1&qlik-csrf-token=SECRET2&xrfkey=SECRET3"
    exc = LoginRedirectError("x", url=url, location=url)
    for secret in ("SECRET1", "SECRET2", "SECRET3"):
        assert secret not in (exc.url or "")
        assert secret not in (exc.location or "")
    assert "a=1" in redact_url(url)
    assert (
        redact_url("https://user:pw@h:8443/x?QlikTicket=t")
        == "https://h:8443/x?QlikTicket=[secure]"
    )
    # A proxy session id in a QPS session path is a live credential too.
    assert redact_url("https://h:4243/qps/hdr/session/SECRET4?xrfkey=k") == (
        "https://h:4243/qps/hdr/session/[secure]?xrfkey=[secure]"
    )
    assert redact_url("https://h:4243/qps/session/SECRET5") == "https://h:4243/qps/session/[secure]"
    assert redact_url("https://h/hdr/qps/user") == "https://h/hdr/qps/user"


def test_engine_errors_map_to_subclasses() -> None:
    exc = engine_error(
        {"code": -32601, "parameter": "Nope", "message": "Method not found"}, method="Nope"
    )
    assert isinstance(exc, MethodNotFoundError)
    assert (exc.code, exc.parameter, exc.method) == (-32601, "Nope", "Nope")
    assert "Method not found" in str(exc)
    assert isinstance(engine_error({"code": 1003}), AppNotFoundError)
    generic = engine_error({"code": 13000, "message": "too big"})
    assert type(generic) is EngineError


def test_every_error_is_in_the_module_docstring_tree() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, QlikAuthError):
            assert f"* {name}" in doc, name


@pytest.mark.parametrize("name", [n for n in errors.__all__ if n[0].isupper()])
def test_every_error_is_documented(name: str) -> None:
    assert getattr(errors, name).__doc__


@pytest.mark.parametrize("module", [qlikauth, errors], ids=["qlikauth", "qlikauth.errors"])
def test_tls_error_old_spelling_warns_and_is_the_same_class(module: object) -> None:
    with pytest.warns(DeprecationWarning, match=r"TLSError is deprecated.*use .*TlsError"):
        old = module.TLSError  # type: ignore[attr-defined]
    assert old is TlsError
    assert issubclass(errors.CertificateFileError, old)
    assert "TLSError" not in errors.__all__
    assert "TLSError" not in qlikauth.__all__


def test_unknown_names_are_still_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'TLSErr'"):
        _ = errors.TLSErr  # type: ignore[attr-defined]
