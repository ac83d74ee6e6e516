"""The huge-page tunable model workers are started with (engine/huge_pages.py)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from desktop_app.core.engine.huge_pages import (
    OPT_OUT_ENV,
    TUNABLES_ENV,
    huge_page_bytes,
    prepare_environment,
    spawning,
    with_hugetlb,
    worker_tunables,
)

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tunable")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", "glibc.malloc.hugetlb=1"),
        ("glibc.malloc.arena_max=2", "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"),
        ("glibc.malloc.hugetlb=0", "glibc.malloc.hugetlb=0"),  # the user's choice stays
        ("a=1::glibc.malloc.hugetlb=2", "a=1:glibc.malloc.hugetlb=2"),
        ("glibc.malloc.hugetlbx=1", "glibc.malloc.hugetlbx=1:glibc.malloc.hugetlb=1"),
    ],
)
def test_with_hugetlb_adds_the_tunable_once(before: str, after: str) -> None:
    assert with_hugetlb(before) == after
    assert with_hugetlb(after) == after


@linux_only
def test_worker_tunables_keep_other_tunables_and_the_opt_out() -> None:
    assert worker_tunables({}) == "glibc.malloc.hugetlb=1"
    assert worker_tunables({TUNABLES_ENV: "glibc.malloc.arena_max=2"}) == (
        "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    )
    assert worker_tunables({OPT_OUT_ENV: "0", TUNABLES_ENV: "x=1"}) is None


@linux_only
def test_prepare_environment_adds_an_empty_variable_only_when_missing() -> None:
    env: dict[str, str] = {}
    prepare_environment(env)
    assert env == {TUNABLES_ENV: ""}
    mine = {TUNABLES_ENV: "glibc.malloc.arena_max=2"}
    prepare_environment(mine)
    assert mine == {TUNABLES_ENV: "glibc.malloc.arena_max=2"}


@linux_only
def test_spawning_sets_the_tunable_for_one_start_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TUNABLES_ENV, "glibc.malloc.arena_max=2")
    with spawning(huge_pages=True):
        assert os.environ[TUNABLES_ENV] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    assert os.environ[TUNABLES_ENV] == "glibc.malloc.arena_max=2"
    with spawning(huge_pages=False):
        assert os.environ[TUNABLES_ENV] == "glibc.malloc.arena_max=2"
    monkeypatch.setenv(OPT_OUT_ENV, "0")
    with spawning(huge_pages=True):
        assert os.environ[TUNABLES_ENV] == "glibc.malloc.arena_max=2"


@linux_only
def test_other_starts_wait_for_a_model_worker_start(monkeypatch: pytest.MonkeyPatch) -> None:
    # A quantize worker started from another thread must not inherit the model worker's value.
    monkeypatch.setenv(TUNABLES_ENV, "")
    seen: list[str] = []
    entered = threading.Event()

    def other_start() -> None:
        entered.set()
        with spawning(huge_pages=False):
            seen.append(os.environ[TUNABLES_ENV])

    with spawning(huge_pages=True):
        thread = threading.Thread(target=other_start)
        thread.start()
        entered.wait(5)
        thread.join(0.2)
        assert thread.is_alive() and seen == []  # held back while the tunable is set
    thread.join(5)
    assert seen == [""]


def test_huge_page_bytes_of_a_missing_process_is_zero() -> None:
    assert huge_page_bytes(2**31 - 1) == 0
    assert huge_page_bytes() >= 0
