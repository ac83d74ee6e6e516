"""``with`` on objects that own a resource: returns the object, closes it however the block ends."""

from __future__ import annotations

import pytest

from desktop_app.core.closing import ClosesOnExit


class _Resource(ClosesOnExit):
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_with_returns_the_object_and_closes_it() -> None:
    res = _Resource()
    with res as inside:
        assert inside is res and res.closed == 0
    assert res.closed == 1


def test_an_exception_closes_and_is_not_swallowed() -> None:
    res = _Resource()
    with pytest.raises(KeyError), res:
        raise KeyError("boom")
    assert res.closed == 1


def test_a_subclass_without_close_fails_loudly() -> None:
    with pytest.raises(NotImplementedError), ClosesOnExit():
        pass
