"""List the apps a user may open, through a header-authentication virtual proxy.

The seed article's first job. The header virtual proxy trusts the ``header_user`` header, so
only use it behind something that controls who may send it.
"""

from __future__ import annotations

from common import example_site

from qlikauth import HeaderAuth, QlikClient

client = QlikClient(example_site("hdr"), HeaderAuth(user="alice"))
with client, client.engine() as engine:
    for app in engine.global_.get_doc_list():
        print(f"{app.doc_id}  {app.title}")
