"""Authenticators: one module each, plus the interface and registry in ``base``."""
