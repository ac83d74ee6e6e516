"""Provenance in the library: the sidecar QuantDesk writes beside what it makes, read by the
index during the scan (off the GUI thread) and summarised defensively."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from library_fakes import write_gguf

from desktop_app.core.library.index import LibraryIndex
from desktop_app.core.library.sources import folder_source, own_models_source
from desktop_app.core.provenance import (
    Provenance,
    read_provenance,
    sidecar_path,
    summarize,
    write_sidecar,
)

LADDER = ["Q8_0", "Q6_K", "Q4_K_M", "Q2_K"]


def _record(imatrix: str | None = None) -> dict[str, object]:
    """What ``QuantizeJob`` writes for one rung of a ladder."""
    return {
        "source": {"path": "/work/models/Tiny-F16.gguf", "size": 123, "file_type": "F16"},
        "output": {"file": "Tiny-Q4_K_M.gguf", "file_type": "Q4_K_M", "size": 45},
        "options": {"threads": 2, "allow_requantize": False, "imatrix": imatrix},
        "seconds": 1.5,
        "warnings": [],
        "ladder": {"id": "abc", "labels": LADDER, "index": 2},
    }


def test_summary_of_a_ladder_rung(tmp_path: Path) -> None:
    model = write_gguf(tmp_path / "Tiny-Q4_K_M.gguf")
    write_sidecar(model, _record(imatrix="/data/tiny.imatrix.gguf"))
    p = read_provenance(model)
    assert p is not None
    assert (p.source, p.source_type, p.output_type) == ("Tiny-F16.gguf", "F16", "Q4_K_M")
    assert p.imatrix == "tiny.imatrix.gguf" and p.ladder == tuple(LADDER)
    assert p.tool.startswith("QuantDesk ") and not p.converted_from_folder
    assert p.created is not None
    assert abs(p.created - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)


def test_no_sidecar_or_a_foreign_one_is_none(tmp_path: Path) -> None:
    model = write_gguf(tmp_path / "m.gguf")
    assert read_provenance(model) is None
    sidecar_path(model).write_text(json.dumps({"format": "someone.else", "source": {}}))
    assert read_provenance(model) is None
    sidecar_path(model).write_bytes(b"\xff\xfe not json")
    assert read_provenance(model) is None


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"source": "not a dict", "output": [1], "options": None, "ladder": 7},
        {"created": "yesterday", "tool": 3, "ladder": {"labels": "Q4_K_M"}},
        {"created": 12, "options": {"imatrix": 5}, "converted": "yes"},
    ],
)
def test_damaged_fields_read_as_not_recorded(record: dict[str, object]) -> None:
    assert summarize(record) == Provenance("", "", "", None, "", (), "", False)


def test_odd_but_valid_values() -> None:
    p = summarize(
        {
            "created": "2026-01-02T03:04:05",  # no zone: taken as UTC
            "source": {"path": "/hf/Qwen2.5-0.5B"},
            "converted": {"from": "hf_folder", "outtype": "F16"},
            "ladder": {"labels": ["F16", 3, None, "Q8_0"]},
        }
    )
    assert p.created == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert p.source == "Qwen2.5-0.5B" and p.converted_from_folder
    assert p.ladder == ("F16", "Q8_0")


def test_the_index_attaches_provenance_to_entries(tmp_path: Path) -> None:
    own = tmp_path / "own"
    made = write_gguf(own / "ladder" / "Tiny-Q4_K_M.gguf")
    plain = write_gguf(own / "other" / "Plain-Q8_0.gguf", name="Plain")
    write_sidecar(made, _record())
    # The sidecar is found beside any location, here a user folder holding a ladder's output.
    folder = tmp_path / "mine"
    elsewhere = write_gguf(folder / "Tiny-Q2_K.gguf")
    write_sidecar(elsewhere, {**_record(), "output": {"file_type": "Q2_K"}})
    index = LibraryIndex(tmp_path / "cache.json")
    snap = index.scan([own_models_source([own]), folder_source(folder)])
    by_path = {e.path: e for e in snap.entries}
    assert by_path[made].provenance is not None
    assert by_path[made].provenance.output_type == "Q4_K_M"
    assert by_path[plain].provenance is None
    assert by_path[elsewhere].provenance is not None
    assert by_path[elsewhere].provenance.output_type == "Q2_K"
    # A sidecar written after the model (as the quantizer does) shows at the next scan, even
    # though the model's facts come from the cache.
    write_sidecar(plain, _record())
    again = {e.path: e for e in index.scan([own_models_source([own])]).entries}
    assert again[plain].provenance is not None
    assert index.scan([own_models_source([own])]).stats.from_cache == 2
