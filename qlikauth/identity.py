"""Who a Qlik user is: a user directory and a user id, as ``X-Qlik-User`` names them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

from qlikauth.errors import ConfigurationError

__all__ = ["QlikUser"]


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
