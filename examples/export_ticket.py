"""Export a table and download the file, logging in with a QPS ticket.

qlikauth asks QPS (port 4243, client certificate) for a ticket, redeems it once on the
``ticket`` virtual proxy, and then uses that one proxy session for the websocket and the
download alike.

Usage: ``python examples/export_ticket.py [FILE]`` (default: a new temporary folder).
"""

from __future__ import annotations

from common import app_id, example_site, export_and_download, output_path

from qlikauth import QlikClient, TicketAuth

with QlikClient(example_site("ticket"), TicketAuth(user="carol", directory="QLIKEMU")) as client:
    export_and_download(
        client, app_id(client, "Sales"), output_path("sales_ticket.csv"), via=client
    )
