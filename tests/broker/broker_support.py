"""Helpers for the broker tests: an emulator that names the broker, its configuration, a
browser-like form client over real sockets, and a listener that records connections."""

from __future__ import annotations

import contextlib
import dataclasses
import html
import re
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import HTTPAdapter

from qlikauth.broker import BrokerSettings, load_settings
from qlikauth.broker.server import BrokerServer
from qlikauth.config import ConfigFile, Profile
from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.testing.emulator_info import emulator_profile_settings

SECRET_ENV = "QLIKAUTH_TEST_BROKER_SECRET"
SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
ENV = {SECRET_ENV: SECRET}


def listening_socket(address: str = "127.0.0.1") -> socket.socket:
    """A bound, listening socket on a free port (the broker's, chosen before it starts)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((address, 0))
    sock.listen(128)
    return sock


def emulator_naming_the_broker(factory: Callable[..., EmulatorInfo], port: int) -> EmulatorInfo:
    """An emulator whose ``ticket`` virtual proxy sends browsers to a broker on ``port``."""
    from qlikauth.emulator.config import default_config

    module = f"https://localhost:{port}/"
    proxies = tuple(
        dataclasses.replace(vp, auth_module_uri=module) if vp.prefix == "ticket" else vp
        for vp in default_config().virtual_proxies
    )
    return factory(virtual_proxies=proxies)


def ntlm_validator(info: EmulatorInfo) -> dict[str, Any]:
    """The emulator's own Windows domain, checked over NTLM on its Windows virtual proxy."""
    return {"kind": "ntlm", "prefix": "", "default_domain": info.windows_domain}


def write_config(
    path: Path,
    info: EmulatorInfo,
    *,
    validator: Mapping[str, Any],
    **broker: Any,
) -> Path:
    """A profile file with an ``emu`` profile (the ``ticket`` virtual proxy) and [broker]."""
    certs = info.certs_dir
    table: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "certificate": str(certs / "server.pem"),
        "key": str(certs / "server_key.pem"),
        "csrf_secret": f"env:{SECRET_ENV}",
        "audit_log": str(path.parent / "audit.jsonl"),
        "answer_time": 0.05,
        "validator": dict(validator),
        "virtual_proxies": [{"profile": "emu"}],
    }
    table.update(broker)
    profile = Profile(name="emu", **emulator_profile_settings(info.raw, "ticket"))
    ConfigFile(path, {"emu": profile}, tables={"broker": table}).save()
    return path


def settings_for(path: Path) -> BrokerSettings:
    """The broker settings in ``path`` (the test secret from :data:`ENV`)."""
    return load_settings(path, env=ENV)


@contextmanager
def running_broker(
    settings: BrokerSettings, sock: socket.socket | None = None
) -> Iterator[BrokerServer]:
    """A broker serving ``settings`` from a thread (on ``sock`` when given)."""
    with BrokerServer(settings, sock=sock) as server:
        yield server


class _SourceAddress(HTTPAdapter):
    """Connects from a given loopback address: another client, seen by its real address."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


class FormClient:
    """What a browser does with the login page, over real TLS: keep cookies, read the form,
    post it back; never follows redirects."""

    def __init__(self, root: Path, *, source: str | None = None) -> None:
        self.http = requests.Session()
        self.http.trust_env = False
        self.root = str(root)
        if source is not None:
            self.http.mount("https://", _SourceAddress(source))
        self.form: dict[str, str] = {}
        self.url = ""

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.http.get(url, verify=self.root, allow_redirects=False, timeout=30, **kwargs)

    def open(self, url: str) -> requests.Response:
        """GET the login page and remember its form."""
        response = self.get(url)
        self.url = url
        self.form = hidden_fields(response.text)
        return response

    def submit(self, user: str, password: str, **changes: str | None) -> requests.Response:
        """POST the remembered form; ``changes`` replace fields (``None`` drops one)."""
        data = {**self.form, "user": user, "password": password}
        for name, value in changes.items():
            if value is None:
                data.pop(name, None)
            else:
                data[name] = value
        target = self.url.split("?", 1)[0]
        response = self.http.post(
            target, data=data, verify=self.root, allow_redirects=False, timeout=30
        )
        if response.status_code != 303:
            self.form = hidden_fields(response.text) or self.form
        return response


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden fields of the login form in ``page``."""
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}


def login_link(info: EmulatorInfo, path: str = "ticket/hub/") -> str:
    """Where the emulator's ticket virtual proxy sends an unauthenticated browser."""
    response = requests.get(
        f"{info.proxy_url.rstrip('/')}/{path}",
        verify=str(info.root),
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.text
    return str(response.headers["Location"])


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


class ConnectionRecorder:
    """A real TCP listener that records every connection made to it (and answers none)."""

    def __init__(self) -> None:
        self.sock = listening_socket()
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.sock.close()
        self._thread.join(timeout=5)


@dataclasses.dataclass
class Stage:
    """An emulator whose ticket virtual proxy names a broker on ``sock``, and a folder for
    the broker's profile file and audit log."""

    info: EmulatorInfo
    sock: socket.socket
    folder: Path

    @property
    def url(self) -> str:
        return f"https://localhost:{self.sock.getsockname()[1]}/"

    @property
    def audit_file(self) -> Path:
        return self.folder / "audit.jsonl"

    def config(self, *, validator: Mapping[str, Any] | None = None, **broker: Any) -> Path:
        validator = validator if validator is not None else ntlm_validator(self.info)
        return write_config(self.folder / "config.toml", self.info, validator=validator, **broker)

    def settings(self, **broker: Any) -> BrokerSettings:
        return settings_for(self.config(**broker))

    def broker(self, **broker: Any) -> Any:
        """Run a broker with these [broker] settings on the stage's socket."""
        return running_broker(self.settings(**broker), self.sock)

    def client(self, source: str | None = None) -> FormClient:
        return FormClient(self.info.root, source=source)

    def audit(self) -> list[dict[str, Any]]:
        import json

        lines = self.audit_file.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]
