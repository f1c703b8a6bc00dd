"""The emulator's engine model: Qlik's QIX JSON-RPC behaviour, with no sockets.

The servers plug it in: :meth:`Engine.connect` per websocket, then
:meth:`EngineConnection.greeting` and :meth:`EngineConnection.handle` for its texts.
"""

from __future__ import annotations

from qlikauth.emulator.qix.data import App, default_apps, large_app
from qlikauth.emulator.qix.export import Export
from qlikauth.emulator.qix.session import Engine, EngineConnection, EngineUser

__all__ = [
    "App",
    "Engine",
    "EngineConnection",
    "EngineUser",
    "Export",
    "default_apps",
    "large_app",
]
