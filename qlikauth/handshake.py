"""Deprecated: moved to :mod:`qlikauth.tls.handshake`; this name goes in the next release."""

from __future__ import annotations

from qlikauth._deprecation import deprecated_names
from qlikauth.tls import handshake as _moved

__all__: list[str] = []

__getattr__ = deprecated_names(
    __name__,
    {name: (f"qlikauth.tls.handshake.{name}", getattr(_moved, name)) for name in _moved.__all__},
)
