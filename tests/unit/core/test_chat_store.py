"""Chat history store: CRUD, streaming replies, lossless text, search (FTS5 and fallback),
export/import, damaged/read-only/newer databases, concurrency and kill -9 (faults 40-45)."""

from __future__ import annotations

import copy
import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core import chat_store
from desktop_app.core.chat_store import (
    MAX_TEXT_CHARS,
    SCHEMA_VERSION,
    ChatImportError,
    ChatStore,
    ChatStoreError,
    Conversation,
    Message,
    parse_export_text,
)
from desktop_app.core.errors import QuantDeskError

ROOT = Path(__file__).resolve().parents[3]

# Text that breaks naive storage: lone and reversed surrogates, a surrogate pair as two code
# points, NUL, bidi overrides, ZWJ emoji, CR/LF mixes, BOM, the last code point.
TRICKY_TEXTS = [
    "\ud800",
    "a\udfffb\ud800",
    "\ud83d\ude00",
    "nul\x00inside\x00",
    "\u202eevil\u202c \u2066iso\u2069",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family",
    "line1\r\nline2\rline3\n\r\n",
    "\ufeffbom",
    "\U0010ffff\x7f\x1b[31m",
    "",
]


@pytest.fixture
def db_path() -> Path:
    return ChatStore.default_path()


@pytest.fixture
def store(db_path: Path) -> Iterator[ChatStore]:
    with ChatStore.open(db_path) as opened:
        yield opened


@pytest.fixture(params=[True, False], ids=["fts5", "fallback"])
def any_store(request: pytest.FixtureRequest, db_path: Path) -> Iterator[ChatStore]:
    with ChatStore.open(db_path, use_fts=request.param) as opened:
        assert opened.uses_fts is request.param
        yield opened


def raw(path: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(path, isolation_level=None))


def corrupt_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.corrupt-*"))


# --- opening -----------------------------------------------------------------------------------


def test_open_creates_a_durable_database(db_path: Path, app_home: Path) -> None:
    assert app_home in db_path.parents
    with ChatStore.open(db_path, busy_timeout_ms=1234) as store:
        conn = store._connection()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 1234
        assert conn.isolation_level is None
        assert store.recovered_from is None
        assert store.interrupted_replies == ()
        assert store.path == db_path
    with raw(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert not Path(f"{db_path}-wal").exists()  # checkpointed and removed at close


def test_closed_store_raises_typed_error(db_path: Path) -> None:
    store = ChatStore.open(db_path)
    store.close()
    store.close()  # idempotent
    assert store.closed
    with pytest.raises(ChatStoreError) as info:
        store.list_conversations()
    assert info.value.code == "closed"
    assert isinstance(info.value, QuantDeskError)


# --- conversations and messages ----------------------------------------------------------------


def test_conversation_crud(store: ChatStore) -> None:
    conv = store.create_conversation("First", "Be brief.", "/models/a.gguf")
    assert conv.title == "First" and conv.system_prompt == "Be brief."
    assert conv.model_path == "/models/a.gguf" and conv.settings == {}
    assert store.get_conversation(conv.id) == conv

    assert store.rename_conversation(conv.id, "Renamed").title == "Renamed"
    assert store.set_system_prompt(conv.id, "Be long.").system_prompt == "Be long."
    assert store.set_model(conv.id, Path("/models/b.gguf")).model_path == "/models/b.gguf"
    assert store.set_model(conv.id, None).model_path is None
    settings = {"temperature": 0.7, "stop": ["</s>"], "nested": {"a": None}}
    assert store.set_settings(conv.id, settings).settings == settings
    with pytest.raises(ValueError, match="JSON"):
        store.set_settings(conv.id, {"bad": float("nan")})
    got = store.get_conversation(conv.id)
    assert (got.title, got.system_prompt, got.settings) == ("Renamed", "Be long.", settings)
    assert got.created_at == conv.created_at and got.updated_at > conv.updated_at

    store.delete_conversation(conv.id)
    for call in (
        lambda: store.get_conversation(conv.id),
        lambda: store.rename_conversation(conv.id, "x"),
        lambda: store.delete_conversation(conv.id),
        lambda: store.messages(conv.id),
        lambda: store.add_message(conv.id, "user", "x"),
        lambda: store.begin_reply(conv.id),
    ):
        with pytest.raises(ChatStoreError) as info:
            call()
        assert info.value.code == "not_found"


def test_dataclasses_are_frozen_and_hashable(store: ChatStore) -> None:
    conv = store.create_conversation("t")
    message = store.add_message(conv.id, "user", "hi")
    with pytest.raises(AttributeError):
        conv.title = "changed"  # type: ignore[misc]
    assert isinstance(hash(conv), int) and isinstance(hash(message), int)


def test_list_is_newest_updated_first(store: ChatStore) -> None:
    a = store.create_conversation("a")
    b = store.create_conversation("b")
    c = store.create_conversation("c")
    assert [x.id for x in store.list_conversations()] == [c.id, b.id, a.id]
    store.add_message(a.id, "user", "bump")
    assert [x.id for x in store.list_conversations()] == [a.id, c.id, b.id]
    store.rename_conversation(b.id, "b2")
    assert [x.id for x in store.list_conversations()] == [b.id, a.id, c.id]


def test_order_follows_changes_even_when_the_clock_stands_still_or_goes_back(
    store: ChatStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    fake_time = types.SimpleNamespace(
        time=lambda: clock[0], strftime=time.strftime, gmtime=time.gmtime
    )
    monkeypatch.setattr(chat_store, "time", fake_time)
    a = store.create_conversation("a")
    b = store.create_conversation("b")
    clock[0] = 500.0  # clock set back
    store.add_message(a.id, "user", "later change")
    assert [x.id for x in store.list_conversations()] == [a.id, b.id]
    store.add_message(b.id, "user", "even later")
    assert [x.id for x in store.list_conversations()] == [b.id, a.id]


def test_messages_keep_order_and_validate_role(store: ChatStore) -> None:
    conv = store.create_conversation("t")
    added = [
        store.add_message(conv.id, "system", "sys"),
        store.add_message(conv.id, "user", "q1"),
        store.add_message(conv.id, "assistant", "a1"),
        store.add_message(conv.id, "user", "q2"),
    ]
    listed = store.messages(conv.id)
    assert listed == added
    assert [m.position for m in listed] == [0, 1, 2, 3]
    assert all(m.state == "complete" and m.conversation_id == conv.id for m in listed)
    assert store.get_message(added[2].id) == added[2]
    with pytest.raises(ValueError, match="role"):
        store.add_message(conv.id, "tool", "x")  # type: ignore[arg-type]
    with pytest.raises(ChatStoreError) as info:
        store.get_message(999_999)
    assert info.value.code == "not_found"


def test_delete_cascades_to_messages_and_search_index(db_path: Path, store: ChatStore) -> None:
    keep = store.create_conversation("keep")
    store.add_message(keep.id, "user", "unrelated words")
    gone = store.create_conversation("zebra title")
    ids = [store.add_message(gone.id, "user", f"zebra {i}").id for i in range(3)]
    assert len(store.search("zebra")) == 1
    store.delete_conversation(gone.id)
    for message_id in ids:
        with pytest.raises(ChatStoreError):
            store.get_message(message_id)
    assert store.search("zebra") == []
    with raw(db_path) as conn:
        assert conn.execute(
            "SELECT count(*) FROM messages WHERE conversation_id = ?", (gone.id,)
        ).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM messages_fts").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM titles_fts").fetchone() == (1,)
    assert [c.id for c in store.list_conversations()] == [keep.id]


def test_edit_and_truncate(store: ChatStore) -> None:
    conv = store.create_conversation("t")
    q1 = store.add_message(conv.id, "user", "q1")
    a1 = store.add_message(conv.id, "assistant", "a1")
    q2 = store.add_message(conv.id, "user", "q2")
    store.add_message(conv.id, "assistant", "a2")

    # regenerate the last answer: drop everything after q2
    assert store.truncate_after(q2.id) == 1
    assert [m.content for m in store.messages(conv.id)] == ["q1", "a1", "q2"]
    assert store.truncate_after(q2.id) == 0

    edited = store.edit_message(a1.id, "a1 fixed")
    assert edited.content == "a1 fixed" and edited.position == a1.position
    assert edited.state == "complete"

    # edit and resend: one transaction edits q1 and drops what followed it
    store.edit_message(q1.id, "q1 again", drop_later=True)
    assert [m.content for m in store.messages(conv.id)] == ["q1 again"]

    # ids are never reused, so a stale id from the UI cannot hit a new message
    new = store.add_message(conv.id, "assistant", "a1 new")
    assert new.position == 1 and new.id > q2.id
    with pytest.raises(ChatStoreError) as info:
        store.edit_message(q2.id, "stale")
    assert info.value.code == "not_found"


# --- streaming replies -------------------------------------------------------------------------


def test_streaming_reply_lifecycle(store: ChatStore) -> None:
    conv = store.create_conversation("t")
    store.add_message(conv.id, "user", "hello")
    reply = store.begin_reply(conv.id)
    message = store.get_message(reply)
    assert (message.role, message.state, message.content, message.position) == (
        "assistant",
        "streaming",
        "",
        1,
    )
    store.append_reply(reply, "Hel")
    store.append_reply(reply, "Hello the")
    assert store.get_message(reply).content == "Hello the"
    with pytest.raises(ChatStoreError) as info:
        store.edit_message(reply, "no")
    assert info.value.code == "message_streaming"

    stats = {"tokens": 12, "tokens_per_second": 34.5, "stop": "eos"}
    done = store.finish_reply(reply, "Hello there!", stats=stats)
    assert (done.content, done.state, done.stats) == ("Hello there!", "complete", stats)
    for call in (lambda: store.append_reply(reply, "x"), lambda: store.finish_reply(reply, "x")):
        with pytest.raises(ChatStoreError) as info:
            call()
        assert info.value.code == "not_streaming"
    with pytest.raises(ValueError, match="state"):
        store.finish_reply(reply, "x", state="streaming")  # type: ignore[arg-type]


@pytest.mark.parametrize("state", ["interrupted", "error"])
def test_finish_reply_with_a_failure_state(store: ChatStore, state: Any) -> None:
    conv = store.create_conversation("t")
    reply = store.begin_reply(conv.id)
    store.append_reply(reply, "partial")
    done = store.finish_reply(reply, "partial", state=state, stats={"error": "worker_crashed"})
    assert done.state == state and done.content == "partial"


def test_append_to_a_reply_whose_conversation_was_deleted(store: ChatStore) -> None:
    conv = store.create_conversation("t")
    reply = store.begin_reply(conv.id)
    store.delete_conversation(conv.id)
    with pytest.raises(ChatStoreError) as info:
        store.append_reply(reply, "late text")
    assert info.value.code == "not_found"


def test_reply_left_streaming_becomes_interrupted_at_open(db_path: Path) -> None:
    with ChatStore.open(db_path) as store:
        conv = store.create_conversation("t")
        store.add_message(conv.id, "user", "q")
        reply = store.begin_reply(conv.id)
        store.append_reply(reply, "partial answer")
        finished = store.begin_reply(conv.id)
        store.finish_reply(finished, "done")
    with ChatStore.open(db_path) as store:
        assert store.interrupted_replies == (reply,)
        message = store.get_message(reply)
        assert (message.state, message.content) == ("interrupted", "partial answer")
        assert store.get_message(finished).state == "complete"
    with ChatStore.open(db_path) as store:
        assert store.interrupted_replies == ()


# --- lossless text -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", TRICKY_TEXTS, ids=repr)
def test_text_round_trips_exactly(db_path: Path, text: str) -> None:
    with ChatStore.open(db_path) as store:
        conv = store.create_conversation(text, text, text)
        user = store.add_message(conv.id, "user", text)
        reply = store.begin_reply(conv.id)
        store.append_reply(reply, text)
        assert store.get_message(reply).content == text
        store.finish_reply(reply, text + text, stats={"note": text})
        edited = store.add_message(conv.id, "user", "placeholder")
        store.edit_message(edited.id, text)
        exported = store.export_json_bytes(conv.id)
        if not chat_store._LONE_SURROGATE.search(text):
            exported.decode("utf-8")  # strict UTF-8 unless the text itself is not Unicode
    with ChatStore.open(db_path) as store:
        got = store.get_conversation(conv.id)
        assert (got.title, got.system_prompt, got.model_path) == (text, text, text)
        contents = [m.content for m in store.messages(conv.id)]
        assert contents == [text, text + text, text]
        assert store.get_message(user.id).content == text
        assert store.get_message(reply).stats == {"note": text}
        imported = store.import_json_text(exported)
        assert imported.title == text
        assert [m.content for m in store.messages(imported.id)] == contents


def test_storage_class_marks_the_encoding(db_path: Path, store: ChatStore) -> None:
    conv = store.create_conversation("plain")
    store.add_message(conv.id, "user", "plain text")
    store.add_message(conv.id, "user", "lone \ud800")
    with raw(db_path) as conn:
        kinds = conn.execute("SELECT typeof(content) FROM messages ORDER BY position").fetchall()
    assert kinds == [("text",), ("blob",)]


# --- search ------------------------------------------------------------------------------------


def test_search_titles_and_messages(any_store: ChatStore) -> None:
    store = any_store
    recipes = store.create_conversation("Pancake recipes")
    store.add_message(recipes.id, "user", "How much flour?")
    physics = store.create_conversation("Physics")
    store.add_message(physics.id, "user", "Explain quantum tunnelling")
    store.add_message(physics.id, "assistant", "Quantum tunnelling lets a particle cross...")
    long_text = "intro " * 50 + "the Ärger keyword appears here " + "outro " * 50
    other = store.create_conversation("Misc")
    store.add_message(other.id, "assistant", long_text)

    hits = store.search("pancake")
    assert [(h.conversation.id, h.message_id, h.snippet) for h in hits] == [
        (recipes.id, None, "Pancake recipes")
    ]
    hits = store.search("QUANTUM")
    assert len(hits) == 1 and hits[0].conversation.id == physics.id
    first = store.messages(physics.id)[0]
    assert hits[0].message_id == first.id and "quantum" in hits[0].snippet

    (hit,) = store.search("ärger keyword")  # every word must match; non-ASCII case folding
    assert hit.conversation.id == other.id
    assert "Ärger keyword" in hit.snippet and hit.snippet.startswith("…")
    assert hit.snippet.endswith("…") and len(hit.snippet) <= 170

    assert store.search("quantum flour") == []
    assert store.search("   ") == []
    assert store.search("tunn")  # a word prefix matches on both paths

    store.add_message(recipes.id, "assistant", "quantum pancakes do not exist")
    assert [h.conversation.id for h in store.search("quantum")] == [recipes.id, physics.id]


def test_search_limit_keeps_the_newest(any_store: ChatStore) -> None:
    ids = [any_store.create_conversation(f"topic {i}").id for i in range(5)]
    assert [h.conversation.id for h in any_store.search("topic", limit=2)] == ids[::-1][:2]
    assert len(any_store.search("topic")) == 5
    assert any_store.search("topic", limit=0) == []


@pytest.mark.parametrize(
    "query",
    ['"', 'a" OR "b', "NEAR(a b)", "*", "-x", "a:b", "AND", "^", "(", "\ud800", "\x00", "'; --"],
)
def test_search_never_interprets_query_syntax(any_store: ChatStore, query: str) -> None:
    conv = any_store.create_conversation("title")
    any_store.add_message(conv.id, "user", "text with a: b and -x and NEAR(a b)")
    hits = any_store.search(query)
    assert isinstance(hits, list)


def test_search_snippet_keeps_lossless_text(any_store: ChatStore) -> None:
    conv = any_store.create_conversation("t")
    any_store.add_message(conv.id, "user", "needle \ud800 haystack\x00")
    (hit,) = any_store.search("needle")
    assert hit.snippet == "needle \ud800 haystack\x00"


def test_fts_index_is_rebuilt_after_use_without_fts(db_path: Path) -> None:
    with ChatStore.open(db_path) as store:
        assert store.uses_fts
        conv = store.create_conversation("t")
        store.add_message(conv.id, "user", "alpha")
    with ChatStore.open(db_path, use_fts=False) as store:
        assert not store.uses_fts
        store.add_message(conv.id, "user", "bravo")
        store.rename_conversation(conv.id, "charlie")
        assert len(store.search("bravo")) == 1
    with raw(db_path) as conn:  # no triggers: a build without FTS5 can still write
        assert conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
        ).fetchone() == (0,)
    with ChatStore.open(db_path) as store:
        assert store.uses_fts
        for word in ("alpha", "bravo", "charlie"):
            assert [h.conversation.id for h in store.search(word)] == [conv.id], word


def test_fts_unavailable_falls_back(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat_store, "_fts5_available", lambda conn: False)
    with ChatStore.open(db_path) as store:
        assert not store.uses_fts
        conv = store.create_conversation("t")
        store.add_message(conv.id, "user", "findme")
        assert len(store.search("findme")) == 1


# --- export and import -------------------------------------------------------------------------


def _fill(store: ChatStore) -> Conversation:
    conv = store.create_conversation("Trip \u202eplan", "You are terse.\r\n", "/m/x.gguf")
    store.set_settings(conv.id, {"temperature": 0.5, "seed": 42})
    store.add_message(conv.id, "system", "extra system note")
    store.add_message(conv.id, "user", "Where to go?\x00 \ud800")
    reply = store.begin_reply(conv.id)
    store.finish_reply(reply, "Lisbon 👨‍👩‍👧", stats={"tokens": 3, "tps": 12.25})
    reply = store.begin_reply(conv.id)
    store.finish_reply(reply, "cut", state="interrupted")
    return store.get_conversation(conv.id)


def _comparable(messages: list[Message]) -> list[tuple[Any, ...]]:
    return [(m.position, m.role, m.content, m.state, m.created_at, m.stats) for m in messages]


def test_export_import_round_trip(store: ChatStore) -> None:
    conv = _fill(store)
    data = store.export_json(conv.id)
    assert data["format"] == "quantdesk.chat" and data["version"] == 1
    assert data["conversation"]["title"] == conv.title
    assert [m["role"] for m in data["messages"]] == ["system", "user", "assistant", "assistant"]

    imported = store.import_json(parse_export_text(store.export_json_bytes(conv.id)))
    assert imported.id != conv.id
    for name in ("title", "system_prompt", "model_path", "created_at", "settings"):
        assert getattr(imported, name) == getattr(conv, name), name
    assert imported.updated_at > conv.updated_at  # shows first in the list
    assert _comparable(store.messages(imported.id)) == _comparable(store.messages(conv.id))
    assert store.export_json(imported.id)["messages"] == data["messages"]
    assert store.list_conversations()[0].id == imported.id


def test_import_turns_streaming_into_interrupted(store: ChatStore) -> None:
    conv = store.create_conversation("t")
    reply = store.begin_reply(conv.id)
    store.append_reply(reply, "half")
    data = store.export_json(conv.id)
    assert data["messages"][0]["state"] == "streaming"
    (message,) = store.messages(store.import_json(data).id)
    assert (message.state, message.content) == ("interrupted", "half")


def test_export_markdown(store: ChatStore) -> None:
    conv = _fill(store)
    text = store.export_markdown(conv.id)
    assert text.startswith("# Trip \u202eplan\n")
    assert "Model: `/m/x.gguf`" in text
    assert "## System prompt\n\nYou are terse.\r\n" in text
    assert "## User\n\nWhere to go?\ufffd \ufffd\n" in text  # NUL, lone surrogate replaced
    assert "## Assistant\n\nLisbon 👨‍👩‍👧\n" in text
    assert "## Assistant (interrupted)\n\ncut\n" in text
    text.encode("utf-8")  # writable as UTF-8


def _valid_export() -> dict[str, Any]:
    return {
        "format": "quantdesk.chat",
        "version": 1,
        "conversation": {
            "title": "t",
            "system_prompt": "",
            "model_path": None,
            "created_at": 1.0,
            "updated_at": 2.0,
            "settings": {},
        },
        "messages": [
            {"role": "user", "content": "hi", "state": "complete", "created_at": 1.5, "stats": {}}
        ],
    }


def _deep(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def _set(path: str, value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[int(last) if last.isdigit() else last] = value

    return change


_DELETE = object()

MALFORMED = [
    ("not an object", lambda d: [], "wrong_format", ""),
    ("no format", _set("format", _DELETE), "wrong_format", "format"),
    ("other format", _set("format", "other.chat"), "wrong_format", "format"),
    ("newer version", _set("version", 2), "unsupported_version", "version"),
    ("version as text", _set("version", "1"), "unsupported_version", "version"),
    ("version as bool", _set("version", True), "unsupported_version", "version"),
    ("extra top field", _set("extra", 1), "unknown_field", "extra"),
    ("no conversation", _set("conversation", _DELETE), "missing_field", "conversation"),
    ("no messages", _set("messages", _DELETE), "missing_field", "messages"),
    ("conversation list", _set("conversation", []), "wrong_type", "conversation"),
    ("title int", _set("conversation.title", 5), "wrong_type", "conversation.title"),
    ("title missing", _set("conversation.title", _DELETE), "missing_field", "conversation.title"),
    (
        "title huge",
        _set("conversation.title", "x" * 10_001),
        "too_large",
        "conversation.title",
    ),
    ("model path int", _set("conversation.model_path", 3), "wrong_type", "conversation.model_path"),
    (
        "created text",
        _set("conversation.created_at", "now"),
        "wrong_type",
        "conversation.created_at",
    ),
    (
        "created bool",
        _set("conversation.created_at", True),
        "wrong_type",
        "conversation.created_at",
    ),
    (
        "created nan",
        _set("conversation.created_at", float("nan")),
        "bad_value",
        "conversation.created_at",
    ),
    (
        "created negative",
        _set("conversation.created_at", -1),
        "bad_value",
        "conversation.created_at",
    ),
    (
        "created huge int",
        _set("conversation.created_at", 10**400),
        "bad_value",
        "conversation.created_at",
    ),
    (
        "updated inf",
        _set("conversation.updated_at", float("inf")),
        "bad_value",
        "conversation.updated_at",
    ),
    ("settings list", _set("conversation.settings", []), "wrong_type", "conversation.settings"),
    (
        "settings set",
        _set("conversation.settings", {"s": {1}}),
        "wrong_type",
        "conversation.settings.s",
    ),
    (
        "settings int key",
        _set("conversation.settings", {1: 2}),
        "wrong_type",
        "conversation.settings",
    ),
    (
        "settings nan",
        _set("conversation.settings", {"t": float("nan")}),
        "bad_value",
        "conversation.settings.t",
    ),
    ("settings deep", _set("conversation.settings", _deep(100)), "too_large", None),
    (
        "settings big",
        _set("conversation.settings", {"s": "x" * (1024 * 1024)}),
        "too_large",
        "conversation.settings",
    ),
    ("conversation extra", _set("conversation.id", 1), "unknown_field", "conversation.id"),
    ("messages dict", _set("messages", {}), "wrong_type", "messages"),
    ("message string", _set("messages.0", "hi"), "wrong_type", "messages[0]"),
    ("unknown role", _set("messages.0.role", "tool"), "bad_value", "messages[0].role"),
    ("role null", _set("messages.0.role", None), "wrong_type", "messages[0].role"),
    ("unknown state", _set("messages.0.state", "done"), "bad_value", "messages[0].state"),
    ("content bytes", _set("messages.0.content", b"hi"), "wrong_type", "messages[0].content"),
    (
        "content missing",
        _set("messages.0.content", _DELETE),
        "missing_field",
        "messages[0].content",
    ),
    (
        "content over cap",
        _set("messages.0.content", "x" * (MAX_TEXT_CHARS + 1)),
        "too_large",
        "messages[0].content",
    ),
    ("message extra", _set("messages.0.id", 7), "unknown_field", "messages[0].id"),
    ("stats text", _set("messages.0.stats", "fast"), "wrong_type", "messages[0].stats"),
    (
        "message created list",
        _set("messages.0.created_at", []),
        "wrong_type",
        "messages[0].created_at",
    ),
]


@pytest.mark.parametrize(
    ("change", "code", "field"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_import_rejects_malformed_documents(
    store: ChatStore, change: Any, code: str, field: str | None
) -> None:
    doc = _valid_export()
    store.import_json(copy.deepcopy(doc))  # the unmodified document is fine
    before = store.list_conversations()
    changed = change(doc)
    doc = changed if changed is not None else doc
    with pytest.raises(ChatImportError) as info:
        store.import_json(doc)
    assert info.value.code == code
    if field is not None:
        assert info.value.field == field
    assert store.list_conversations() == before  # nothing written


def test_import_caps_message_count(store: ChatStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat_store, "MAX_MESSAGES", 3)
    doc = _valid_export()
    doc["messages"] = doc["messages"] * 4
    with pytest.raises(ChatImportError) as info:
        store.import_json(doc)
    assert (info.value.code, info.value.field) == ("too_large", "messages")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{", "not_json"),
        ("", "not_json"),
        (b"\xff\xfe{}", "not_json"),
        ('{"a": NaN}', "not_json"),
        ('{"a": 1, "a": 2}', "not_json"),
        ("[" * 100_000 + "]" * 100_000, "not_json"),
        ("1" * 5000, "not_json"),
    ],
    ids=["truncated", "empty", "not utf-8", "nan", "duplicate key", "deep", "huge int"],
)
def test_parse_export_text_rejects_bad_json(text: str | bytes, code: str) -> None:
    with pytest.raises(ChatImportError) as info:
        parse_export_text(text)
    assert info.value.code == code


def test_parse_export_text_caps_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat_store, "MAX_IMPORT_CHARS", 10)
    with pytest.raises(ChatImportError) as info:
        parse_export_text('{"format": "quantdesk.chat"}')
    assert info.value.code == "too_large"


def test_import_text_accepts_bytes_with_bom(store: ChatStore) -> None:
    raw_text = b"\xef\xbb\xbf" + json.dumps(_valid_export()).encode()
    conv = store.import_json_text(raw_text)
    assert [m.content for m in store.messages(conv.id)] == ["hi"]


# --- damaged, read-only and newer databases ----------------------------------------------------


def _make_history(path: Path, messages: int = 200) -> None:
    with ChatStore.open(path) as store:
        conv = store.create_conversation("history")
        for i in range(messages):
            store.add_message(conv.id, "user", f"message {i} " + "x" * 500)


def _assert_recovered(store: ChatStore, path: Path, original: bytes) -> None:
    assert store.recovered_from is not None
    assert store.recovered_from.name.startswith(f"{path.name}.corrupt-")
    assert store.recovered_from.parent == path.parent
    assert store.recovered_from.read_bytes() == original
    assert store.list_conversations() == []  # a fresh, working database
    conv = store.create_conversation("new")
    assert store.add_message(conv.id, "user", "works").content == "works"


def test_garbage_file_is_moved_aside_with_its_wal(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db_path.parent.mkdir(parents=True)
    garbage = b"this is not an SQLite database\n" * 300
    db_path.write_bytes(garbage)
    Path(f"{db_path}-wal").write_bytes(b"stray wal bytes")
    with caplog.at_level(logging.WARNING), ChatStore.open(db_path) as store:
        _assert_recovered(store, db_path, garbage)
        assert store.recovered_from is not None
        assert Path(f"{store.recovered_from}-wal").read_bytes() == b"stray wal bytes"
    assert "damaged" in caplog.text
    with ChatStore.open(db_path) as store:  # the fresh database stays healthy
        assert store.recovered_from is None
        assert [c.title for c in store.list_conversations()] == ["new"]


@pytest.mark.parametrize("keep", [50, 100, 0.5], ids=["in-header", "header-only", "half"])
def test_truncated_database_is_moved_aside(db_path: Path, keep: float) -> None:
    _make_history(db_path)
    data = db_path.read_bytes()
    cut = data[: int(len(data) * keep) if isinstance(keep, float) else keep]
    db_path.write_bytes(cut)
    with ChatStore.open(db_path) as store:
        _assert_recovered(store, db_path, cut)


def test_quick_check_failure_is_moved_aside(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _make_history(db_path)
    assert not Path(f"{db_path}-wal").exists()
    data = bytearray(db_path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    # Point the first cells of a table leaf page outside the page: header and schema still
    # read fine, only a b-tree walk (quick_check) notices.
    for page in range(2, len(data) // page_size):
        start = page * page_size
        if data[start] == 0x0D and int.from_bytes(data[start + 3 : start + 5], "big") >= 2:
            data[start + 8 : start + 12] = b"\x00\x00\x00\x09"
            break
    else:
        pytest.fail("no table leaf page found")
    damaged = bytes(data)
    db_path.write_bytes(damaged)
    with caplog.at_level(logging.WARNING), ChatStore.open(db_path) as store:
        _assert_recovered(store, db_path, damaged)
    assert "quick_check" in caplog.text


def test_wal_without_its_database_is_kept(db_path: Path) -> None:
    # SQLite would silently delete a WAL found beside an empty database.
    _make_history(db_path, messages=3)
    with raw(db_path) as conn:  # leave a WAL behind: no checkpoint, no close-time cleanup
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute("UPDATE messages SET content = 'in the wal only'")
        wal = Path(f"{db_path}-wal").read_bytes()
    Path(f"{db_path}-wal").write_bytes(wal)
    db_path.unlink()
    with ChatStore.open(db_path) as store:
        assert store.recovered_from is not None
        assert Path(f"{store.recovered_from}-wal").read_bytes() == wal
        assert store.list_conversations() == []


def test_hot_rollback_journal_is_rolled_back(db_path: Path) -> None:
    # Killed mid-transaction in rollback-journal mode (how a file is written before it first
    # switches to WAL): the read-only check cannot roll the journal back, the writer must.
    _make_history(db_path, messages=300)
    with raw(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode = DELETE").fetchone() == ("delete",)
    child = (
        "import os, sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA cache_size = 2')\n"  # spill: the file itself is half-changed
        "c.execute('BEGIN')\n"
        "c.execute(\"UPDATE messages SET content = 'uncommitted'\")\n"
        "os.kill(os.getpid(), 9)\n"
    )
    subprocess.run([sys.executable, "-c", child, str(db_path)], check=False, timeout=60)
    assert Path(f"{db_path}-journal").stat().st_size > 0
    with ChatStore.open(db_path) as store:
        assert store.recovered_from is None
        (conv,) = store.list_conversations()
        contents = {m.content for m in store.messages(conv.id)}
        assert len(contents) == 300 and "uncommitted" not in contents
    with raw(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_newer_schema_is_refused_untouched(db_path: Path) -> None:
    _make_history(db_path, messages=3)
    with raw(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = db_path.read_bytes()
    with pytest.raises(ChatStoreError) as info:
        ChatStore.open(db_path)
    assert info.value.code == "newer_schema" and info.value.path == db_path
    assert db_path.read_bytes() == before
    assert corrupt_files(db_path) == []


def test_foreign_database_is_refused_untouched(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with raw(db_path) as conn:
        conn.execute("CREATE TABLE other_app(x)")
    before = db_path.read_bytes()
    with pytest.raises(ChatStoreError) as info:
        ChatStore.open(db_path)
    assert info.value.code == "foreign_database"
    assert db_path.read_bytes() == before


def test_read_only_database_raises_at_open(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root ignores file permissions, so SQLite's own read-only mode makes the file
    # unwritable; the store must notice at open (its write probe) rather than on first save.
    _make_history(db_path, messages=3)
    before = db_path.read_bytes()
    monkeypatch.setattr(chat_store, "_OPEN_MODE", "ro")
    with pytest.raises(ChatStoreError) as info:
        ChatStore.open(db_path)
    assert info.value.code == "read_only"
    assert db_path.read_bytes() == before
    assert corrupt_files(db_path) == []  # read-only is not damage


@pytest.mark.parametrize("which", ["folder", "file"])
def test_unwritable_file_or_folder_raises_read_only(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    _make_history(db_path, messages=1)
    target = db_path.parent if which == "folder" else db_path
    real_access = os.access

    def access(path: Any, mode: int, **kwargs: Any) -> bool:
        if Path(path) == target and mode & os.W_OK:
            return False
        return real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)
    with pytest.raises(ChatStoreError) as info:
        ChatStore.open(db_path)
    assert info.value.code == "read_only" and info.value.path == target


def test_directory_in_place_of_the_file(db_path: Path) -> None:
    db_path.mkdir(parents=True)
    with pytest.raises(ChatStoreError) as info:
        ChatStore.open(db_path)
    assert info.value.code == "cannot_open"
    assert db_path.is_dir() and corrupt_files(db_path) == []


def test_failed_migration_leaves_previous_version(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make_history(db_path, messages=2)
    original = chat_store._MIGRATIONS
    monkeypatch.setattr(
        chat_store, "_MIGRATIONS", (*original, ("CREATE TABLE extra(x)", "NOT VALID SQL"))
    )
    with pytest.raises(ChatStoreError) as info:
        ChatStore.open(db_path)
    assert info.value.code == "migration_failed"
    with raw(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'extra'"
        ).fetchone() == (0,)
    monkeypatch.setattr(chat_store, "_MIGRATIONS", (*original, ("CREATE TABLE extra(x)",)))
    with ChatStore.open(db_path) as store:  # the migration re-runs and succeeds
        assert len(store.messages(store.list_conversations()[0].id)) == 2
    with raw(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION + 1,)


def test_disk_full_rolls_back_and_the_store_recovers(store: ChatStore) -> None:
    conv = store.create_conversation("t")
    kept = store.add_message(conv.id, "user", "kept")
    conn = store._connection()
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(ChatStoreError) as info:
        store.add_message(conv.id, "user", "y" * 200_000)
    assert info.value.code == "disk_full"
    assert store.messages(conv.id) == [kept]
    conn.execute("PRAGMA max_page_count = 1073741823")
    assert store.add_message(conv.id, "user", "y" * 200_000).position == 1


# --- concurrency -------------------------------------------------------------------------------


def test_two_stores_interleave_without_lost_updates(db_path: Path) -> None:
    with ChatStore.open(db_path) as one, ChatStore.open(db_path) as two:
        conv = one.create_conversation("shared")
        for i in range(10):
            (one if i % 2 else two).add_message(conv.id, "user", f"m{i}")
        one.rename_conversation(conv.id, "renamed by one")
        two.set_system_prompt(conv.id, "prompt by two")  # must not undo the rename
        for store in (one, two):
            assert [m.content for m in store.messages(conv.id)] == [f"m{i}" for i in range(10)]
            got = store.get_conversation(conv.id)
            assert (got.title, got.system_prompt) == ("renamed by one", "prompt by two")


def test_concurrent_writers_in_threads(db_path: Path) -> None:
    with ChatStore.open(db_path) as store:
        conv_id = store.create_conversation("shared").id
    errors: list[BaseException] = []

    def writer(tag: str) -> None:
        try:
            with ChatStore.open(db_path) as mine:
                for i in range(25):
                    mine.add_message(conv_id, "user", f"{tag}{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(tag,)) for tag in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with ChatStore.open(db_path) as store:
        messages = store.messages(conv_id)
    assert [m.position for m in messages] == list(range(50))
    assert sorted(m.content for m in messages) == sorted(f"{t}{i}" for t in "ab" for i in range(25))


def test_writer_waits_for_the_lock_then_succeeds(db_path: Path) -> None:
    with ChatStore.open(db_path) as store:
        conv = store.create_conversation("t")
        holder = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
        release.start()
        started = time.monotonic()
        try:
            store.add_message(conv.id, "user", "after the wait")
        finally:
            release.join()
            holder.close()
        assert time.monotonic() - started >= 0.25
        assert [m.content for m in store.messages(conv.id)] == ["after the wait"]


def test_lock_held_past_busy_timeout_raises_busy(db_path: Path) -> None:
    with ChatStore.open(db_path, busy_timeout_ms=100) as store:
        conv = store.create_conversation("t")
        with raw(db_path) as holder:
            holder.execute("BEGIN IMMEDIATE")
            with pytest.raises(ChatStoreError) as info:
                store.add_message(conv.id, "user", "blocked")
            assert info.value.code == "busy"
            holder.execute("ROLLBACK")
        assert store.add_message(conv.id, "user", "free").position == 0


# --- kill -9 -----------------------------------------------------------------------------------

_STREAMING_CHILD = """
import sys
from desktop_app.core.chat_store import ChatStore

store = ChatStore.open(sys.argv[1])
conv = store.create_conversation("kill test")
store.add_message(conv.id, "user", "question")
reply = store.begin_reply(conv.id)
print("reply", conv.id, reply, flush=True)
text = ""
i = 0
while True:
    text += f"<{i}>"
    store.append_reply(reply, text)
    print(i, flush=True)  # only after the commit returned
    i += 1
"""


def _expected(k: int) -> str:
    return "".join(f"<{j}>" for j in range(k + 1))


@pytest.mark.parametrize("kill_after", [1, 40, 250])
def test_kill_9_while_streaming_keeps_committed_text(db_path: Path, kill_after: int) -> None:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", _STREAMING_CHILD, str(db_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None and child.stderr is not None
    try:
        header = child.stdout.readline().split()
        assert header[:1] == ["reply"], child.stderr.read()
        conv_id, reply_id = int(header[1]), int(header[2])
        last = -1
        while last < kill_after:
            line = child.stdout.readline()
            assert line, f"child exited early: {child.stderr.read()}"
            last = int(line)
    finally:
        child.kill()  # SIGKILL: no cleanup, no checkpoint, possibly mid-commit
        child.wait(timeout=30)
    for line in child.stdout.read().splitlines(keepends=True):
        if line.endswith("\n"):
            last = int(line)
    child.stdout.close()
    child.stderr.close()
    assert child.returncode == -9 or sys.platform == "win32"

    with ChatStore.open(db_path) as store:
        assert store.recovered_from is None
        assert store._connection().execute("PRAGMA quick_check").fetchall() == [("ok",)]
        assert store.interrupted_replies == (reply_id,)
        question, reply = store.messages(conv_id)
        assert question.content == "question"
        assert reply.state == "interrupted"
        # The last append whose commit returned is there; at most one more committed
        # before its "done" line could be printed.
        assert reply.content in (_expected(last), _expected(last + 1))
