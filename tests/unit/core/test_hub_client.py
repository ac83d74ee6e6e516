"""Search, repo listings, remote header facts and fit verdicts against a loopback hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core.fit import GIB, LoadPlan, Verdict
from desktop_app.core.gguf_file import GGUFError
from desktop_app.core.hub.client import HubClient
from desktop_app.core.hub.errors import HubError
from desktop_app.core.hub.remote_fit import fit_variants, header_source, recommended
from desktop_app.core.model_facts import read_model_facts
from desktop_app.core.synthetic_model import shape_with, write_model
from hub_server import HubServer

REPO = "bartowski/Tiny-GGUF"

README = """---
license: apache-2.0
base_model: org/Tiny
---
# Tiny GGUF

<p align="center"><img src="https://example.com/logo.png"></p>
<script>fetch('https://evil.example')</script>

Quantized with **llama.cpp**, see [the original](https://huggingface.co/org/Tiny) for the
details. <a href="file:///etc/passwd">click</a> Works\u202e everywhere.

| Quant | Size |
|---|---|
| Q4_K_M | 2 MB |
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("hub-client")
    tiny = write_model(folder / "tiny.gguf", "tiny").read_bytes()
    other = write_model(folder / "tiny2.gguf", "tiny", seed=7).read_bytes()
    smaller = write_model(folder / "tiny3.gguf", shape_with("tiny", n_ff=256)).read_bytes()
    # A 152k-token vocabulary, as Qwen's: a header of a few MB in front of ~20 MB of weights.
    big_shape = shape_with(
        "tiny", n_vocab=152064, n_embd=64, n_head=4, n_head_kv=2, n_ff=128, tied_embeddings=True
    )
    big = write_model(folder / "big.gguf", big_shape).read_bytes()
    return {"tiny": tiny, "other": other, "smaller": smaller, "big": big}


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, models: dict[str, bytes]) -> Iterator[HubServer]:
    server = HubServer().start()
    repo = server.add_repo(
        REPO,
        downloads=500,
        likes=9,
        card_data={"license": "apache-2.0", "base_model": ["org/Tiny"], "language": ["en"]},
        gguf={"total": 2_000_000, "architecture": "llama", "context_length": 4096},
    )
    repo.add("Tiny-Q4_K_M.gguf", models["tiny"])
    repo.add("Tiny-Q8_0.gguf", models["other"])
    repo.add("Tiny-IQ2_XS-imat.gguf", models["smaller"])
    repo.add("Tiny-Q6_K/Tiny-Q6_K-00001-of-00002.gguf", models["tiny"])
    repo.add("Tiny-Q6_K/Tiny-Q6_K-00002-of-00002.gguf", models["other"][:5000])
    repo.add("Tiny-Q3_K_M-00001-of-00003.gguf", models["tiny"])  # shard 2 and 3 missing
    repo.add("mmproj-Tiny-f16.gguf", models["other"])
    repo.add("Tiny.imatrix", b"imatrix data")
    repo.add("imatrix_unsloth.gguf", b"GGUF imatrix")
    repo.add("README.md", README.encode(), lfs=False)
    repo.add("..\\..\\evil.gguf", b"x", served=False)
    repo.add("C:\\evil.gguf", b"x", served=False)
    repo.add("\\\\host\\share\\evil.gguf", b"x", served=False)
    repo.add("/etc/passwd", b"x", served=False)
    repo.add("D:foo.gguf", b"x", served=False)
    repo.add("evil\u202egguf.Q4_K_M.gguf", b"x", served=False)
    repo.add("NUL.gguf", b"x", served=False)
    repo.add("a" * 300 + ".gguf", b"x", served=False)
    server.add_repo("lmstudio-community/Big-GGUF", downloads=9000, likes=1).add(
        "Big-Q8_0.gguf", models["big"]
    )
    server.add_repo(
        "bartowski/Whisper-GGUF", downloads=100, pipeline_tag="automatic-speech-recognition"
    )
    server.add_repo("someone/Not-a-gguf", downloads=1, tags=["safetensors"])
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield server
    server.stop()


@pytest.fixture
def client(app_home: Path) -> HubClient:
    return HubClient(None)  # reads HF_ENDPOINT and the offline flag per call


# --- search --------------------------------------------------------------------------------


def test_search_maps_results_and_sorts(hub: HubServer, client: HubClient) -> None:
    results = client.search("gguf", max_age=0)
    ids = [m.repo_id for m in results.models]
    assert ids == ["lmstudio-community/Big-GGUF", "bartowski/Tiny-GGUF"]
    assert results.skipped == 1  # the speech model; the safetensors repo is filtered by the hub
    tiny = results.models[1]
    assert (tiny.author, tiny.downloads, tiny.likes) == ("bartowski", 500, 9)
    assert tiny.parameters == 2_000_000 and tiny.architecture == "llama"
    assert tiny.context_length == 4096 and tiny.last_modified is not None
    assert not results.from_cache and not results.offline
    (request,) = hub.api_requests()
    assert "filter=gguf" in request.path and "sort=downloads" in request.path

    by_likes = client.search("gguf", sort="likes", max_age=0)
    assert [m.repo_id for m in by_likes.models][0] == "bartowski/Tiny-GGUF"
    mine = client.search("", author="bartowski", max_age=0, text_only=False)
    assert {m.repo_id for m in mine.models} == {"bartowski/Tiny-GGUF", "bartowski/Whisper-GGUF"}


def test_search_results_are_cached_and_served_offline(
    hub: HubServer, client: HubClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = client.search("tiny", max_age=0)
    again = client.search("tiny")  # within max_age: no request
    assert again.from_cache and again.models == first.models
    assert len(hub.api_requests()) == 1

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = client.search("tiny")
    assert offline.offline and offline.from_cache and offline.models == first.models
    with pytest.raises(HubError) as info:
        client.search("never searched")
    assert info.value.code == "offline"
    assert len(hub.api_requests()) == 1  # offline opened no connection


def test_search_falls_back_to_cache_when_the_hub_is_down(hub: HubServer, client: HubClient) -> None:
    first = client.search("tiny", max_age=0)
    hub.stop()
    stale = client.search("tiny", max_age=0)
    assert stale.from_cache and not stale.offline and stale.models == first.models
    with pytest.raises(HubError) as info:
        client.search("uncached", max_age=0)
    assert info.value.code == "network"


def test_search_drops_hostile_repo_ids(hub: HubServer, client: HubClient) -> None:
    hub.add_repo("evil/..", downloads=10**9)
    hub.add_repo("evil/na\u202eme", downloads=10**9)
    results = client.search("", max_age=0)
    assert all(".." not in m.repo_id and "\u202e" not in m.repo_id for m in results.models)
    assert results.skipped >= 2


# --- listing -------------------------------------------------------------------------------


def test_listing_groups_quants_shards_and_extras(hub: HubServer, client: HubClient) -> None:
    listing = client.listing(REPO)
    assert listing.revision == hub.repos[REPO].commit
    labels = [v.label for v in listing.variants]
    assert labels == ["Q8_0", "Q6_K", "Q4_K_M", "Q3_K_M", "IQ2_XS"]  # best quality first
    q6 = listing.variants[1]
    assert q6.shard_count == 2 and q6.complete and q6.folder == "Tiny-Q6_K"
    files = hub.repos[REPO].files
    assert q6.size == sum(files[f.path].size for f in q6.files)
    assert all(f.sha256 == files[f.path].sha256 for f in q6.files)
    q3 = listing.variants[3]
    assert q3.shard_count == 3 and not q3.complete
    assert listing.variants[4].imatrix
    assert {(e.kind, e.file.path) for e in listing.extras} == {
        ("mmproj", "mmproj-Tiny-f16.gguf"),
        ("imatrix", "Tiny.imatrix"),
        ("imatrix", "imatrix_unsloth.gguf"),
    }
    assert len(listing.rejected) == 8
    assert all("\u202e" not in r.shown for r in listing.rejected)
    assert listing.variant("q4_k_m") is listing.variants[2]
    assert listing.variant("Tiny-Q6_K/Tiny-Q6_K-00002-of-00002.gguf") is q6


def test_card_summary_is_plain_text(hub: HubServer, client: HubClient) -> None:
    card = client.listing(REPO).card
    assert card.license == "apache-2.0" and card.base_models == ("org/Tiny",)
    assert card.languages == ("en",)
    text = card.summary
    assert text.startswith("Quantized with llama.cpp, see the original for the details.")
    for bad in ("<", ">", "script", "evil.example", "http", "file:", "\u202e", "|", "**"):
        assert bad not in text, bad


def test_listing_is_cached_for_offline(
    hub: HubServer, client: HubClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    online = client.listing(REPO)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = client.listing(REPO)
    assert offline.offline and offline.from_cache
    assert offline.variants == online.variants and offline.card == online.card
    with pytest.raises(HubError) as info:
        client.listing("lmstudio-community/Big-GGUF")
    assert info.value.code == "offline"


@pytest.mark.parametrize(("status", "code"), [(404, "not_found"), (500, "server_error")])
def test_listing_errors_are_typed(
    hub: HubServer, client: HubClient, status: int, code: str
) -> None:
    hub.api_statuses = [status]
    with pytest.raises(HubError) as info:
        client.listing(REPO)
    assert info.value.code == code


def test_unknown_repo_and_bad_repo_id(hub: HubServer, client: HubClient) -> None:
    with pytest.raises(HubError) as info:
        client.listing("nobody/Nothing-GGUF")
    assert info.value.code == "not_found"
    with pytest.raises(HubError) as info:
        client.listing("../etc")
    assert info.value.code == "bad_repo_id"
    assert len(hub.api_requests()) == 1


def test_gated_repo_needs_the_token(
    hub: HubServer, client: HubClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add_repo("meta/Gated-GGUF", token="hf_secret", gated="manual").add("g-Q4_0.gguf", b"G")
    with pytest.raises(HubError) as info:
        client.listing("meta/Gated-GGUF")
    assert info.value.code == "gated"
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    assert client.listing("meta/Gated-GGUF").variants[0].label == "Q4_0"


# --- remote header facts -------------------------------------------------------------------


def test_remote_facts_equal_local_facts_in_one_request(
    hub: HubServer, client: HubClient, tmp_path: Path, models: dict[str, bytes]
) -> None:
    remote = client.remote_facts(REPO, "Tiny-Q4_K_M.gguf")
    local_path = tmp_path / "tiny.gguf"
    local_path.write_bytes(models["tiny"])
    local = read_model_facts(local_path)
    assert remote.requests == 1 and len(hub.file_requests(REPO, "Tiny-Q4_K_M.gguf")) == 1
    assert remote.facts.n_layer == local.n_layer and remote.facts.n_head_kv == local.n_head_kv
    assert remote.facts.weights_bytes == local.weights_bytes
    assert remote.file_size == len(models["tiny"]) and remote.commit == hub.repos[REPO].commit


def test_big_vocabulary_header_in_at_most_two_requests(
    hub: HubServer, client: HubClient, models: dict[str, bytes]
) -> None:
    repo, name = "lmstudio-community/Big-GGUF", "Big-Q8_0.gguf"
    remote = client.remote_facts(repo, name)
    assert remote.header_bytes > 2 * 1024 * 1024  # the vocabulary makes it big
    assert remote.file_size == len(models["big"]) > 8 * 1024 * 1024
    assert remote.requests == 1 and hub.range_starts(repo, name) == [0]
    assert remote.facts.vocab_size == 152064

    # First reads far too small for the 4 MB header: one more request gets the rest.
    for first in (64 * 1024, 512 * 1024, 2 * 1024 * 1024):
        hub.requests.clear()
        small_first = client.remote_facts(repo, name, initial_bytes=first, revision="main")
        assert small_first.requests == 2 and len(hub.file_requests(repo, name)) == 2
        assert small_first.facts == remote.facts
        starts = hub.range_starts(repo, name)
        assert starts[0] == 0 and starts[1] is not None and starts[1] >= first


def test_remote_facts_cached_per_commit_and_offline(
    hub: HubServer, client: HubClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = client.remote_facts(REPO, "Tiny-Q4_K_M.gguf")
    assert first.commit is not None
    again = client.remote_facts(REPO, "Tiny-Q4_K_M.gguf", revision=first.commit)
    assert again.from_cache and again.requests == 0 and again.facts == first.facts
    assert len(hub.file_requests(REPO, "Tiny-Q4_K_M.gguf")) == 1
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = client.remote_facts(REPO, "Tiny-Q4_K_M.gguf")
    assert offline.from_cache and offline.facts == first.facts
    with pytest.raises(HubError) as info:
        client.remote_facts(REPO, "Tiny-Q8_0.gguf")
    assert info.value.code == "offline"


def test_remote_facts_when_range_is_ignored(hub: HubServer, client: HubClient) -> None:
    repo, name = "lmstudio-community/Big-GGUF", "Big-Q8_0.gguf"
    hub.fault(repo, name).ignore_range = True
    remote = client.remote_facts(repo, name, initial_bytes=512 * 1024)
    assert remote.requests == 1 and remote.facts.vocab_size == 152064


def test_remote_facts_through_a_cdn_redirect(
    hub: HubServer, client: HubClient, models: dict[str, bytes]
) -> None:
    repo = hub.repos[REPO]
    with HubServer() as cdn:
        cdn.add_repo(REPO, commit="0" * 40).add("Tiny-Q4_K_M.gguf", models["tiny"])
        hub.fault(REPO, "Tiny-Q4_K_M.gguf").redirect = cdn.url
        remote = client.remote_facts(REPO, "Tiny-Q4_K_M.gguf")
    assert remote.requests == 1 and remote.facts.n_layer == 2
    # The commit and checksum come from the hub's redirect, not from the CDN's answer.
    assert remote.commit == repo.commit
    assert remote.etag == repo.files["Tiny-Q4_K_M.gguf"].sha256


def test_remote_file_that_is_not_gguf(hub: HubServer, client: HubClient) -> None:
    hub.repos[REPO].add("fake-Q4_0.gguf", b"<html>captive portal</html>" * 100)
    with pytest.raises(GGUFError):
        client.remote_facts(REPO, "fake-Q4_0.gguf")


# --- fit per quant -------------------------------------------------------------------------


def test_fit_verdicts_include_the_kv_cache(hub: HubServer, client: HubClient) -> None:
    listing = client.listing(REPO)
    source = header_source(listing)
    assert source is not None
    facts = client.remote_facts(REPO, source.path, revision=listing.revision or "main")
    plan = LoadPlan(n_ctx=4096)
    fits = fit_variants(listing.variants, facts, plan, available=8 * GIB)
    assert all(f.kv_included for f in fits)
    assert all(f.estimate is not None and f.estimate.memory.kv_cache > 0 for f in fits)
    assert sum(f.exact for f in fits) == 1
    assert all(f.verdict is Verdict.FITS for f in fits)
    best = recommended(fits)
    assert best is not None and best.label == "Q8_0"

    # Longer context costs more KV cache; tiny memory: nothing fits, nothing recommended.
    longer = fit_variants(listing.variants, facts, LoadPlan(n_ctx=16384), available=8 * GIB)
    assert longer[0].estimate.memory.kv_cache > fits[0].estimate.memory.kv_cache  # type: ignore[union-attr]
    none_fit = fit_variants(listing.variants, facts, plan, available=10 * 1024 * 1024)
    assert {f.verdict for f in none_fit} == {Verdict.DOES_NOT_FIT}
    assert recommended(none_fit) is None


def test_fit_without_header_facts_prices_weights_only(hub: HubServer, client: HubClient) -> None:
    listing = client.listing(REPO)
    fits = fit_variants(listing.variants, None, LoadPlan(), available=4 * GIB)
    assert not any(f.kv_included for f in fits)
    assert all(f.estimate is not None and f.estimate.memory.kv_cache == 0 for f in fits)
