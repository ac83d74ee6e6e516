"""Typed errors of the engine (codes and facts only; ``desktop_app.messages`` phrases them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from desktop_app.core.engine.protocol import ErrorCode
from desktop_app.core.errors import QuantDeskError

if TYPE_CHECKING:
    from desktop_app.core.fit import FitEstimate


class EngineError(QuantDeskError):
    """A request failed inside the worker; becomes Failed(error_code, detail, facts)."""

    code = "engine_error"

    def __init__(
        self,
        error_code: ErrorCode,
        detail: str = "",
        facts: dict[str, int | float | str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.error_code = error_code
        self.facts = dict(facts or {})


class DoesNotFitError(QuantDeskError):
    """The fit estimate says the model will not fit in available memory. The UI asks the user
    and calls ``load(..., force=True)`` to load anyway; ``fit`` has the numbers."""

    code = ErrorCode.DOES_NOT_FIT.value

    def __init__(self, fit: FitEstimate, *, path: str | None = None) -> None:
        super().__init__(f"needs {fit.total} bytes, {fit.available} available", path=path)
        self.fit = fit


class WorkerStoppedError(QuantDeskError):
    """A request was made to a worker that has exited (shut down or crashed)."""

    code = "worker_stopped"


class EngineTimeoutError(QuantDeskError):
    """A blocking wait for a request's end ran out of time."""

    code = "engine_timeout"
