"""Export a table and download the file, logging in with a JWT.

qlikauth signs a short-lived token with the key whose certificate the JWT virtual proxy
holds, exchanges it once for a session cookie and a CSRF token, and never sends the token
again: the websocket carries the cookie and the token, as Qlik Sense requires since
November 2024.

Usage: ``python examples/export_jwt.py [FILE]`` (default: a new temporary folder).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from common import app_id, example_site, export_and_download, output_path

from qlikauth import JwtAuth, QlikClient

key = os.environ.get("QLIK_JWT_KEY")
if key is None:  # the emulator says where its JWT signing key is
    info = json.loads(Path(os.environ["QLIKAUTH_EMULATOR_INFO"]).read_text())
    key = next(vp["jwt_private_key"] for vp in info["virtual_proxies"] if vp["prefix"] == "jwt")

auth = JwtAuth(user="bob", directory="QLIKEMU", key=Path(key))
with QlikClient(example_site("jwt"), auth) as client:
    export_and_download(client, app_id(client, "Sales"), output_path("sales_jwt.csv"), via=client)
