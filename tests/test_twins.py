"""Methods written once for a sync and an asyncio owner (``qlikauth._twins``)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from typing import Any, Self, TypeVar

from qlikauth._twins import AsyncDriver, Operation, Steps, SyncDriver, constructor, operation
from qlikauth.http.drivers import drive, drive_async

T = TypeVar("T")


class Calculator:
    """One description: each method asks its owner to double numbers, one step at a time."""

    asked: list[int]

    @operation
    def quadruple(self, number: int, *, plus: int = 0) -> Steps[int]:
        """Four times ``number``, plus ``plus``."""
        twice = yield number
        return (yield twice) + plus

    @constructor
    def starting(cls, *asked: int) -> list[int]:
        """A calculator that already answered ``asked``."""
        return list(asked)


class SyncCalculator(Calculator, SyncDriver):
    def __init__(self, asked: list[int]) -> None:
        self.asked = asked

    @classmethod
    def _make(cls, asked: list[int]) -> Self:
        return cls(asked)

    def _run(self, steps: Steps[T]) -> T:
        return drive(steps, self._double)

    def _double(self, number: int) -> int:
        self.asked.append(number)
        return number * 2


class AsyncCalculator(Calculator, AsyncDriver):
    def __init__(self, asked: list[int]) -> None:
        self.asked = asked

    @classmethod
    async def _make(cls, asked: list[int]) -> Self:
        await asyncio.sleep(0)
        return cls(asked)

    async def _run(self, steps: Steps[T]) -> T:
        return await drive_async(steps, self._double)

    async def _double(self, number: int) -> int:
        await asyncio.sleep(0)
        self.asked.append(number)
        return number * 2


def test_the_sync_owner_returns_the_result() -> None:
    calculator = SyncCalculator.starting(1)
    assert isinstance(calculator, SyncCalculator)
    assert calculator.quadruple(3, plus=1) == 13
    assert calculator.asked == [1, 3, 6]


def test_the_asyncio_owner_returns_a_coroutine_of_it() -> None:
    async def main() -> tuple[object, AsyncCalculator]:
        calculator = await AsyncCalculator.starting(1)
        pending: Awaitable[Any] = calculator.quadruple(3, plus=1)
        assert inspect.iscoroutine(pending)
        return await pending, calculator

    result, calculator = asyncio.run(main())
    assert result == 13
    assert calculator.asked == [1, 3, 6]


def test_the_methods_keep_their_name_doc_and_signature() -> None:
    assert isinstance(Calculator.__dict__["quadruple"], Operation)
    bound = SyncCalculator([]).quadruple
    assert bound.__name__ == "quadruple"
    assert bound.__doc__ == "Four times ``number``, plus ``plus``."
    assert list(inspect.signature(bound).parameters) == ["number", "plus"]
    assert AsyncCalculator.starting.__doc__ == "A calculator that already answered ``asked``."
