"""A real headless Chromium for tests: the system's browser, driven by Playwright.

# One test, not more: while Playwright's sync API is open it keeps an event loop marked as
# running in this thread, and any asyncio.run() of a later test would fail.
@pytest.fixture
downloads a browser: it uses the one the operating system provides (Debian's ``chromium``),
found on ``PATH`` or named by ``QLIKAUTH_CHROMIUM``.

The fixture yields a launcher: ``chromium(trusted=[server.pem])`` starts a browser that
trusts exactly those servers' keys besides the system store (Chromium's
``--ignore-certificate-errors-spki-list``, see :func:`spki_hash`), so a test reaches an
# One test, not more: while Playwright's sync API is open it keeps an event loop marked as
# running in this thread, and any asyncio.run() of a later test would fail.
@pytest.fixture
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CHROMIUM_ARGS", "chromium", "chromium_path", "spki_hash"]

#: Flags for a headless Chromium on a machine without a display or an open network: no
#: sandbox (tests run as root), no GPU, and none of the background connections to Google's
#: hosts that a closed network would refuse at every start.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
)

_NAMES = ("chromium", "chromium-browser", "google-chrome")
INSTALL_HINT = "install Debian's chromium (apt-get install chromium) and the 'test' extra"


def chromium_path() -> str | None:
    """The system Chromium: ``QLIKAUTH_CHROMIUM``, else the first one on ``PATH``."""
    named = os.environ.get("QLIKAUTH_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    return next((found for name in _NAMES if (found := shutil.which(name))), None)


def spki_hash(certificate_pem: bytes) -> str:
    """The base64 SHA-256 of a certificate's public key, as Chromium's
    ``--ignore-certificate-errors-spki-list`` takes it (trust one server key, nothing else)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(certificate_pem)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


# One test, not more: while Playwright's sync API is open it keeps an event loop marked as
# running in this thread, and any asyncio.run() of a later test would fail.
@pytest.fixture
def chromium() -> Iterator[Callable[..., Any]]:
    """A launcher of headless system Chromium browsers (Playwright ``Browser`` objects)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason=f"no Playwright: {INSTALL_HINT}")
    executable = chromium_path()
    if executable is None:
        pytest.skip(f"no Chromium on PATH: {INSTALL_HINT}")
    with sync_api.sync_playwright() as playwright:
        browsers: list[Any] = []

        def launch(trusted: Sequence[Path | str] = ()) -> Any:
            args = list(CHROMIUM_ARGS)
            if trusted:
                keys = ",".join(spki_hash(Path(pem).read_bytes()) for pem in trusted)
                args.append(f"--ignore-certificate-errors-spki-list={keys}")
            browser = playwright.chromium.launch(executable_path=executable, args=args)
            browsers.append(browser)
            return browser

        try:
            yield launch
        finally:
            for browser in browsers:
                browser.close()
