"""Evaluate an expression in an app (EvaluateEx), through the header virtual proxy."""

from __future__ import annotations

import sys

from common import app_id, example_site

from qlikauth import HeaderAuth, QlikClient

expression = sys.argv[1] if len(sys.argv) > 1 else "Sum(Amount)"
with QlikClient(example_site("hdr"), HeaderAuth(user="alice")) as client:
    doc = client.open_app(app_id(client, "Sales"))
    print(f"{expression} = {doc.evaluate(expression)}")
