"""A running emulator's info file, read on the client side: a site, or profile settings.

``qlikauth emulator`` writes an info file (``--info-file``, or ``STATE_DIR/emulator.json``)
naming its host, the port of every listener, its certificate folder and its virtual
proxies. These helpers turn it into a :class:`~qlikauth.site.Site` or into the settings of a
profile; tests, examples, benchmarks, ``qlikauth demo`` and ``qlikauth profile add
--from-emulator`` use them. This module needs no pytest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qlikauth.config.schema import PORTS
from qlikauth.errors import ConfigurationError
from qlikauth.site import Site, VirtualProxy
from qlikauth.tls.bundle import CertificateBundle
from qlikauth.tls.contexts import TlsConfig

__all__ = ["emulator_profile_settings", "read_info_file", "site_from_emulator"]

_START_HINT = (
    "Start the emulator first (qlikauth emulator); it writes STATE_DIR/emulator.json, or "
    "the file named by --info-file."
)


def read_info_file(path: Path | str) -> dict[str, Any]:
    """The parsed info file at ``path``; an unreadable or non-JSON file is a
    :class:`~qlikauth.errors.ConfigurationError` naming it."""
    file = Path(path).expanduser()
    try:
        info = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read {file}: {exc.strerror or exc}", hint=_START_HINT
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigurationError(f"{file} is not JSON", hint=_START_HINT) from None
    if not isinstance(info, dict):
        raise ConfigurationError(f"{file} is not an info file", hint=_START_HINT)
    return info


def emulator_profile_settings(
    info: Mapping[str, Any], prefix: str | None = None, *, http: bool = False
) -> dict[str, Any]:
    """Profile settings for a running emulator, from its info file: server, ports, certs.

    ``info`` is the parsed JSON the emulator writes (``qlikauth emulator --info-file``).
    With ``prefix`` the settings also name that virtual proxy and its cookie name; ``http``
    reaches the proxy and the login module over plain http (the emulator must run with
    ``--allow-http``). A relative certificate folder is taken from the current folder.
    """
    not_info = ConfigurationError(
        "not an emulator info file (it needs host, the ports of every listener, certs_dir "
        "and virtual_proxies with prefix and cookie_name)",
        hint="Name the JSON file qlikauth emulator writes (--info-file, or "
        "STATE_DIR/emulator.json).",
    )
    try:
        host = str(info["host"])
        ports = {str(name): int(port) for name, port in dict(info["ports"]).items()}
        certs = Path(info["certs_dir"])
        cookies = {str(vp["prefix"]): str(vp["cookie_name"]) for vp in info["virtual_proxies"]}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise not_info from None
    if not {"proxy", "qps", "qrs", "engine", "auth"} <= set(ports):
        raise not_info
    settings: dict[str, Any] = {"server": host}
    if prefix is not None:
        if prefix not in cookies:
            raise ConfigurationError(
                f"the emulator has no virtual proxy with prefix {prefix!r}",
                hint="Known prefixes: " + ", ".join(repr(known) for known in cookies),
            )
        settings.update(prefix=prefix, cookie_name=cookies[prefix])
    if http and "proxy_http" not in ports:
        raise ConfigurationError(
            "the emulator serves no plain http",
            hint="Start it with --allow-http (or allow_http = true in its configuration).",
        )
    if http:
        settings["scheme"] = "http"
    settings.update(
        proxy_port=ports["proxy_http" if http else "proxy"],
        qps_port=ports["qps"],
        qrs_port=ports["qrs"],
        engine_port=ports["engine"],
        auth_port=ports["auth_http" if http else "auth"],
        certs=str(certs if certs.is_absolute() else Path.cwd() / certs),
    )
    return settings


def site_from_emulator(
    info: Mapping[str, Any],
    prefix: str = "",
    *,
    client_certificate: bool = True,
    http: bool = False,
) -> Site:
    """A :class:`Site` for one virtual proxy of a running emulator, from its info file.

    ``info`` is the parsed JSON the emulator writes (``qlikauth emulator --info-file``). The
    site trusts the emulator's root and, unless ``client_certificate`` is false, presents
    its client certificate on the trusted ports. ``http`` reaches the proxy and the login
    module over plain http (the emulator must run with ``allow_http``).
    """
    settings = emulator_profile_settings(info, prefix, http=http)
    certs = Path(settings["certs"])
    if client_certificate:
        tls = TlsConfig(bundle=CertificateBundle.from_folder(certs))
    else:
        tls = TlsConfig(root=certs / "root.pem")
    return Site(
        settings["server"],
        VirtualProxy(prefix, settings["cookie_name"]),
        scheme=settings.get("scheme", "https"),
        tls=tls,
        **{port: settings[port] for port in PORTS},
    )
