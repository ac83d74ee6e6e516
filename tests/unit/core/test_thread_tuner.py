"""ThreadTuner against simulated machines: token time as a function of the thread count.

The simulated times are the ones measured on this 2-core machine (benchmarks/RESULTS.md):
idle, 2 threads 12 ms/token and 1 thread 17 ms; one core busy elsewhere, 2 threads 40 ms and
1 thread 17 ms.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

from desktop_app.core.engine.thread_tuner import MAX_HOLD, PROBE, OtherLoad, ThreadTuner

IDLE = {2: 0.012, 1: 0.017}
BUSY = {2: 0.040, 1: 0.017}


def run(tuner: ThreadTuner, tokens: int, machine: Callable[[int], dict[int, float]]) -> list[int]:
    """Feeds ``tokens`` intervals; returns the thread count each token was generated with."""
    used = []
    current = tuner.current
    for i in range(tokens):
        used.append(current)
        current = tuner.record(machine(i)[current])
    return used


def test_idle_machine_keeps_every_core_and_probes_rarely() -> None:
    tuner = ThreadTuner((2, 1))
    used = run(tuner, 4000, lambda i: IDLE)
    assert tuner.best == 2
    slow = used.count(1)
    # Each probe costs PROBE + 1 tokens; the hold doubles up to MAX_HOLD, so over 4000 tokens
    # only a handful of probes happen: under 2% of tokens on the slower count.
    assert 0 < slow < 0.02 * len(used)
    # And the time lost against always using 2 threads is under 1%.
    spent = sum(IDLE[t] for t in used)
    assert spent < 1.01 * IDLE[2] * len(used)


def test_busy_machine_moves_to_one_core_fewer_within_a_few_tokens() -> None:
    tuner = ThreadTuner((2, 1))
    used = run(tuner, 400, lambda i: BUSY)
    assert tuner.best == 1
    assert used.index(1) <= 2 * (PROBE + 1)  # the first check comes early
    assert used[2 * (PROBE + 1) + 2 :].count(2) < 0.05 * len(used)
    spent = sum(BUSY[t] for t in used)
    assert spent < 1.1 * BUSY[1] * len(used)


def test_load_that_starts_mid_reply_is_noticed_at_once() -> None:
    tuner = ThreadTuner((2, 1))
    start = 2000  # long after the hold has grown
    used = run(tuner, 2200, lambda i: BUSY if i >= start else IDLE)
    assert used[start - 1] == 2
    # The slowdown triggers a check within the next measurement, not after the hold.
    assert 1 in used[start : start + 3 * (PROBE + 1)]
    # From then on one core fewer, but for the re-checks of the other count.
    after = used[start + 4 * (PROBE + 1) : start + 200]
    assert after.count(2) <= 2 * (PROBE + 1)


def test_load_that_ends_is_found_by_a_later_check() -> None:
    tuner = ThreadTuner((2, 1))
    end = 300
    used = run(tuner, end + MAX_HOLD + 100, lambda i: BUSY if i < end else IDLE)
    assert used[end - 1] == 1
    assert tuner.best == 2
    back = end + used[end:].index(2)
    after = used[back + 2 * (PROBE + 1) :][:200]
    assert after.count(1) <= 2 * (PROBE + 1)


def test_noise_does_not_flip_the_choice_on_a_small_difference() -> None:
    tuner = ThreadTuner((2, 1))
    # 1 thread only 1% faster: inside the margin, the current count stays.
    run(tuner, 300, lambda i: {2: 0.0100, 1: 0.0099})
    assert tuner.best == 2 and tuner.switches <= 2 * 4


def test_a_single_candidate_is_never_tuned() -> None:
    tuner = ThreadTuner((4,))
    assert not tuner.tunable
    assert set(run(tuner, 200, lambda i: {4: 0.01})) == {4}
    assert tuner.switches == 0


def test_duplicate_and_zero_candidates_collapse() -> None:
    assert ThreadTuner((1, 1)).candidates == (1,)
    assert ThreadTuner((0, 1)).candidates == (1,)


def test_no_probes_while_every_core_is_in_use_and_nothing_else_runs() -> None:
    tuner = ThreadTuner((2, 1), others=lambda: 0.0)
    used = run(tuner, 2000, lambda i: IDLE)
    assert set(used) == {2} and tuner.probes == 0


def test_other_load_makes_the_check_happen() -> None:
    load = {"cores": 0.0}
    tuner = ThreadTuner((2, 1), others=lambda: load["cores"])
    # Another process starts; its CPU use shows before the tokens get slower (say the GUI).
    used = run(tuner, 200, lambda i: IDLE)
    assert tuner.probes == 0
    load["cores"] = 0.7
    used = run(tuner, 200, lambda i: BUSY)
    assert tuner.best == 1 and used.count(1) > 150


def test_a_slowdown_checks_even_when_others_seem_idle() -> None:
    # Contention psutil cannot see (another VM on the host): the tokens say it.
    tuner = ThreadTuner((2, 1), others=lambda: 0.0)
    used = run(tuner, 600, lambda i: BUSY if i >= 300 else IDLE)
    assert tuner.best == 1 and used[-100:].count(1) > 90


def test_other_load_measures_another_busy_process() -> None:
    load = OtherLoad()
    assert load() >= 0.0
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        load()  # from here on the spinner runs the whole window
        time.sleep(1.0)
        busy = load()
    finally:
        spinner.kill()
        spinner.wait()
    # One core's worth, less whatever the shared machine takes from it.
    assert busy > 0.5
