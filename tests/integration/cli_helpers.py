"""Shared by the integration tests: the CLI's promise (one line on stderr, exit code 1, never a
traceback) and the condition for the huge-page tests."""

from __future__ import annotations

import subprocess

import pytest

from desktop_app.core.engine.huge_pages import thp_mode

# The worker asks for huge pages itself; with THP "always" every process gets them anyway and
# with "never" (or no THP at all) nobody does, so only "madvise" shows the worker's own choice.
needs_opt_in_huge_pages = pytest.mark.skipif(
    thp_mode() != "madvise", reason="huge pages must be opt-in (THP madvise)"
)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("quantdesk: ")
    for word in words:
        assert word in lines[0]
