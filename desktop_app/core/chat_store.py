"""Chat history in SQLite: conversations, messages, streaming replies, search, export and import.

Durability (hardening.md section 5, fault rows 40-45):

* WAL journal with ``synchronous=FULL``: the WAL is synced at every commit, so a message is on
  disk once the call that wrote it returns, even across power loss.
* The connection runs with ``isolation_level=None`` and every write is one explicit
  ``BEGIN IMMEDIATE ... COMMIT``: Python's implicit DEFERRED transactions could upgrade to a write
  lock mid-way and fail with SQLITE_BUSY, and we want each public call to be atomic.
* ``PRAGMA quick_check`` at every open. A file that is not a database, is truncated or fails the
  check is moved aside to ``<name>.corrupt-<UTC timestamp>`` (with its ``-wal``/``-shm``) and a
  fresh database is started; :attr:`ChatStore.recovered_from` tells the UI where the old one went.
  Nothing is ever deleted.
* Each schema migration is one transaction that also bumps ``PRAGMA user_version``, so a crash
  mid-migration leaves the previous version intact and the migration re-runs at the next open.
* A reply the app was streaming when it died is still ``streaming`` in the file; the next open
  turns it into ``interrupted`` and keeps the text of the last committed append.
  This assumes no other live process is streaming into the same file (the app's single-instance
  lock guarantees that); a second ``ChatStore`` on the same file is otherwise safe
  (``busy_timeout``, no lost updates).

Text is stored losslessly. sqlite3 cannot bind a ``str`` holding a lone surrogate, so text that
encodes as UTF-8 is stored as TEXT and any other ``str`` as its UTF-8 ``surrogatepass`` bytes in
a BLOB in the same column; the storage class (``typeof()``) says which, and reading decodes
accordingly. NUL, bidi controls, ZWJ sequences and CRLF need nothing special.

Search uses FTS5 (word-prefix match, case- and diacritic-insensitive) when this SQLite has it and
otherwise a substring match (``str.casefold``) evaluated in Python. The FTS tables are a derived
index outside the versioned schema: opening without FTS drops their triggers, and the next open
with FTS rebuilds the index, so the file stays usable by a SQLite build without FTS5.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import re
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, cast

from desktop_app.core.atomic import fsync_folder
from desktop_app.core.closing import ClosesOnExit
from desktop_app.core.errors import QuantDeskError
from desktop_app.core.paths import AppPaths

log = logging.getLogger(__name__)

Role = Literal["system", "user", "assistant"]
MessageState = Literal["complete", "streaming", "interrupted", "error"]
FinalState = Literal["complete", "interrupted", "error"]

ROLES: Final[frozenset[str]] = frozenset({"system", "user", "assistant"})
STATES: Final[frozenset[str]] = frozenset({"complete", "streaming", "interrupted", "error"})
FINAL_STATES: Final[frozenset[str]] = frozenset({"complete", "interrupted", "error"})

DEFAULT_FILENAME: Final = "chat_history.sqlite3"
EXPORT_FORMAT: Final = "quantdesk.chat"
EXPORT_VERSION: Final = 1

# Import caps: an export is untrusted input, so every size is bounded before anything is written.
MAX_TEXT_CHARS: Final = 10 * 1024 * 1024  # one message or system prompt
MAX_TITLE_CHARS: Final = 10_000
MAX_PATH_CHARS: Final = 32_768  # the longest Windows extended path
MAX_MESSAGES: Final = 100_000
MAX_JSON_FIELD_CHARS: Final = 1024 * 1024  # settings / stats, serialized
MAX_JSON_DEPTH: Final = 32
MAX_IMPORT_CHARS: Final = 256 * 1024 * 1024  # a whole export document

DEFAULT_BUSY_TIMEOUT_MS: Final = 5000
_SNIPPET_CHARS = 160
_SNIPPET_LEAD = 40

# The SQLite URI open mode. A module constant only so tests can open the file really read-only
# (``ro``): the suite runs as root, for whom file permissions never refuse a write.
_OPEN_MODE = "rwc"

# SQLite primary result codes (sqlite3.h) the store distinguishes.
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_TOOBIG = 18
_SQLITE_CONSTRAINT = 19
_SQLITE_NOTADB = 26

_ERROR_CODES = {
    _SQLITE_BUSY: "busy",
    _SQLITE_LOCKED: "busy",
    _SQLITE_READONLY: "read_only",
    _SQLITE_IOERR: "io_error",
    _SQLITE_CORRUPT: "corrupt",
    _SQLITE_NOTADB: "corrupt",
    _SQLITE_FULL: "disk_full",
    _SQLITE_CANTOPEN: "cannot_open",
    _SQLITE_TOOBIG: "too_big",
    _SQLITE_CONSTRAINT: "constraint",
}
# Codes caused by the environment, not by the SQL: a failing migration keeps these codes so
# the UI can say "disk full" rather than "upgrade failed".
_ENVIRONMENT_CODES = frozenset({"busy", "read_only", "io_error", "corrupt", "disk_full"})

# Files SQLite keeps next to the database; they belong to it and move with it.
_SIDE_SUFFIXES = ("-wal", "-shm", "-journal")


class ChatStoreError(QuantDeskError):
    """The chat history could not be opened or written.

    ``code`` is one of: ``read_only``, ``newer_schema``, ``foreign_database``, ``not_found``,
    ``not_streaming``, ``message_streaming``, ``closed``, ``busy``, ``disk_full``, ``io_error``,
    ``corrupt``, ``cannot_open``, ``too_big``, ``migration_failed``, ``constraint``,
    ``database_error``.
    """

    def __init__(self, code: str, detail: str = "", *, path: Path | str | None = None) -> None:
        super().__init__(detail or code, path=path)
        self.code = code


class ChatImportError(QuantDeskError):
    """An export document was rejected before anything was written.

    ``code`` is one of ``not_json``, ``too_large``, ``wrong_format``, ``unsupported_version``,
    ``missing_field``, ``unknown_field``, ``wrong_type``, ``bad_value``; ``field`` is where, as a
    path like ``messages[3].role`` (empty for the document itself).
    """

    def __init__(self, code: str, field: str = "", detail: str = "") -> None:
        super().__init__(detail or f"{code} at {field or '$'}")
        self.code = code
        self.field = field


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    system_prompt: str
    model_path: str | None
    created_at: float
    updated_at: float
    # hash=False: a dict is unhashable, and the other fields identify the row anyway.
    settings: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    position: int
    role: Role
    content: str
    state: MessageState
    created_at: float
    stats: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class SearchHit:
    """One conversation matching a search: ``snippet`` comes from its first matching message
    (``message_id``), or is its title when only the title matched (``message_id`` None)."""

    conversation: Conversation
    snippet: str
    message_id: int | None


# --- schema ------------------------------------------------------------------------------------

# One tuple of statements per schema version; index i migrates user_version i to i + 1.
# AUTOINCREMENT so ids are never reused: the UI may still hold the id of a deleted message
# (a reply streaming into a conversation the user just deleted) and must not hit a new row.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE conversations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT NOT NULL CHECK (typeof(title) IN ('text', 'blob')),
            system_prompt TEXT NOT NULL CHECK (typeof(system_prompt) IN ('text', 'blob')),
            model_path TEXT CHECK (model_path IS NULL OR typeof(model_path) IN ('text', 'blob')),
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            settings_json TEXT NOT NULL DEFAULT '{}'
        )""",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id INTEGER NOT NULL
                REFERENCES conversations(id) ON DELETE CASCADE,
            position INTEGER NOT NULL CHECK (position >= 0),
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content TEXT NOT NULL CHECK (typeof(content) IN ('text', 'blob')),
            state TEXT NOT NULL
                CHECK (state IN ('complete', 'streaming', 'interrupted', 'error')),
            created_at REAL NOT NULL,
            stats_json TEXT NOT NULL DEFAULT '{}'
        )""",
        # Ordering, next-position lookup and the cascade all use this index.
        "CREATE UNIQUE INDEX messages_by_position ON messages(conversation_id, position)",
        # Keeps the crash recovery at open from scanning every message.
        "CREATE INDEX messages_streaming ON messages(id) WHERE state = 'streaming'",
        "CREATE INDEX conversations_by_updated ON conversations(updated_at)",
    ),
)
SCHEMA_VERSION: Final = len(_MIGRATIONS)

_FTS_TABLES = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5("
    "body, tokenize = 'unicode61 remove_diacritics 2')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS titles_fts USING fts5("
    "title, tokenize = 'unicode61 remove_diacritics 2')",
)
# Regular (not external-content) FTS tables kept in step by triggers: deletes need no copy of
# the old text, and cascade deletes of messages fire the delete trigger too.
_FTS_TRIGGERS = {
    "messages_fts_insert": """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.content); END""",
    "messages_fts_update": """CREATE TRIGGER messages_fts_update
        AFTER UPDATE OF content ON messages BEGIN
        UPDATE messages_fts SET body = new.content WHERE rowid = old.id; END""",
    "messages_fts_delete": """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        DELETE FROM messages_fts WHERE rowid = old.id; END""",
    "titles_fts_insert": """CREATE TRIGGER titles_fts_insert AFTER INSERT ON conversations BEGIN
        INSERT INTO titles_fts(rowid, title) VALUES (new.id, new.title); END""",
    "titles_fts_update": """CREATE TRIGGER titles_fts_update
        AFTER UPDATE OF title ON conversations BEGIN
        UPDATE titles_fts SET title = new.title WHERE rowid = old.id; END""",
    "titles_fts_delete": """CREATE TRIGGER titles_fts_delete
        AFTER DELETE ON conversations BEGIN
        DELETE FROM titles_fts WHERE rowid = old.id; END""",
}

_CONVERSATION_COLUMNS = (
    "id, title, system_prompt, model_path, created_at, updated_at, settings_json"
)
_MESSAGE_COLUMNS = "id, conversation_id, position, role, content, state, created_at, stats_json"


class _Damaged(Exception):
    """Internal: the file is not a healthy SQLite database (moved aside by ``open``)."""


# --- the store ---------------------------------------------------------------------------------


class ChatStore(ClosesOnExit):
    """The chat history database. Open with :meth:`open`; use from the thread that opened it."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        path: Path,
        *,
        recovered_from: Path | None,
    ) -> None:
        self._conn: sqlite3.Connection | None = connection
        self._path = path
        self._uses_fts = False
        #: Where a damaged database was moved at open, or None. The UI shows a notice for it.
        self.recovered_from = recovered_from
        #: Replies found ``streaming`` at open (the app died mid-reply), now ``interrupted``.
        self.interrupted_replies: tuple[int, ...] = ()

    # -- opening and closing --------------------------------------------------------------------

    @staticmethod
    def default_path() -> Path:
        return AppPaths.default().data / DEFAULT_FILENAME

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        use_fts: bool = True,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    ) -> ChatStore:
        """Open (creating if needed) the history at ``path``.

        ``use_fts=False`` forces the substring-search fallback that SQLite builds without FTS5
        get. Raises ChatStoreError: ``read_only`` (file or folder not writable; the store never
        opens read-only), ``newer_schema`` (written by a newer QuantDesk; left untouched),
        ``foreign_database`` (another program's SQLite file; left untouched), or a storage code.
        A damaged file does not raise: see :attr:`recovered_from`.
        """
        db_path = Path(path).absolute()
        if db_path.is_dir():
            raise ChatStoreError("cannot_open", "is a directory", path=db_path)
        _check_writable(db_path)
        recovered_from: Path | None = None
        try:
            conn = _connect(db_path, busy_timeout_ms)
        except _Damaged as damage:
            recovered_from = _move_aside(db_path)
            log.warning(
                "chat history %s is damaged (%s); moved to %s, starting a new one",
                db_path,
                damage,
                recovered_from,
            )
            try:
                conn = _connect(db_path, busy_timeout_ms)
            except _Damaged as again:
                raise ChatStoreError("corrupt", str(again), path=db_path) from again
        store = cls(conn, db_path, recovered_from=recovered_from)
        try:
            store._migrate()
            store._recover_streaming()
            store._uses_fts = store._sync_fts(use_fts)
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            # Cheap and recommended at close: refreshes planner statistics when useful.
            conn.execute("PRAGMA optimize")
        except sqlite3.Error:
            pass
        conn.close()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def uses_fts(self) -> bool:
        """True when search runs on the FTS5 index, False on the substring fallback."""
        return self._uses_fts

    @property
    def closed(self) -> bool:
        return self._conn is None

    # -- conversations --------------------------------------------------------------------------

    def create_conversation(
        self,
        title: str,
        system_prompt: str = "",
        model_path: str | os.PathLike[str] | None = None,
    ) -> Conversation:
        with self._write() as conn:
            stamp = _next_stamp(conn)
            cursor = conn.execute(
                "INSERT INTO conversations"
                " (title, system_prompt, model_path, created_at, updated_at, settings_json)"
                " VALUES (?, ?, ?, ?, ?, '{}')",
                (
                    _to_db(title),
                    _to_db(system_prompt),
                    _path_to_db(model_path),
                    time.time(),
                    stamp,
                ),
            )
            return self._get_conversation(conn, _lastrowid(cursor))

    def list_conversations(self) -> list[Conversation]:
        """All conversations, most recently updated first."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations"
                " ORDER BY updated_at DESC, id DESC"
            ).fetchall()
        return [_conversation(row) for row in rows]

    def get_conversation(self, conversation_id: int) -> Conversation:
        with self._read() as conn:
            return self._get_conversation(conn, conversation_id)

    def rename_conversation(self, conversation_id: int, title: str) -> Conversation:
        return self._update_conversation(conversation_id, "title", _to_db(title))

    def set_system_prompt(self, conversation_id: int, text: str) -> Conversation:
        return self._update_conversation(conversation_id, "system_prompt", _to_db(text))

    def set_model(
        self, conversation_id: int, model_path: str | os.PathLike[str] | None
    ) -> Conversation:
        return self._update_conversation(conversation_id, "model_path", _path_to_db(model_path))

    def set_settings(self, conversation_id: int, settings: Mapping[str, Any]) -> Conversation:
        """Per-conversation settings (sampling etc.); must be JSON-serializable."""
        return self._update_conversation(conversation_id, "settings_json", _json_to_db(settings))

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete a conversation and (by cascade) its messages."""
        with self._write() as conn:
            cursor = conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            if cursor.rowcount == 0:
                raise ChatStoreError("not_found", f"conversation {conversation_id}")

    # -- messages -------------------------------------------------------------------------------

    def add_message(self, conversation_id: int, role: Role, content: str) -> Message:
        """Append a complete message; it is durable when this returns."""
        _check_role(role)
        with self._write() as conn:
            message_id = self._insert_message(conn, conversation_id, role, content, "complete")
            return self._get_message(conn, message_id)

    def messages(self, conversation_id: int) -> list[Message]:
        """The conversation's messages in order."""
        with self._read() as conn:
            self._require_conversation(conn, conversation_id)
            rows = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages"
                " WHERE conversation_id = ? ORDER BY position",
                (conversation_id,),
            ).fetchall()
        return [_message(row) for row in rows]

    def get_message(self, message_id: int) -> Message:
        with self._read() as conn:
            return self._get_message(conn, message_id)

    def edit_message(self, message_id: int, content: str, *, drop_later: bool = False) -> Message:
        """Replace a message's text; ``drop_later=True`` also deletes every later message in the
        same transaction ("edit and resend"). A streaming reply cannot be edited."""
        with self._write() as conn:
            current = self._get_message(conn, message_id)
            if current.state == "streaming":
                raise ChatStoreError("message_streaming", f"message {message_id}")
            conn.execute(
                "UPDATE messages SET content = ? WHERE id = ?", (_to_db(content), message_id)
            )
            if drop_later:
                _delete_after(conn, current)
            self._touch(conn, current.conversation_id)
            return self._get_message(conn, message_id)

    def truncate_after(self, message_id: int) -> int:
        """Delete every message after ``message_id`` in its conversation (the message itself
        stays); returns how many were deleted. Used by "regenerate" and "edit and resend"."""
        with self._write() as conn:
            current = self._get_message(conn, message_id)
            deleted = _delete_after(conn, current)
            if deleted:
                self._touch(conn, current.conversation_id)
            return deleted

    # -- streaming replies ----------------------------------------------------------------------

    def begin_reply(self, conversation_id: int) -> int:
        """Create an empty assistant message in state ``streaming``; returns its id."""
        with self._write() as conn:
            return self._insert_message(conn, conversation_id, "assistant", "", "streaming")

    def append_reply(self, message_id: int, text_so_far: str) -> None:
        """Save the reply's text so far (the whole text, not a delta) in one short transaction.

        The caller throttles this (about once a second); whatever the last call committed is
        what survives a crash.
        """
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE messages SET content = ? WHERE id = ? AND state = 'streaming'",
                (_to_db(text_so_far), message_id),
            )
            if cursor.rowcount == 0:
                self._get_message(conn, message_id)  # raises not_found when it is gone
                raise ChatStoreError("not_streaming", f"message {message_id}")

    def finish_reply(
        self,
        message_id: int,
        text: str,
        state: FinalState = "complete",
        stats: Mapping[str, Any] | None = None,
    ) -> Message:
        """Store the final text, state and generation stats (tokens/s etc., JSON-serializable)."""
        if state not in FINAL_STATES:
            raise ValueError(f"final state must be one of {sorted(FINAL_STATES)}, not {state!r}")
        stats_json = _json_to_db(stats or {})
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE messages SET content = ?, state = ?, stats_json = ?"
                " WHERE id = ? AND state = 'streaming'",
                (_to_db(text), state, stats_json, message_id),
            )
            if cursor.rowcount == 0:
                self._get_message(conn, message_id)
                raise ChatStoreError("not_streaming", f"message {message_id}")
            message = self._get_message(conn, message_id)
            self._touch(conn, message.conversation_id)
            return message

    # -- search ---------------------------------------------------------------------------------

    def search(self, text: str, *, limit: int = 200) -> list[SearchHit]:
        """Conversations whose title or messages contain every word of ``text``.

        FTS5: words match as prefixes (``hel`` finds "Hello"), ignoring case and diacritics.
        Fallback: words match as substrings, ignoring case. Query syntax is never interpreted.
        Hits are ordered like :meth:`list_conversations`.
        """
        terms = text.split()
        if not terms or limit <= 0:
            return []
        with self._read() as conn:
            if self._uses_fts:
                title_ids, first_match = _fts_matches(conn, terms)
            else:
                title_ids, first_match = _substring_matches(conn, terms)
            ids = title_ids | set(first_match)
            if not ids:
                return []
            # Ordered in Python rather than with "id IN (?, ...)": the matches may outnumber
            # SQLite's bound-parameter limit (999 on older builds).
            order = conn.execute(
                "SELECT id FROM conversations ORDER BY updated_at DESC, id DESC"
            ).fetchall()
            rows = []
            for (conversation_id,) in order:
                if conversation_id in ids:
                    rows.append(
                        conn.execute(
                            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = ?",
                            (conversation_id,),
                        ).fetchone()
                    )
                    if len(rows) >= limit:
                        break
        hits = []
        for row in rows:
            conversation = _conversation(row)
            found = first_match.get(conversation.id)
            if found is not None:
                message_id, content = found
                hits.append(SearchHit(conversation, _snippet(content, terms), message_id))
            else:
                hits.append(SearchHit(conversation, _snippet(conversation.title, terms), None))
        return hits

    # -- export and import ----------------------------------------------------------------------

    def export_json(self, conversation_id: int) -> dict[str, Any]:
        """A self-describing, lossless export (see :meth:`import_json`).

        Strings may hold lone surrogates: :meth:`export_json_bytes` serializes it losslessly.
        """
        with self._read() as conn:
            conversation = self._get_conversation(conn, conversation_id)
            rows = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages"
                " WHERE conversation_id = ? ORDER BY position",
                (conversation_id,),
            ).fetchall()
        return {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "conversation": {
                "title": conversation.title,
                "system_prompt": conversation.system_prompt,
                "model_path": conversation.model_path,
                "created_at": conversation.created_at,
                "updated_at": conversation.updated_at,
                "settings": conversation.settings,
            },
            "messages": [
                {
                    "role": message.role,
                    "content": message.content,
                    "state": message.state,
                    "created_at": message.created_at,
                    "stats": message.stats,
                }
                for message in map(_message, rows)
            ],
        }

    def export_json_bytes(self, conversation_id: int) -> bytes:
        """:meth:`export_json` as UTF-8 JSON, ready to write to a file.

        Lossless: text that is not valid Unicode (lone surrogates) is written as its
        ``surrogatepass`` bytes, the only case where the file is not strict UTF-8. ASCII escapes
        (``\\ud83d\\ude00``) cannot be used for it: JSON defines an escaped high+low pair as one
        astral character, so two separate surrogate code points would come back joined.
        """
        text = json.dumps(self.export_json(conversation_id), ensure_ascii=False, indent=2)
        return (text + "\n").encode("utf-8", "surrogatepass")

    def export_markdown(self, conversation_id: int) -> str:
        """A readable Markdown rendering. Lossy on purpose: lone surrogates and NUL become
        U+FFFD so the result can be written as UTF-8; JSON is the lossless format."""
        with self._read() as conn:
            conversation = self._get_conversation(conn, conversation_id)
            rows = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages"
                " WHERE conversation_id = ? ORDER BY position",
                (conversation_id,),
            ).fetchall()
        title = " ".join(conversation.title.splitlines()) or "-"
        parts = [f"# {title}\n"]
        if conversation.model_path:
            parts.append(f"Model: `{' '.join(conversation.model_path.splitlines())}`\n")
        if conversation.system_prompt:
            parts.append(f"## System prompt\n\n{conversation.system_prompt}\n")
        for message in map(_message, rows):
            heading = message.role.capitalize()
            if message.state != "complete":
                heading += f" ({message.state})"
            parts.append(f"## {heading}\n\n{message.content}\n")
        return _display_safe("\n".join(parts))

    def import_json(self, data: object) -> Conversation:
        """Import an :meth:`export_json` document as a new conversation.

        The document is validated completely before one transaction writes it; any problem
        raises ChatImportError. The import gets new ids and ``updated_at`` = now (so it shows
        first); every other field is kept. A ``streaming`` message is stored as ``interrupted``.
        """
        parsed = _validate_export(data)
        with self._write() as conn:
            stamp = _next_stamp(conn)
            cursor = conn.execute(
                "INSERT INTO conversations"
                " (title, system_prompt, model_path, created_at, updated_at, settings_json)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    _to_db(parsed.title),
                    _to_db(parsed.system_prompt),
                    _path_to_db(parsed.model_path),
                    parsed.created_at,
                    stamp,
                    _json_to_db(parsed.settings),
                ),
            )
            conversation_id = _lastrowid(cursor)
            conn.executemany(
                "INSERT INTO messages (conversation_id, position, role, content, state,"
                " created_at, stats_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        conversation_id,
                        position,
                        m.role,
                        _to_db(m.content),
                        "interrupted" if m.state == "streaming" else m.state,
                        m.created_at,
                        _json_to_db(m.stats),
                    )
                    for position, m in enumerate(parsed.messages)
                ),
            )
            return self._get_conversation(conn, conversation_id)

    def import_json_text(self, text: str | bytes) -> Conversation:
        """Parse export JSON (str, or UTF-8 bytes as :meth:`export_json_bytes` writes them)
        and :meth:`import_json` it."""
        return self.import_json(parse_export_text(text))

    # -- internals ------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ChatStoreError("closed", path=self._path)
        return self._conn

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        try:
            conn.execute(begin)
        except sqlite3.Error as exc:
            raise _store_error(exc, self._path) from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error as rollback_exc:
                    # SQLite may already have rolled back (e.g. after SQLITE_FULL); nothing to do.
                    log.debug("rollback after %r failed: %s", exc, rollback_exc)
            if isinstance(exc, sqlite3.Error):
                raise _store_error(exc, self._path) from exc
            raise

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front (waiting up to busy_timeout), so a write
        # transaction never fails half-way because another connection wrote first.
        return self._transaction("BEGIN IMMEDIATE")

    def _read(self) -> AbstractContextManager[sqlite3.Connection]:
        # One snapshot for multi-statement reads (a conversation and its messages agree).
        return self._transaction("BEGIN DEFERRED")

    def _migrate(self) -> None:
        target = len(_MIGRATIONS)
        while True:
            # The version is re-read inside each write transaction: another connection may
            # have migrated in the meantime.
            step = ""
            try:
                with self._write() as conn:
                    version = _user_version(conn)
                    if version >= target:
                        # Also the open-time write probe: rewriting the header fails with
                        # SQLITE_READONLY on a read-only file, so that surfaces here.
                        conn.execute(f"PRAGMA user_version = {version}")
                        return
                    step = f"schema {version} -> {version + 1}"
                    for statement in _MIGRATIONS[version]:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {version + 1}")
            except ChatStoreError as exc:
                if exc.code in _ENVIRONMENT_CODES or not step:
                    raise
                raise ChatStoreError(
                    "migration_failed", f"{step}: {exc.detail}", path=self._path
                ) from exc
            log.info("chat history %s: migrated %s", self._path, step)

    def _recover_streaming(self) -> None:
        with self._write() as conn:
            ids = [
                row[0] for row in conn.execute("SELECT id FROM messages WHERE state = 'streaming'")
            ]
            if ids:
                conn.execute("UPDATE messages SET state = 'interrupted' WHERE state = 'streaming'")
        self.interrupted_replies = tuple(ids)
        if ids:
            log.warning("chat history: %d reply(ies) were cut off by a crash", len(ids))

    def _sync_fts(self, wanted: bool) -> bool:
        conn = self._connection()
        use = wanted and _fts5_available(conn)
        marks = ",".join("?" * len(_FTS_TRIGGERS))
        present = {
            row[0]
            for row in conn.execute(
                f"SELECT name FROM sqlite_master WHERE type = 'trigger' AND name IN ({marks})",
                tuple(_FTS_TRIGGERS),
            )
        }
        if use and present == set(_FTS_TRIGGERS):
            return True
        if not use and not present:
            return False
        with self._write() as conn:
            for name in _FTS_TRIGGERS:
                conn.execute(f"DROP TRIGGER IF EXISTS {name}")
            if use:
                # Triggers missing means the index may be stale (opened without FTS since):
                # rebuild it from the tables, then let the triggers keep it current.
                for statement in _FTS_TABLES:
                    conn.execute(statement)
                conn.execute("DELETE FROM messages_fts")
                conn.execute("DELETE FROM titles_fts")
                conn.execute(
                    "INSERT INTO messages_fts(rowid, body) SELECT id, content FROM messages"
                )
                conn.execute(
                    "INSERT INTO titles_fts(rowid, title) SELECT id, title FROM conversations"
                )
                for statement in _FTS_TRIGGERS.values():
                    conn.execute(statement)
        return use

    def _insert_message(
        self,
        conn: sqlite3.Connection,
        conversation_id: int,
        role: str,
        content: str,
        state: str,
    ) -> int:
        self._require_conversation(conn, conversation_id)
        (position,) = conn.execute(
            "SELECT COALESCE(MAX(position), -1) + 1 FROM messages WHERE conversation_id = ?",
            (conversation_id,),
        ).fetchone()
        cursor = conn.execute(
            "INSERT INTO messages"
            " (conversation_id, position, role, content, state, created_at, stats_json)"
            " VALUES (?, ?, ?, ?, ?, ?, '{}')",
            (conversation_id, position, role, _to_db(content), state, time.time()),
        )
        self._touch(conn, conversation_id)
        return _lastrowid(cursor)

    def _update_conversation(
        self, conversation_id: int, column: str, value: object
    ) -> Conversation:
        with self._write() as conn:
            cursor = conn.execute(
                f"UPDATE conversations SET {column} = ?, updated_at = ? WHERE id = ?",
                (value, _next_stamp(conn), conversation_id),
            )
            if cursor.rowcount == 0:
                raise ChatStoreError("not_found", f"conversation {conversation_id}")
            return self._get_conversation(conn, conversation_id)

    def _touch(self, conn: sqlite3.Connection, conversation_id: int) -> None:
        conn.execute(
            "UPDATE conversations SET updated_at = ? WHERE id = ?",
            (_next_stamp(conn), conversation_id),
        )

    def _require_conversation(self, conn: sqlite3.Connection, conversation_id: int) -> None:
        row = conn.execute(
            "SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if row is None:
            raise ChatStoreError("not_found", f"conversation {conversation_id}")

    def _get_conversation(self, conn: sqlite3.Connection, conversation_id: int) -> Conversation:
        row = conn.execute(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = ?",
            (conversation_id,),
        ).fetchone()
        if row is None:
            raise ChatStoreError("not_found", f"conversation {conversation_id}")
        return _conversation(row)

    def _get_message(self, conn: sqlite3.Connection, message_id: int) -> Message:
        row = conn.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)
        ).fetchone()
        if row is None:
            raise ChatStoreError("not_found", f"message {message_id}")
        return _message(row)


# --- opening helpers ---------------------------------------------------------------------------


def _check_writable(path: Path) -> None:
    """Refuse a read-only file or folder up front with a clear code.

    WAL needs to create ``-wal``/``-shm`` next to the file, so the folder must be writable too.
    This is a best-effort pre-check (``os.access`` ignores some ACLs and is always true for
    root); SQLite's own SQLITE_READONLY at the open-time write probe is the backstop.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        code = "read_only" if _is_permission_error(exc) else "io_error"
        raise ChatStoreError(code, str(exc), path=path.parent) from exc
    if not os.access(path.parent, os.W_OK):
        raise ChatStoreError("read_only", "folder not writable", path=path.parent)
    if path.exists() and not os.access(path, os.W_OK):
        raise ChatStoreError("read_only", "file not writable", path=path)


def _is_permission_error(exc: OSError) -> bool:
    return isinstance(exc, PermissionError) or exc.errno == errno.EROFS


def _connect(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """Check the file, then open the connection the store uses.

    Raises _Damaged for a file to move aside, ChatStoreError otherwise.
    """
    checked = _check_read_only(path, busy_timeout_ms)
    conn = _sqlite_connect(path, _OPEN_MODE, busy_timeout_ms)
    try:
        if not checked:
            _inspect(conn, path)
        conn.execute("PRAGMA foreign_keys = ON")
        (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if str(mode).lower() != "wal":
            # Still durable with FULL, just slower; happens on file systems without shared
            # memory (which the app should not use for its data anyway).
            log.warning("chat history %s: journal mode %s, not wal", path, mode)
        conn.execute("PRAGMA synchronous = FULL")
        # Truncate the WAL after checkpoints so it does not keep its high-water size.
        conn.execute("PRAGMA journal_size_limit = 16777216")
    except sqlite3.Error as exc:
        conn.close()
        if _primary_code(exc) in (_SQLITE_CORRUPT, _SQLITE_NOTADB) and not checked:
            raise _Damaged(f"{exc} ({getattr(exc, 'sqlite_errorname', '?')})") from exc
        raise _store_error(exc, path) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _check_read_only(path: Path, busy_timeout_ms: int) -> bool:
    """Run :func:`_inspect` on a read-only connection; False when it could not decide.

    Read-only on purpose: a read-write connection that fails would, when closed, checkpoint a
    ``-wal`` into the file and delete it, so the evidence moved aside would not be the original
    bytes; and a newer or foreign database must not be changed at all.
    """
    wal = Path(f"{path}-wal")
    if not path.exists() or path.stat().st_size == 0:
        # SQLite deletes a WAL it finds beside an empty database; keep it for inspection.
        if wal.exists() and wal.stat().st_size > 0:
            raise _Damaged("write-ahead log without its database")
        return True  # nothing to check: a new database
    conn = _sqlite_connect(path, "ro", busy_timeout_ms)
    try:
        _inspect(conn, path)
    except sqlite3.Error as exc:
        primary = _primary_code(exc)
        if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            raise _Damaged(f"{exc} ({getattr(exc, 'sqlite_errorname', '?')})") from exc
        if primary == _SQLITE_READONLY:
            # A hot rollback journal (killed while the file was created) needs a writer to
            # roll it back: let the read-write connection repeat the inspection.
            return False
        raise _store_error(exc, path) from exc
    finally:
        conn.close()
    return True


def _inspect(conn: sqlite3.Connection, path: Path) -> None:
    """Schema version, foreign-file and quick_check tests; reads only."""
    version = _user_version(conn)
    if version > len(_MIGRATIONS):
        raise ChatStoreError(
            "newer_schema", f"schema {version} > supported {len(_MIGRATIONS)}", path=path
        )
    if version == 0:
        (objects,) = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if objects:
            raise ChatStoreError("foreign_database", "unversioned tables present", path=path)
    problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        raise _Damaged("quick_check: " + "; ".join(map(str, problems[:5])))


def _sqlite_connect(path: Path, mode: str, busy_timeout_ms: int) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions; the store issues BEGIN/COMMIT itself.
    uri = f"{path.as_uri()}?mode={mode}"
    try:
        # timeout sets SQLite's busy_timeout: how long a lock held elsewhere is waited for.
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=busy_timeout_ms / 1000)
    except sqlite3.Error as exc:
        raise _store_error(exc, path) from exc
    return conn


def _move_aside(path: Path) -> Path:
    """Rename a damaged database and its side files to ``<name>.corrupt-<stamp>[-wal|-shm]``."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for attempt in range(1000):
        base = path.with_name(f"{path.name}.corrupt-{stamp}" + (f"-{attempt}" if attempt else ""))
        names = [Path(f"{base}{suffix}") for suffix in ("", *_SIDE_SUFFIXES)]
        if not any(name.exists() for name in names):
            break
    else:
        raise ChatStoreError("io_error", "no free name to move the damaged file to", path=path)
    try:
        # Side files first: a -wal left beside a fresh database would be replayed into it.
        for suffix in _SIDE_SUFFIXES:
            side = Path(f"{path}{suffix}")
            if side.exists():
                os.rename(side, f"{base}{suffix}")
        if path.exists():
            os.rename(path, base)
    except OSError as exc:
        code = "read_only" if _is_permission_error(exc) else "io_error"
        raise ChatStoreError(code, f"moving damaged database aside: {exc}", path=path) from exc
    # A rename is atomic but only durable once the folder entry is synced (hardening.md s5).
    fsync_folder(path.parent)
    return base


def _fts5_available(conn: sqlite3.Connection) -> bool:
    # Probing in the temp schema never touches the database file.
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.quantdesk_fts5_probe USING fts5(x)")
    except sqlite3.OperationalError:
        return False
    conn.execute("DROP TABLE temp.quantdesk_fts5_probe")
    return True


def _user_version(conn: sqlite3.Connection) -> int:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    return int(version)


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _store_error(exc: sqlite3.Error, path: Path) -> ChatStoreError:
    primary = _primary_code(exc)
    code = _ERROR_CODES.get(primary, "database_error") if primary is not None else "database_error"
    name = getattr(exc, "sqlite_errorname", type(exc).__name__)
    return ChatStoreError(code, f"{name}: {exc}", path=path)


# --- rows and values ---------------------------------------------------------------------------


def _to_db(text: str) -> str | bytes:
    """TEXT when the string is valid Unicode scalar values, else surrogatepass bytes (BLOB)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")
    return text


def _from_db(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as exc:
            raise ChatStoreError("corrupt", f"undecodable text value: {exc}") from exc
    raise ChatStoreError("corrupt", f"text column holds {type(value).__name__}")


def _path_to_db(path: str | os.PathLike[str] | None) -> str | bytes | None:
    return None if path is None else _to_db(os.fspath(path))


def _dump_json(value: Mapping[str, Any]) -> str:
    # ensure_ascii=False keeps surrogate code points raw, so they round-trip through
    # _to_db/_from_db; ASCII escapes would join a separate high+low pair into one character.
    try:
        return json.dumps(dict(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON-serializable: {exc}") from exc


def _json_to_db(value: Mapping[str, Any]) -> str | bytes:
    return _to_db(_dump_json(value))


def _load_json_object(text: object) -> dict[str, Any]:
    try:
        value = json.loads(_from_db(text))
    except ValueError as exc:
        raise ChatStoreError("corrupt", f"bad JSON column: {exc}") from exc
    if not isinstance(value, dict):
        raise ChatStoreError("corrupt", "JSON column is not an object")
    return value


def _lastrowid(cursor: sqlite3.Cursor) -> int:
    rowid = cursor.lastrowid
    if rowid is None:
        raise ChatStoreError("database_error", "insert returned no row id")
    return rowid


def _next_stamp(conn: sqlite3.Connection) -> float:
    """Wall-clock time, nudged past the newest ``updated_at`` so the list order always follows
    the order of changes (coarse clocks tie; a clock set back would reorder)."""
    (latest,) = conn.execute("SELECT MAX(updated_at) FROM conversations").fetchone()
    now = time.time()
    if latest is not None and now <= latest:
        now = math.nextafter(float(latest), math.inf)
    return now


def _conversation(row: tuple[Any, ...]) -> Conversation:
    return Conversation(
        id=int(row[0]),
        title=_from_db(row[1]),
        system_prompt=_from_db(row[2]),
        model_path=None if row[3] is None else _from_db(row[3]),
        created_at=float(row[4]),
        updated_at=float(row[5]),
        settings=_load_json_object(row[6]),
    )


def _message(row: tuple[Any, ...]) -> Message:
    return Message(
        id=int(row[0]),
        conversation_id=int(row[1]),
        position=int(row[2]),
        role=cast(Role, row[3]),  # the CHECK constraint guarantees the value
        content=_from_db(row[4]),
        state=cast(MessageState, row[5]),
        created_at=float(row[6]),
        stats=_load_json_object(row[7]),
    )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {sorted(ROLES)}, not {role!r}")


def _delete_after(conn: sqlite3.Connection, message: Message) -> int:
    cursor = conn.execute(
        "DELETE FROM messages WHERE conversation_id = ? AND position > ?",
        (message.conversation_id, message.position),
    )
    return cursor.rowcount


# --- search helpers ----------------------------------------------------------------------------

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _fts_query(terms: list[str]) -> str:
    # Each word becomes a quoted prefix phrase, so nothing the user types is FTS5 syntax.
    # Lone surrogates and NUL separate tokens for unicode61 anyway and cannot be bound as text.
    phrases = []
    for term in terms:
        clean = _LONE_SURROGATE.sub(" ", term).replace("\x00", " ")
        phrases.append('"' + clean.replace('"', '""') + '"*')
    return " ".join(phrases)


_FIRST_MATCH_SQL = """
    SELECT m.conversation_id, m.id, m.content FROM messages AS m
    JOIN (SELECT conversation_id AS cid, MIN(position) AS pos FROM messages
          WHERE {condition} GROUP BY conversation_id) AS first
      ON m.conversation_id = first.cid AND m.position = first.pos
"""


def _fts_matches(
    conn: sqlite3.Connection, terms: list[str]
) -> tuple[set[int], dict[int, tuple[int, str]]]:
    query = _fts_query(terms)
    titles = {
        int(row[0])
        for row in conn.execute("SELECT rowid FROM titles_fts WHERE titles_fts MATCH ?", (query,))
    }
    condition = "id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)"
    rows = conn.execute(_FIRST_MATCH_SQL.format(condition=condition), (query,)).fetchall()
    return titles, {int(r[0]): (int(r[1]), _from_db(r[2])) for r in rows}


def _substring_matches(
    conn: sqlite3.Connection, terms: list[str]
) -> tuple[set[int], dict[int, tuple[int, str]]]:
    folded = [term.casefold() for term in terms]

    def matches(value: object) -> int:
        if not isinstance(value, str | bytes):
            return 0
        text = _from_db(value).casefold()
        return int(all(term in text for term in folded))

    # The terms live in the closure, not in bound parameters, so they may hold lone surrogates.
    conn.create_function("quantdesk_match", 1, matches, deterministic=True)
    titles = {
        int(row[0])
        for row in conn.execute("SELECT id FROM conversations WHERE quantdesk_match(title)")
    }
    rows = conn.execute(_FIRST_MATCH_SQL.format(condition="quantdesk_match(content)")).fetchall()
    return titles, {int(r[0]): (int(r[1]), _from_db(r[2])) for r in rows}


def _snippet(text: str, terms: list[str]) -> str:
    """About 160 characters of ``text`` around the first term found, on one line."""
    starts = [
        found.start()
        for found in (re.search(re.escape(term), text, re.IGNORECASE) for term in terms)
        if found is not None
    ]
    at = min(starts, default=0)
    start = max(0, at - _SNIPPET_LEAD)
    end = min(len(text), start + _SNIPPET_CHARS)
    piece = " ".join(text[start:end].split())
    return ("…" if start > 0 else "") + piece + ("…" if end < len(text) else "")


def _display_safe(text: str) -> str:
    return _LONE_SURROGATE.sub("\ufffd", text).replace("\x00", "\ufffd")


# --- import validation -------------------------------------------------------------------------


@dataclass(frozen=True)
class _ImportedMessage:
    role: str
    content: str
    state: str
    created_at: float
    stats: dict[str, Any]


@dataclass(frozen=True)
class _ImportedConversation:
    title: str
    system_prompt: str
    model_path: str | None
    created_at: float
    settings: dict[str, Any]
    messages: list[_ImportedMessage]


def parse_export_text(text: str | bytes) -> object:
    """Decode export JSON text with bounded cost; raises ChatImportError (``not_json``,
    ``too_large``). Duplicate keys and NaN/Infinity are rejected, not silently resolved."""
    if len(text) > MAX_IMPORT_CHARS:
        raise ChatImportError("too_large", "", f"{len(text)} > {MAX_IMPORT_CHARS}")
    if isinstance(text, bytes):
        try:
            # surrogatepass: export_json_bytes writes lone surrogates that way.
            text = text.removeprefix(b"\xef\xbb\xbf").decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as exc:
            raise ChatImportError("not_json", "", f"not UTF-8: {exc}") from exc

    def reject_constant(name: str) -> object:
        raise ValueError(f"{name} is not JSON")

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) != len(pairs):
            raise ValueError("duplicate key")
        return result

    try:
        return json.loads(text, parse_constant=reject_constant, object_pairs_hook=unique_keys)
    except (ValueError, RecursionError) as exc:
        raise ChatImportError("not_json", "", str(exc)[:200]) from exc


def _fields(value: object, where: str, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ChatImportError("wrong_type", where, "expected an object")
    for key in value:
        if key not in required and key not in optional:
            shown = key if isinstance(key, str) else repr(key)
            raise ChatImportError("unknown_field", f"{where}.{shown}".lstrip("."))
    for key in sorted(required):
        if key not in value:
            raise ChatImportError("missing_field", f"{where}.{key}".lstrip("."))
    return value


def _text(value: object, where: str, cap: int) -> str:
    if not isinstance(value, str):
        raise ChatImportError("wrong_type", where, "expected a string")
    if len(value) > cap:
        raise ChatImportError("too_large", where, f"{len(value)} > {cap} characters")
    return value


def _timestamp(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ChatImportError("wrong_type", where, "expected a number")
    try:
        number = float(value)
    except OverflowError as exc:
        raise ChatImportError("bad_value", where, "out of range") from exc
    if not math.isfinite(number) or number < 0:
        raise ChatImportError("bad_value", where, "not a finite, non-negative time")
    return number


def _json_object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ChatImportError("wrong_type", where, "expected an object")
    _check_json_value(value, where, 0)
    if len(_dump_json(value)) > MAX_JSON_FIELD_CHARS:
        raise ChatImportError("too_large", where)
    return value


def _check_json_value(value: object, where: str, depth: int) -> None:
    # Only what JSON can represent exactly, so the stored value equals the imported one.
    if depth > MAX_JSON_DEPTH:
        raise ChatImportError("too_large", where, "nested too deeply")
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ChatImportError("bad_value", where, "not a finite number")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_json_value(item, f"{where}[{index}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ChatImportError("wrong_type", where, "object keys must be strings")
            _check_json_value(item, f"{where}.{key}", depth + 1)
        return
    raise ChatImportError("wrong_type", where, f"{type(value).__name__} is not JSON")


def _validate_export(data: object) -> _ImportedConversation:
    if not isinstance(data, dict):
        raise ChatImportError("wrong_format", "", "expected an object")
    if data.get("format") != EXPORT_FORMAT:
        raise ChatImportError("wrong_format", "format")
    version = data.get("version")
    if isinstance(version, bool) or version != EXPORT_VERSION:
        raise ChatImportError("unsupported_version", "version", f"{version!r}")
    top = _fields(data, "", {"format", "version", "conversation", "messages"}, set())
    conv = _fields(
        top["conversation"],
        "conversation",
        {"title", "system_prompt", "model_path", "created_at", "updated_at", "settings"},
        set(),
    )
    model_path = conv["model_path"]
    raw_messages = top["messages"]
    if not isinstance(raw_messages, list):
        raise ChatImportError("wrong_type", "messages", "expected a list")
    if len(raw_messages) > MAX_MESSAGES:
        raise ChatImportError("too_large", "messages", f"{len(raw_messages)} > {MAX_MESSAGES}")
    messages = []
    for index, raw in enumerate(raw_messages):
        where = f"messages[{index}]"
        item = _fields(raw, where, {"role", "content", "state", "created_at", "stats"}, set())
        role = _text(item["role"], f"{where}.role", 32)
        if role not in ROLES:
            raise ChatImportError("bad_value", f"{where}.role", "unknown role")
        state = _text(item["state"], f"{where}.state", 32)
        if state not in STATES:
            raise ChatImportError("bad_value", f"{where}.state", "unknown state")
        messages.append(
            _ImportedMessage(
                role=role,
                content=_text(item["content"], f"{where}.content", MAX_TEXT_CHARS),
                state=state,
                created_at=_timestamp(item["created_at"], f"{where}.created_at"),
                stats=_json_object(item["stats"], f"{where}.stats"),
            )
        )
    _timestamp(conv["updated_at"], "conversation.updated_at")  # checked, then replaced by now
    return _ImportedConversation(
        title=_text(conv["title"], "conversation.title", MAX_TITLE_CHARS),
        system_prompt=_text(conv["system_prompt"], "conversation.system_prompt", MAX_TEXT_CHARS),
        model_path=(
            None
            if model_path is None
            else _text(model_path, "conversation.model_path", MAX_PATH_CHARS)
        ),
        created_at=_timestamp(conv["created_at"], "conversation.created_at"),
        settings=_json_object(conv["settings"], "conversation.settings"),
        messages=messages,
    )
