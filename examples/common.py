"""What the examples share: where to connect, and the export-and-download job.

The examples read where to connect from environment variables:

* offline, against the emulator: start it (``qlikauth emulator --info-file emu.json``) and
  set ``QLIKAUTH_EMULATOR_INFO=emu.json``;
* against a real server: set ``QLIK_HOST`` (the name in its certificate) and ``QLIK_CERTS``
  (the folder of a QMC certificate export).

A missing variable stops the example with a message that names it. The export examples
write their file where the first argument says, else into a new temporary folder (never
into the folder they are run from); they print where.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from qlikauth import CertificateBundle, QlikClient, Site, TlsConfig, VirtualProxy
from qlikauth.testing.emulator_info import read_info_file, site_from_emulator


def example_site(prefix: str) -> Site:
    """The site the examples talk to, through the virtual proxy ``prefix``."""
    info_file = os.environ.get("QLIKAUTH_EMULATOR_INFO")
    if info_file:
        return site_from_emulator(read_info_file(info_file), prefix)
    certs = CertificateBundle.from_folder(_required("QLIK_CERTS"))
    return Site(_required("QLIK_HOST"), VirtualProxy(prefix), tls=TlsConfig(bundle=certs))


def _required(name: str) -> str:
    """The environment variable ``name``; stop with a message naming it when it is not set."""
    value = os.environ.get(name)
    if not value:
        raise SystemExit(
            f"{Path(sys.argv[0]).name}: the environment variable {name} is not set. Against a "
            "real server set QLIK_HOST (the name in its certificate) and QLIK_CERTS (a QMC "
            "certificate export folder); offline, start `qlikauth emulator --info-file "
            "emu.json` and set QLIKAUTH_EMULATOR_INFO=emu.json."
        )
    return value


def output_path(name: str) -> Path:
    """Where an export example writes: its first argument, else ``name`` in a new temp folder."""
    if len(sys.argv) > 1:
        return Path(sys.argv[1]).expanduser()
    return Path(tempfile.mkdtemp(prefix="qlikauth-example-")) / name


def app_id(client: QlikClient, name: str) -> str:
    """The id of the app called ``name`` (apps are opened by id on Qlik Sense)."""
    with client.engine() as engine:
        return next(doc.doc_id for doc in engine.global_.get_doc_list() if doc.name == name)


def export_and_download(client: QlikClient, app: str, target: Path, *, via: QlikClient) -> None:
    """Export sales by region from ``app`` with ``client``; download it with ``via``.

    ``via`` is ``client`` itself whenever the client has a proxy session: the engine and the
    download then share that one session, so the download cannot land on the login page.
    """
    doc = client.open_app(app)
    table = doc.create_hypercube(["Region"], ["Sum(Amount)"])
    url = table.export_data("CSV_C")
    result = via.download(url, target)
    print(f"{result.size} bytes, sha256 {result.sha256[:16]}..., saved as {result.path}")
