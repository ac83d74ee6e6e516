"""``with`` support for objects that own something to release (a database, a worker process).

Subclasses define ``close()``; ``with obj:`` then returns ``obj`` and closes it on the way out,
whether the block ended normally or by an exception (which is never swallowed).
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["ClosesOnExit"]


class ClosesOnExit:
    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
