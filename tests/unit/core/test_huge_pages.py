"""The huge-page tunable the model workers are started with (engine/huge_pages.py)."""

from __future__ import annotations

import sys

import pytest

from desktop_app.core.engine.huge_pages import (
    OPT_OUT_ENV,
    TUNABLES_ENV,
    enable_for_workers,
    huge_page_bytes,
    with_hugetlb,
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
def test_enable_sets_the_environment_once_and_keeps_other_tunables() -> None:
    env = {TUNABLES_ENV: "glibc.malloc.arena_max=2"}
    assert enable_for_workers(env) is True
    assert env[TUNABLES_ENV] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    first = env[TUNABLES_ENV]
    assert enable_for_workers(env) is True and env[TUNABLES_ENV] is first  # not set again


@linux_only
def test_user_can_turn_huge_pages_off() -> None:
    opted_out = {OPT_OUT_ENV: "0"}
    assert enable_for_workers(opted_out) is False and TUNABLES_ENV not in opted_out
    told_glibc = {TUNABLES_ENV: "glibc.malloc.hugetlb=0"}
    assert enable_for_workers(told_glibc) is False
    assert told_glibc[TUNABLES_ENV] == "glibc.malloc.hugetlb=0"


def test_huge_page_bytes_of_a_missing_process_is_zero() -> None:
    assert huge_page_bytes(2**31 - 1) == 0
    assert huge_page_bytes() >= 0
