"""Compare end to end: the runner with real workers on the tiny models, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from cli_helpers import assert_one_line_error
from test_engine import write_model_without_layers

from desktop_app.core.compare.plan import CompareSpecError, plan_run
from desktop_app.core.compare.results import (
    CompareEvent,
    CompareSpec,
    PaneState,
    PaneStateChanged,
    PaneToken,
    PlanReady,
    RunFinished,
    RunMode,
)
from desktop_app.core.compare.runner import run_compare
from desktop_app.core.engine.protocol import ChatMessage
from desktop_app.core.synthetic_model import write_model

pytestmark = pytest.mark.integration

HELLO = (ChatMessage("user", "Tell me about small models."),)


def chat_spec(paths: list[Path], max_tokens: int = 24, **kw: object) -> CompareSpec:
    import dataclasses

    from desktop_app.core.compare.results import COMPARE_SAMPLING

    sampling = dataclasses.replace(COMPARE_SAMPLING, max_tokens=max_tokens)
    return CompareSpec(tuple(str(p) for p in paths), messages=HELLO, sampling=sampling, **kw)  # type: ignore[arg-type]


def test_parallel_run_scores_every_variant_against_the_reference(
    tiny_models: dict[str, Path],
) -> None:
    events: list[CompareEvent] = []
    spec = chat_spec([tiny_models["Q2_K"], tiny_models["F16"], tiny_models["Q8_0"]])
    result = run_compare(spec, on_event=events.append, cancelled=lambda: False)
    assert result.plan.mode == RunMode.PARALLEL and result.plan.reason == "all_fit"
    assert result.plan.reference == 1  # F16: the highest precision, whatever the order
    assert isinstance(events[0], PlanReady) and isinstance(events[-1], RunFinished)
    streamed = {e.index for e in events if isinstance(e, PaneToken)}
    assert streamed == {0, 1, 2}
    ref, q2, q8 = result.variants[1], result.variants[0], result.variants[2]
    assert not any(v.failed for v in result.variants)
    assert ref.summary is not None and ref.summary.kld_mean == 0.0
    assert q2.summary is not None and q8.summary is not None
    assert q2.summary.n_tokens == q8.summary.n_tokens == len(ref.tokens)
    assert q2.summary.kld_mean is not None and q8.summary.kld_mean is not None
    assert q2.summary.kld_mean > q8.summary.kld_mean > 0  # fewer bits, further away
    assert result.scored_tokens == tuple(t.token_id for t in ref.tokens)
    assert all(v.stats is not None and v.stats.gen_tps > 0 for v in result.variants)
    assert all(v.peak_rss_bytes > 0 for v in result.variants)


def test_sequential_run_gives_the_same_numbers(tiny_models: dict[str, Path]) -> None:
    paths = [tiny_models["F16"], tiny_models["Q4_K_M"]]
    parallel = run_compare(chat_spec(paths), on_event=lambda e: None, cancelled=lambda: False)
    spec = chat_spec(paths)
    # The estimate for one tiny model is ~70 MB: 200 MB "available" fits one, not two.
    plan = plan_run(spec, available=200 * 2**20)
    assert plan.mode == RunMode.SEQUENTIAL and plan.reason == "too_big_together"
    states: list[tuple[int, PaneState]] = []

    def on(e: CompareEvent) -> None:
        if isinstance(e, PaneStateChanged):
            states.append((e.index, e.state))

    seq = run_compare(spec, plan=plan, on_event=on, cancelled=lambda: False)
    # One after the other: the reference finishes before the variant starts loading.
    assert states.index((0, PaneState.DONE)) < states.index((1, PaneState.LOADING))
    for a, b in zip(parallel.variants, seq.variants, strict=True):
        assert a.text == b.text
        assert a.summary is not None and b.summary is not None
        assert b.summary.kld_mean == pytest.approx(a.summary.kld_mean, rel=1e-3, abs=1e-6)


def test_cached_comparison_starts_no_worker(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    spec = chat_spec([tiny_models["F16"], tiny_models["Q2_K"]], max_tokens=8)
    first = run_compare(spec, on_event=lambda e: None, cancelled=lambda: False, cache_dir=tmp_path)
    events: list[CompareEvent] = []
    again = run_compare(spec, on_event=events.append, cancelled=lambda: False, cache_dir=tmp_path)
    assert all(v.from_cache for v in again.variants)
    assert not any(isinstance(e, PaneStateChanged) for e in events)  # nothing was loaded
    assert [v.text for v in again.variants] == [v.text for v in first.variants]
    s1, s2 = first.variants[1].summary, again.variants[1].summary
    assert s1 is not None and s2 is not None and s2.kld_mean == pytest.approx(s1.kld_mean)
    # A changed file is a different comparison.
    os.utime(tiny_models["Q2_K"], ns=(1, 1))
    third = run_compare(spec, on_event=lambda e: None, cancelled=lambda: False, cache_dir=tmp_path)
    assert not any(v.from_cache for v in third.variants)


@pytest.mark.allow_log_errors  # llama.cpp logs its refusal at ERROR
def test_a_failing_variant_fails_alone(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    broken = write_model_without_layers(tmp_path / "no-layers-Q8_0.gguf")
    spec = chat_spec([tiny_models["F16"], broken, tiny_models["Q2_K"]], reference=0)
    result = run_compare(spec, on_event=lambda e: None, cancelled=lambda: False)
    assert result.variants[1].error_code == "load_failed"
    assert not result.variants[0].failed and not result.variants[2].failed
    assert result.variants[2].summary is not None and result.variants[2].summary.kld_mean


def test_another_vocabulary_is_refused_for_kld(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    other = write_model(tmp_path / "small-F16.gguf", "small")
    spec = chat_spec([tiny_models["F16"], other], reference=0, max_tokens=6)
    result = run_compare(spec, on_event=lambda e: None, cancelled=lambda: False)
    assert result.variants[1].error_code == "vocab_mismatch"
    assert result.variants[1].text  # its own reply is still shown
    assert not result.variants[0].failed


def test_cancel_stops_every_pane(tiny_models: dict[str, Path]) -> None:
    spec = chat_spec([tiny_models["F16"], tiny_models["Q2_K"]], max_tokens=100_000)
    seen = {"tokens": 0}

    def on(e: CompareEvent) -> None:
        if isinstance(e, PaneToken):
            seen["tokens"] += 1

    result = run_compare(spec, on_event=on, cancelled=lambda: seen["tokens"] > 20)
    assert result.cancelled
    # A pane whose short reply was already complete may have finished; every other pane stops.
    codes = [v.error_code for v in result.variants]
    assert "cancelled" in codes and set(codes) <= {"", "cancelled"}
    assert all(v.summary is None for v in result.variants if v.error_code)
    workers = [
        c for c in psutil.Process().children() if "resource_tracker" not in " ".join(c.cmdline())
    ]
    assert workers == []  # every worker process has ended


def test_text_mode_scores_chunks_like_llama_perplexity(tiny_models: dict[str, Path]) -> None:
    text = "the small model reads a long story about the quiet river and the old mill. " * 60
    spec = CompareSpec(
        (str(tiny_models["F16"]), str(tiny_models["Q2_K"])), text=text, n_ctx=128, max_chunks=3
    )
    result = run_compare(spec, on_event=lambda e: None, cancelled=lambda: False)
    q2 = result.variants[1].summary
    assert q2 is not None and q2.n_tokens == 3 * (128 - 1 - 64)
    assert q2.kld_mean is not None and q2.kld_mean > 0 and q2.ppl > 1
    # Every scored token has its text, for the heat strips' tooltips.
    assert len(result.scored_texts) == len(result.scored_tokens) == q2.n_tokens
    pieces = "".join(result.scored_texts)
    assert "river" in pieces and "mill" in pieces


def test_spec_errors() -> None:
    with pytest.raises(CompareSpecError) as one:
        plan_run(CompareSpec(("a.gguf",), messages=HELLO))
    assert one.value.code == "variant_count"
    with pytest.raises(CompareSpecError) as dup:
        plan_run(CompareSpec(("a.gguf", "a.gguf"), messages=HELLO))
    assert dup.value.code == "duplicate"
    with pytest.raises(CompareSpecError) as none:
        plan_run(CompareSpec(("a.gguf", "b.gguf")))
    assert none.value.code == "no_input"


# --- CLI --------------------------------------------------------------------------------------


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QUANTDESK_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_cli_compare_json(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    proc = run_cli(
        "compare",
        str(tiny_models["F16"]),
        str(tiny_models["Q4_K_M"]),
        str(tiny_models["Q2_K"]),
        "--prompt",
        "<b>hello</b> & welcome",
        "--max-tokens",
        "16",
        "--json",
        "--html",
        str(html),
        home=tmp_path / "home",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["reference"] == str(tiny_models["F16"])
    keys = {"path", "quant", "size_bytes", "bits_per_weight", "ppl", "kld_mean", "kld_median"}
    keys |= {"kld_p99", "kld_max", "top1_agreement", "gen_tps"}
    assert [v["quant"] for v in data["variants"]] == ["F16", "Q4_K_M", "Q2_K"]
    for v in data["variants"]:
        assert keys <= set(v)
        assert 0.0 <= v["top1_agreement"] <= 1.0 and v["gen_tps"] > 0
    assert data["variants"][0]["kld_mean"] == 0.0
    assert data["variants"][2]["kld_mean"] > 0
    page = html.read_text(encoding="utf-8")
    assert "&lt;b&gt;hello&lt;/b&gt; &amp; welcome" in page and "<b>hello" not in page
    assert "<svg" in page and "Q2_K" in page


def test_cli_compare_errors(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    home = tmp_path / "home"
    missing = run_cli(
        "compare", str(tiny_models["F16"]), str(tmp_path / "nope.gguf"), "--prompt", "hi", home=home
    )
    assert_one_line_error(missing, "nope.gguf")
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    no_text = run_cli(
        "compare",
        str(tiny_models["F16"]),
        str(tiny_models["Q2_K"]),
        "--text",
        str(empty),
        home=home,
    )
    assert_one_line_error(no_text, "empty")
