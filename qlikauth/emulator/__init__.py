"""The Qlik Sense emulator: an honest model of the QSEoW server side, for tests and demos.

``Emulator`` runs the proxy (virtual proxies, sessions, websockets, tempcontent), QPS and
QRS on mutual TLS, the direct engine, and the internal Windows/forms authentication module,
each on its own loopback port. See ``docs/emulator.md``. Needs the ``server`` extra
(aiohttp, pyspnego); names are imported lazily so ``qlikauth.emulator.qix`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qlikauth.emulator.config import EmulatorConfig, default_config
    from qlikauth.emulator.configfile import load_config
    from qlikauth.emulator.server import Emulator

__all__ = ["Emulator", "EmulatorConfig", "default_config", "load_config"]

_WHERE = {
    "Emulator": "qlikauth.emulator.server",
    "EmulatorConfig": "qlikauth.emulator.config",
    "default_config": "qlikauth.emulator.config",
    "load_config": "qlikauth.emulator.configfile",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
