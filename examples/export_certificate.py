"""Export a table direct from the engine (port 4747) with certificates, then download it.

The direct engine makes no proxy session, but exported files are served only through the
proxy, to the user who exported them. So the download uses a proxy session injected through
QPS for that same user, on the same virtual proxy it is fetched through (the correct recipe
for the seed article's question).

Usage: ``python examples/export_certificate.py [FILE]`` (default: a new temporary folder).
"""

from __future__ import annotations

from common import app_id, example_site, export_and_download, output_path

from qlikauth import CertificateAuth, QlikClient, SessionAuth

site = example_site("")
user = {"user": "sa_api", "directory": "INTERNAL"}
with (
    QlikClient(site, CertificateAuth(**user)) as engine_client,
    QlikClient(site, SessionAuth(**user)) as download_client,
):
    app = app_id(engine_client, "Sales")
    export_and_download(engine_client, app, output_path("sales_direct.csv"), via=download_client)
