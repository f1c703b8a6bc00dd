"""Profiles: where a Qlik site is and how to log in to it, kept in one TOML file.

A profile names the server, virtual proxy, ports, certificate export, trusted root and the
authenticator with its settings. Secrets are never stored in the file: a value that is a
secret (a password, passphrase, token, ...) must be a reference, ``keyring:<name>`` (the OS
keyring, through :mod:`qlikauth.keystore`) or ``env:<VAR>`` (an environment variable);
references are resolved only when a site is built.

Precedence, lowest first: the profile, then ``QLIKAUTH_*`` environment variables
(:data:`ENVIRONMENT`), then command-line options. :func:`resolve` turns the three into a
:class:`~qlikauth.site.Site` (with its :class:`~qlikauth.tls.TlsConfig`) and an
:class:`~qlikauth.auth.base.Authenticator`, so every command (and the broker and proxy)
builds them the same way.

The file::

    default_profile = "prod"

    # production node
    [profiles.prod]
    server = "qlik.example.com"
    prefix = "hdr"
    cookie_name = "X-Qlik-Session-hdr"
    certs = "~/qlik/prod-certs"          # a QMC export folder, or a client.pfx
    certs_password = "env:QLIK_PFX_PASSWORD"
    authenticator = "header"

    [profiles.prod.auth]                  # the authenticator's settings
    user = "alice"
    header_name = "header_user"

Saving a changed configuration edits this text: comments, order and layout stay, and only
the tables of the profiles that changed (and the ``default_profile`` line) change.

The modules, one job each: :mod:`~qlikauth.config.references` (secret references),
:mod:`~qlikauth.config.schema` (the keys, their types and checks),
:mod:`~qlikauth.config.profiles` (the file and its profiles),
:mod:`~qlikauth.config.toml_edit` (style-preserving edits of its text),
:mod:`~qlikauth.config.layers` (profile < environment < options),
:mod:`~qlikauth.config.resolution` (building the site and the authenticator),
:mod:`~qlikauth.config.diagnosis` (the settings an authenticator lacks).
"""

from __future__ import annotations

from qlikauth.config.diagnosis import missing_settings
from qlikauth.config.layers import Options
from qlikauth.config.profiles import (
    EXTENSION_TABLES,
    ConfigFile,
    Profile,
    default_config_path,
    profile_from_settings,
)
from qlikauth.config.references import (
    KEYRING_SERVICE,
    is_reference,
    is_secret_key,
    redacted,
    resolve_secret,
)
from qlikauth.config.resolution import Resolved, authenticator_settings, resolve
from qlikauth.config.schema import AUTH_ENV_PREFIX as AUTH_ENV_PREFIX
from qlikauth.config.schema import CONFIG_ENV, ENVIRONMENT, PROFILE_ENV
from qlikauth.config.toml_edit import profile_toml, toml_assignment

__all__ = [
    "CONFIG_ENV",
    "ENVIRONMENT",
    "EXTENSION_TABLES",
    "KEYRING_SERVICE",
    "PROFILE_ENV",
    "ConfigFile",
    "Options",
    "Profile",
    "Resolved",
    "authenticator_settings",
    "default_config_path",
    "is_reference",
    "is_secret_key",
    "missing_settings",
    "profile_from_settings",
    "profile_toml",
    "redacted",
    "resolve",
    "resolve_secret",
    "toml_assignment",
]
