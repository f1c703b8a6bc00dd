"""Who an engine session belongs to."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EngineUser"]


@dataclass(frozen=True)
class EngineUser:
    """Who the engine session belongs to, as the proxy or ``X-Qlik-User`` named them."""

    directory: str
    user_id: str
