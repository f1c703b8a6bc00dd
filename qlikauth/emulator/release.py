"""What differs between the Qlik Sense releases the emulator models.

``2024-05`` is Qlik Sense Enterprise on Windows May 2024, the last release before the
November 2024 websocket CSRF change; ``2024-11`` is November 2024, the default. The
version numbers are INFERRED placeholders of the captured shapes (``docs/emulator.md``,
"Release modes", says where each comes from): no capture of these two releases was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["DEFAULT_RELEASE", "RELEASES", "Release", "ReleaseFacts", "release_facts"]

Release = Literal["2024-05", "2024-11"]
RELEASES: tuple[Release, ...] = ("2024-05", "2024-11")
DEFAULT_RELEASE: Release = "2024-11"


@dataclass(frozen=True)
class ReleaseFacts:
    """One release: its name, versions, and whether it has the November 2024 protection."""

    release: Release
    name: str
    #: QRS ``buildVersion`` (dotted, four parts) and ``buildDate`` (QRS's M/D/YYYY format).
    build_version: str
    build_date: str
    #: ``Global.EngineVersion`` (``qComponentVersion``) and ``Global.ProductVersion``.
    engine_version: str
    product_version: str
    #: ``GET /{prefix}/qps/csrftoken`` exists and websocket upgrades are CSRF/Origin checked.
    websocket_csrf: bool

    def about(self) -> dict[str, Any]:
        """The body of ``GET /qrs/about``, as the repository answers it (same keys, order)."""
        return {
            "buildVersion": self.build_version,
            "buildDate": self.build_date,
            "databaseProvider": "Devart.Data.PostgreSql",
            "nodeType": 1,
            "sharedPersistence": True,
            "requiresBootstrap": False,
            "singleNodeOnly": False,
            "schemaPath": "About",
        }


_FACTS = {
    "2024-05": ReleaseFacts(
        release="2024-05",
        name="Qlik Sense Enterprise on Windows May 2024",
        build_version="30.1.2.0",
        build_date="5/14/2024 12:00:00 AM",
        engine_version="12.2015.0",
        product_version="14.187.4",
        websocket_csrf=False,
    ),
    "2024-11": ReleaseFacts(
        release="2024-11",
        name="Qlik Sense Enterprise on Windows November 2024",
        build_version="30.3.4.0",
        build_date="11/12/2024 12:00:00 AM",
        engine_version="12.2027.0",
        product_version="14.212.5",
        websocket_csrf=True,
    ),
}


def release_facts(release: str) -> ReleaseFacts:
    """The facts of one release (``KeyError`` for an unknown name; configs are validated)."""
    return _FACTS[release]
