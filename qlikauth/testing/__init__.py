"""Test helpers for qlikauth users and plug-in authors.

Pytest fixtures (an emulated Qlik Sense server, a Samba Active Directory) live in
:mod:`qlikauth.testing.plugin`; enable them with ``pytest_plugins = ["qlikauth.testing.plugin"]``.
"""
