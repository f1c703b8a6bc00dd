"""The authenticator cases as a parametrized fixture."""

from __future__ import annotations

import pytest
from client_support import AUTH_CASES, AuthCase


@pytest.fixture(params=AUTH_CASES, ids=[c.name for c in AUTH_CASES])
def auth_case(request: pytest.FixtureRequest) -> AuthCase:
    case: AuthCase = request.param
    return case
