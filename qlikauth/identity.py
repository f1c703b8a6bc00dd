"""Who a Qlik user is: a user directory and a user id, as ``X-Qlik-User`` names them."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, unquote

from qlikauth.errors import ConfigurationError

__all__ = ["QlikUser", "check_attributes", "check_identity_text"]

#: Unicode categories no identity field may hold: control characters (C0, DEL, C1: CR/LF
#: among them), line and paragraph separators, and format characters such as the
#: bidirectional overrides, which make a log line or a terminal show something else.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cf"})
#: Format characters that real names use (the zero-width non-joiner and joiner of Persian and
#: Indic scripts): allowed.
_ALLOWED_FORMAT = frozenset({"\u200c", "\u200d"})


def check_identity_text(label: str, value: str) -> str:
    """Return ``value`` if it may name a user, directory, group or attribute; raise otherwise.

    Control characters (CR/LF above all), line separators and bidirectional overrides
    would forge lines in logs and command output, or split a header downstream
    (``X-Qlik-User``, ``X-Qlik-Security``): no Qlik identity needs them.
    """
    for char in value:
        if unicodedata.category(char) == "Cs":
            raise ConfigurationError(
                f"the {label} contains the lone surrogate U+{ord(char):04X}",
                hint="The text was decoded wrongly (bytes read with errors='surrogateescape'?); "
                "a surrogate has no UTF-8 form, so no server can receive it.",
            )
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES and char not in _ALLOWED_FORMAT:
            raise ConfigurationError(
                f"the {label} contains the control character U+{ord(char):04X}",
                hint="User ids, directories, groups and attributes may not hold control "
                "characters such as CR/LF or tab; check for a stray line break.",
            )
    return value


def check_attributes(pairs: Iterable[tuple[str, str]]) -> None:
    """Check ticket or session attributes: the proxy passes them on as ``X-Qlik-Security``."""
    for key, value in pairs:
        check_identity_text("attribute name", key)
        check_identity_text(f"value of attribute {key!r}", value)


@dataclass(frozen=True)
class QlikUser:
    """A Qlik user: user directory and user id, as Qlik's ``X-Qlik-User`` names them."""

    directory: str
    user_id: str

    def __post_init__(self) -> None:
        for label, value in (("user directory", self.directory), ("user id", self.user_id)):
            if not value.strip():
                raise ConfigurationError(
                    f"the {label} is empty", hint="Qlik needs both a directory and a user id."
                )
            check_identity_text(label, value)
            if "\\" in value:
                raise ConfigurationError(
                    f"the {label} {value!r} contains a backslash",
                    hint="Give the directory and the user id separately, "
                    "e.g. directory='CORP', user_id='alice'.",
                )

    def header_value(self) -> str:
        """``UserDirectory=<dir>; UserId=<id>``, URL-encoded as Qlik requires."""
        return f"UserDirectory={quote(self.directory)}; UserId={quote(self.user_id)}"

    @classmethod
    def parse(cls, value: str) -> QlikUser:
        """Parse ``DIR\\user`` or an ``X-Qlik-User`` header value (either spacing)."""
        if "=" in value:
            fields = {}
            for part in value.split(";"):
                key, _, val = part.strip().partition("=")
                fields[key.strip().lower()] = unquote(val.strip())
            if "userdirectory" in fields and "userid" in fields:
                return cls(fields["userdirectory"], fields["userid"])
        elif "\\" in value:
            directory, _, user_id = value.partition("\\")
            return cls(directory, user_id)
        raise ConfigurationError(
            f"cannot read a Qlik user from {value!r}",
            hint="Write it as DIRECTORY\\user or UserDirectory=DIR; UserId=user.",
        )

    def __str__(self) -> str:
        return f"{self.directory}\\{self.user_id}"
