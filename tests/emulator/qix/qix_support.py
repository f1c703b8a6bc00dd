"""A tiny JSON-RPC driver for the engine model's tests: texts in, parsed answers out."""

from __future__ import annotations

import json
from typing import Any

from qlikauth.emulator.qix import EngineConnection


class Rpc:
    """Sends requests with increasing ids through ``EngineConnection.handle``."""

    def __init__(self, connection: EngineConnection) -> None:
        self.connection = connection
        self.next_id = 1

    def send(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request object in, the one answer out (fails if there is not exactly one)."""
        answers = self.connection.handle(json.dumps(request))
        assert len(answers) == 1, answers
        answer: dict[str, Any] = json.loads(answers[0])
        return answer

    def call(self, handle: int, method: str, params: Any = None, **extra: Any) -> dict[str, Any]:
        """Call ``method`` on ``handle``; returns the whole response."""
        request: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "handle": handle}
        request["method"] = method
        request["params"] = {} if params is None else params
        request.update(extra)
        self.next_id += 1
        answer = self.send(request)
        assert answer["jsonrpc"] == "2.0"
        assert answer["id"] == request["id"]
        return answer

    def result(self, handle: int, method: str, params: Any = None, **extra: Any) -> Any:
        """Call and return ``result``, failing on an error answer."""
        answer = self.call(handle, method, params, **extra)
        assert "error" not in answer, answer
        return answer["result"]

    def error(self, handle: int, method: str, params: Any = None) -> dict[str, Any]:
        """Call and return ``error``, failing on a result; checks Qlik's error shape."""
        answer = self.call(handle, method, params)
        assert "result" not in answer, answer
        error: dict[str, Any] = answer["error"]
        assert set(error) == {"code", "parameter", "message"}
        assert isinstance(error["code"], int)
        assert isinstance(error["parameter"], str)
        assert isinstance(error["message"], str)
        return error


def greeting_state(connection: EngineConnection) -> str:
    """The ``qSessionState`` of the connection's ``OnConnected`` greeting."""
    (text,) = connection.greeting()
    message = json.loads(text)
    assert message["jsonrpc"] == "2.0"
    assert message["method"] == "OnConnected"
    assert "id" not in message
    state: str = message["params"]["qSessionState"]
    return state


def table_def(
    dimensions: list[str], measures: list[str], *, fetch: list[dict[str, int]] | None = None
) -> dict[str, Any]:
    """Session object properties with one hypercube."""
    return {
        "qInfo": {"qType": "table"},
        "qHyperCubeDef": {
            "qDimensions": [{"qDef": {"qFieldDefs": [d]}} for d in dimensions],
            "qMeasures": [{"qDef": {"qDef": m}} for m in measures],
            "qInitialDataFetch": fetch or [],
        },
    }
