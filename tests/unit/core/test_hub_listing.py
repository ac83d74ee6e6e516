"""Grouping a repo's files into quant variants, and model cards reduced to plain text."""

from __future__ import annotations

from desktop_app.core.hub.card import card_info, card_summary
from desktop_app.core.hub.listing import RemoteFile, group_files


def rf(path: str, size: int | None = 100) -> RemoteFile:
    return RemoteFile(path, size, "a" * 64)


def test_quants_sorted_best_first_with_shards_summed() -> None:
    variants, extras, rejected = group_files(
        [
            rf("M-Q2_K.gguf", 10),
            rf("M-Q8_0.gguf", 80),
            rf("M-IQ4_XS.gguf", 40),
            rf("big/M-F16-00002-of-00002.gguf", 70),
            rf("big/M-F16-00001-of-00002.gguf", 90),
            rf("M-BF16.gguf", 160),
            rf("README.md", 1),
            rf("config.json", 1),
        ]
    )
    assert [v.label for v in variants] == ["BF16", "F16", "Q8_0", "IQ4_XS", "Q2_K"]
    f16 = next(v for v in variants if v.label == "F16")
    assert f16.size == 160 and f16.shard_count == 2 and f16.complete
    assert [f.path for f in f16.files] == [
        "big/M-F16-00001-of-00002.gguf",
        "big/M-F16-00002-of-00002.gguf",
    ]
    assert extras == () and rejected == ()


def test_unknown_size_and_missing_shards() -> None:
    variants, _, _ = group_files(
        [rf("M-Q4_K_M-00001-of-00003.gguf"), rf("M-Q4_K_M-00003-of-00003.gguf", None)]
    )
    (v,) = variants
    assert not v.complete and v.size is None and v.shard_count == 3


def test_two_models_in_one_repo_stay_apart() -> None:
    variants, _, _ = group_files([rf("Alpha-Q4_K_M.gguf"), rf("Beta-Q4_K_M.gguf")])
    assert sorted(v.stem for v in variants) == ["Alpha", "Beta"]


def test_extras_and_unlabelled_files() -> None:
    variants, extras, _ = group_files(
        [
            rf("mmproj-model-f16.gguf"),
            rf("Model-mmproj-Q8_0.gguf"),
            rf("imatrix.dat"),
            rf("Model.imatrix"),
            rf("imatrix_unsloth.gguf"),
            rf("Model-IQ3_M-imat.gguf"),
            rf("ggml-model.gguf"),
        ]
    )
    assert sorted(e.kind for e in extras) == ["imatrix", "imatrix", "imatrix", "mmproj", "mmproj"]
    labels = sorted(v.label for v in variants)
    assert labels == ["IQ3_M", "unknown"]
    assert next(v for v in variants if v.label == "IQ3_M").imatrix


def test_hostile_names_are_refused_and_escaped() -> None:
    variants, extras, rejected = group_files(
        [rf("..\\..\\x.gguf"), rf("C:\\x.gguf"), rf("x\u202e-Q4_0.gguf"), rf("ok-Q4_0.gguf")]
    )
    assert [v.key for v in variants] == ["ok-Q4_0.gguf"]
    assert len(rejected) == 3
    assert all("\u202e" not in r.shown for r in rejected)


def test_card_summary_plain_text() -> None:
    md = (
        "---\nlicense: mit\n---\n"
        "<div align=center><img src=x></div>\n\n"
        "# Title\n\n"
        "```python\nimport os\n```\n\n"
        "- a list item that is long enough to matter\n\n"
        "This **model** is *fine-tuned* from [Base](https://x.example/base) for `chat`; "
        "see <a href='javascript:alert(1)'>here</a>.\u200b\u202e\n\n"
        "Second paragraph with &amp; entity and more words.\n"
    )
    text = card_summary(md)
    assert text == (
        "This model is fine-tuned from Base for chat; see here. "
        "Second paragraph with & entity and more words."
    )


def test_card_summary_is_capped_and_info_is_typed() -> None:
    text = card_summary("word " * 1000, limit=100)
    assert len(text) <= 100 and text.endswith("\u2026")
    info = card_info({"license": ["apache-2.0"], "base_model": 5, "language": "en"}, None)
    assert info.license == "apache-2.0" and info.base_models == () and info.languages == ("en",)
    assert card_info(None, "").summary == ""
