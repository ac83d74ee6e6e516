"""Chooses the generation thread count while a reply streams, by timing the tokens.

Neither choice wins everywhere (benchmarks/RESULTS.md, generation threads). On an idle 2-core
machine, generating with every physical core is 35-45% faster than with one fewer, as
llama-bench's default does. But when another process keeps a core busy, OpenMP threads that
share a core wait for each other at every one of the hundreds of barriers in a token, and every
core is 2.5-3x *slower* than one fewer (llama-bench's default collapses the same way). The load
on a user's machine comes and goes, so the worker measures instead of guessing:

* it starts with the last count that won (every physical core at first);
* every so often it times the other count for a few tokens and keeps the faster. The checks
  come after a number of tokens that doubles each time the choice holds (up to ``MAX_HOLD``),
  and at once when the current count gets much slower than it was (another process started);
* a probe of the losing count costs a few slow tokens, so while every core is in use and
  other processes use less than ``BUSY_CORES`` of the CPU (``OtherLoad``), the check is
  skipped: on an idle machine every core is known to win, and probing would only cost.

The first token after a switch is not timed (the threads wake up). Only automatic thread counts
are tuned; a count the user set is used as it is.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import psutil

PROBE = 4  # timed tokens per measurement
FIRST_HOLD = 32  # tokens before the first re-check of a choice
MAX_HOLD = 1024
SLOWDOWN = 1.3  # the current count this much slower than its baseline: re-check now
MARGIN = 1.03  # the other count must be this much faster to take over
BUSY_CORES = 0.25  # other processes' CPU use (in cores) that makes a check worth its cost


class OtherLoad:
    """How many cores other processes used since the last call (system CPU time minus this
    process's own), from psutil's counters: a few tens of microseconds per call."""

    def __init__(self) -> None:
        self._me = psutil.Process()
        self._last = self._read()

    def _read(self) -> tuple[float, float, float]:
        cpu = psutil.cpu_times()
        busy = sum(cpu) - cpu.idle - getattr(cpu, "iowait", 0.0)
        own = self._me.cpu_times()
        return time.monotonic(), busy, own.user + own.system

    def __call__(self) -> float:
        now = self._read()
        (t0, busy0, own0), self._last = self._last, now
        seconds = now[0] - t0
        if seconds <= 0:
            return 0.0
        return max(0.0, (now[1] - busy0) - (now[2] - own0)) / seconds


class ThreadTuner:
    """Feed it every token's interval (``record``); it answers the thread count to use next."""

    def __init__(
        self, candidates: Sequence[int], others: Callable[[], float] | None = None
    ) -> None:
        """``others`` gives the cores other processes used since its last call; without it
        every check probes."""
        self.candidates = tuple(dict.fromkeys(max(1, int(c)) for c in candidates))
        self._others = others
        self._top = max(self.candidates)
        self.best = self.candidates[0]
        self._current = self.best
        self._hold = FIRST_HOLD
        self._until_check = PROBE + 1  # the first reply checks the alternative early
        self._skip = 1  # untimed tokens left after a switch
        self._times: list[float] = []
        self._baseline: float | None = None  # median token time of ``best`` when last measured
        self._probing: int | None = None  # the candidate being timed against ``best``
        self._slowed = False  # the current count got much slower: check whatever the load
        self.switches = 0
        self.probes = 0

    @property
    def tunable(self) -> bool:
        return len(self.candidates) > 1

    @property
    def current(self) -> int:
        return self._current

    def record(self, seconds: float) -> int:
        """One token took ``seconds`` (from the previous token); returns the count for the next."""
        if not self.tunable:
            return self._current
        if self._skip:
            self._skip -= 1
            return self._current
        self._times.append(seconds)
        if self._probing is not None:
            if len(self._times) >= PROBE:
                self._finish_probe(statistics.median(self._times))
            return self._current
        recent = self._times[-PROBE:]
        if len(recent) == PROBE:
            median = statistics.median(recent)
            if self._baseline is None:
                self._baseline = median
            elif median > self._baseline * SLOWDOWN:
                self._until_check, self._slowed = 0, True  # something else started: look now
        self._until_check -= 1
        if self._until_check <= 0 and len(recent) == PROBE:
            if self._worth_checking():
                self._baseline = statistics.median(recent)
                self._start_probe()
            else:
                self._until_check = FIRST_HOLD  # ask about the load again later
        return self._current

    def _worth_checking(self) -> bool:
        slowed, self._slowed = self._slowed, False
        if slowed or self._others is None or self.best != self._top:
            return True
        return self._others() >= BUSY_CORES

    def _start_probe(self) -> None:
        self.probes += 1
        others = [c for c in self.candidates if c != self.best]
        self._probing = others[0]
        self._switch(self._probing)

    def _finish_probe(self, probe_median: float) -> None:
        assert self._probing is not None and self._baseline is not None
        if probe_median * MARGIN < self._baseline:
            self.best, self._baseline = self._probing, probe_median
            self._hold = FIRST_HOLD
        else:
            self._hold = min(MAX_HOLD, self._hold * 2)
        self._probing = None
        self._until_check = self._hold
        self._switch(self.best)

    def _switch(self, threads: int) -> None:
        if threads != self._current:
            self.switches += 1
        self._current = threads
        self._times = []
        self._skip = 1
