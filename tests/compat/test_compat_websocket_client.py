"""``websocket-client`` used exactly as Qlik's community article on the Engine API uses it.

The article (call the Qlik Sense Engine API with Python) opens the socket with
``websocket.create_connection``, sends a bare JSON ``GetDocList`` and reads with ``recv`` in a
loop: the greeting first, then the result. Here its connection arguments come from
``client.websocket_options().websocket_client_kwargs()`` instead of a header typed by hand and
``CERT_NONE``; what it reads must be what qlikauth's own engine connector reads.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import websocket
from compat_support import CompatSite

from qlikauth.credentials import WebSocketOptions

#: The article's request, as it writes it (no "jsonrpc" member).
ARTICLE_REQUEST = {"handle": -1, "method": "GetDocList", "params": [], "outKey": -1, "id": 1}


def article_script(options: WebSocketOptions) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The article's loop: the messages before the answer (the greeting), and the answer."""
    ws = websocket.create_connection(**options.websocket_client_kwargs())
    try:
        ws.send(json.dumps(ARTICLE_REQUEST))
        greeting = []
        result = ws.recv()
        while result:
            y = json.loads(result)
            if y.get("id") == ARTICLE_REQUEST["id"]:
                return greeting, y
            greeting.append(y)
            result = ws.recv()
    finally:
        ws.close()
    raise AssertionError(f"the socket closed before the answer; it sent {greeting}")


# header: the article's own virtual proxy; jwt: what its comments advise instead;
# ticket: a session from a QPS ticket; certificate: the engine port with the client certificate.
@pytest.mark.parametrize("profile", ["header", "jwt", "ticket", "certificate"])
def test_the_article_script_reads_the_doc_list(compat_site: CompatSite, profile: str) -> None:
    with compat_site.client(profile) as client:
        with client.engine() as engine:
            expected = [(d.doc_id, d.title) for d in engine.global_.get_doc_list()]
        greeting, answer = article_script(client.websocket_options())
    assert "OnConnected" in [message.get("method") for message in greeting], greeting
    assert "error" not in answer, answer
    docs = answer["result"]["qDocList"]
    assert [(d["qDocId"], d["qTitle"]) for d in docs] == expected
