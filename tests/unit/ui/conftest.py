"""GUI fixtures: real services on temp folders, and a check that no background work leaks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from desktop_app.core.paths import AppPaths
from desktop_app.ui.services import Services
from desktop_app.ui.tasks import Pools


@pytest.fixture
def services(qapp: object) -> Iterator[Services]:
    pools = Pools()
    svc = Services(paths=AppPaths.default().ensure(), pools=pools)
    yield svc
    # Every test must leave its background work finished (napari-style dangling check).
    busy = sum(pool.activeThreadCount() for pool in pools.all())
    assert pools.shutdown(10_000), "background work still running after the test"
    assert busy == 0, f"{busy} background task(s) were still running when the test ended"
