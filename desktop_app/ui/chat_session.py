"""The open conversation: an in-memory mirror for the GUI, persisted through the chat store.

Every store call runs on the single-thread ``db`` pool, in submission order, so a later call
can rely on ids an earlier call wrote into the shared ``_Entry``/``_Ids`` objects (those are only
read and written on the db thread, except for ``role``/``content`` which the GUI owns).

Signals:
    conversation_loaded(list): the messages of the conversation now shown (GUI thread).
    conversations_changed(list): the conversation list, newest first (GUI thread).
    failed(str): something to tell the user (GUI thread).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop_app.core.atomic import atomic_write_bytes
from desktop_app.core.chat_store import ChatStore, Conversation, Message
from desktop_app.core.recent_files import RecentFiles
from desktop_app.messages import describe_error
from desktop_app.ui.services import Services
from desktop_app.ui.tasks import Op

TITLE_LENGTH = 48


@dataclass
class _Entry:
    role: str
    content: str
    id: int | None = None  # set on the db thread once stored


@dataclass
class _Ids:
    conversation: int | None = None
    reply: int | None = None
    entries: list[_Entry] = field(default_factory=list)
    # "Edit last": the user message being rewritten; the next send replaces its text.
    editing: _Entry | None = None


class ChatSession(QObject):
    conversation_loaded = Signal(list)
    conversations_changed = Signal(list)
    failed = Signal(str)

    def __init__(self, services: Services, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._store: ChatStore | None = None
        self._ids = _Ids()
        self.conversation: Conversation | None = None
        self._recent = RecentFiles(services.paths.config / "recent-models.json")
        self._recent_cache = self._recent.load()

    # --- plumbing ---------------------------------------------------------------------------

    def _db(
        self,
        fn: Callable[[ChatStore], Any],
        on_done: Callable[[Any], None] | None = None,
    ) -> None:
        def run() -> Any:
            if self._store is None:
                return None
            return fn(self._store)

        op = (
            Op(run)
            .failure(
                lambda exc: self.failed.emit(
                    f"Chat history could not be saved or read: {describe_error(exc)}"
                )
            )
            .owned_by(self)
        )
        if on_done is not None:
            op = op.success(on_done)
        op.run_in(self._services.pools.db)

    def open_store(self) -> None:
        path = self._services.paths.data / "chat_history.sqlite3"

        def open_it() -> ChatStore:
            store = ChatStore.open(path)
            self._store = store  # set on the db thread: later db calls queue behind this one
            return store

        (
            Op(open_it)
            .success(self._on_store_opened)
            .failure(
                lambda exc: self.failed.emit(
                    f"Chat history is unavailable: {describe_error(exc)}. Chats will not be saved."
                )
            )
            .owned_by(self)
            .run_in(self._services.pools.db)
        )

    def _on_store_opened(self, store: ChatStore) -> None:
        if store.recovered_from is not None:
            self.failed.emit(
                "The chat history database was damaged. It was set aside as "
                f"{store.recovered_from} and a new one was started."
            )
        self.refresh_list()

    def close(self) -> None:
        def close_it(store: ChatStore) -> None:
            store.close()
            self._store = None

        self._db(close_it)

    # --- conversations ----------------------------------------------------------------------

    def refresh_list(self, query: str = "") -> None:
        if query.strip():
            self._db(lambda s: [hit.conversation for hit in s.search(query)], self._emit_list)
        else:
            self._db(lambda s: s.list_conversations(), self._emit_list)

    def _emit_list(self, rows: list[Conversation] | None) -> None:
        self.conversations_changed.emit(rows or [])

    def new_conversation(self) -> None:
        self._ids = _Ids()
        self.conversation = None
        self.conversation_loaded.emit([])

    def select_conversation(self, conversation_id: int) -> None:
        ids = _Ids(conversation=conversation_id)
        self._ids = ids

        def load(store: ChatStore) -> tuple[Conversation, list[Message]]:
            return store.get_conversation(conversation_id), store.messages(conversation_id)

        def show(result: tuple[Conversation, list[Message]] | None) -> None:
            if result is None or self._ids is not ids:
                return
            # Set here, on the GUI thread, together: history and conversation never disagree.
            ids.entries = [_Entry(m.role, m.content, m.id) for m in result[1]]
            self.conversation = result[0]
            self.conversation_loaded.emit(result[1])

        self._db(load, show)

    def rename(self, conversation_id: int, title: str) -> None:
        self._db(
            lambda s: s.rename_conversation(conversation_id, title), lambda _r: self.refresh_list()
        )

    def delete(self, conversation_id: int) -> None:
        if self._ids.conversation == conversation_id:
            self.new_conversation()
        self._db(lambda s: s.delete_conversation(conversation_id), lambda _r: self.refresh_list())

    def export(self, conversation_id: int, target: Path, fmt: str) -> None:
        def write(store: ChatStore) -> None:
            import json

            if fmt == "json":
                text = json.dumps(store.export_json(conversation_id), ensure_ascii=False, indent=1)
            else:
                text = store.export_markdown(conversation_id)
            atomic_write_bytes(target, text.encode("utf-8", errors="surrogatepass"))

        self._db(write)

    def import_file(self, source: Path) -> None:
        def read(store: ChatStore) -> Conversation:
            import json

            data = json.loads(source.read_text(encoding="utf-8", errors="surrogatepass"))
            return store.import_json(data)

        self._db(
            read,
            lambda conv: (
                conv is not None and (self.refresh_list(), self.select_conversation(conv.id))
            ),
        )

    def import_data(self, data: dict[str, Any]) -> None:
        """A conversation in export format (e.g. carried over from Compare), opened as new."""
        self._db(
            lambda s: s.import_json(data),
            lambda conv: (
                conv is not None and (self.refresh_list(), self.select_conversation(conv.id))
            ),
        )

    def set_system_prompt(self, text: str) -> None:
        ids = self._ids
        self._db(
            lambda s: ids.conversation is not None and s.set_system_prompt(ids.conversation, text)
        )

    # --- messages ---------------------------------------------------------------------------

    def history(self) -> list[_Entry]:
        return list(self._ids.entries)

    def add_user_message(self, text: str, model_path: str = "") -> None:
        ids = self._ids
        editing, ids.editing = ids.editing, None
        entry = _Entry("user", text)
        ids.entries.append(entry)
        title = " ".join(text.split())[:TITLE_LENGTH] or "New chat"
        created = ids.conversation is None

        def store_it(store: ChatStore) -> None:
            if editing is not None and editing.id is not None:
                # Edit and resend: the old message keeps its place, later ones are gone.
                store.edit_message(editing.id, text, drop_later=True)
                entry.id = editing.id
                return
            if ids.conversation is None:
                conv = store.create_conversation(title, model_path=model_path or None)
                ids.conversation = conv.id
            entry.id = store.add_message(ids.conversation, "user", text).id

        self._db(store_it, lambda _r: created and self._after_create(ids))

    def _after_create(self, ids: _Ids) -> None:
        if self._ids is ids and ids.conversation is not None:
            self._db(
                lambda s: s.get_conversation(ids.conversation),
                lambda conv: setattr(self, "conversation", conv),
            )
            self.refresh_list()

    def begin_reply(self) -> None:
        ids = self._ids

        def begin(store: ChatStore) -> None:
            if ids.conversation is not None:
                ids.reply = store.begin_reply(ids.conversation)

        self._db(begin)

    def save_partial_reply(self, text: str) -> None:
        ids = self._ids
        self._db(lambda s: ids.reply is not None and s.append_reply(ids.reply, text))

    def finish_reply(self, text: str, state: str, stats: dict[str, Any]) -> None:
        ids = self._ids
        entry = _Entry("assistant", text)
        ids.entries.append(entry)

        def finish(store: ChatStore) -> None:
            if ids.reply is not None:
                store.finish_reply(ids.reply, text, state=state, stats=stats)
                entry.id, ids.reply = ids.reply, None

        self._db(finish)

    def drop_last_reply(self) -> bool:
        """Regenerate: forget the last assistant message (here and on disk)."""
        ids = self._ids
        if not ids.entries or ids.entries[-1].role != "assistant":
            return False
        ids.entries.pop()
        keep = ids.entries[-1] if ids.entries else None
        self._db(lambda s: keep is not None and keep.id is not None and s.truncate_after(keep.id))
        return True

    def drop_from_last_user_message(self) -> str | None:
        """Edit and resend: remove the last user message and what follows; return its text."""
        ids = self._ids
        index = max((i for i, e in enumerate(ids.entries) if e.role == "user"), default=-1)
        if index < 0:
            return None
        removed = ids.entries[index]
        del ids.entries[index:]
        ids.editing = removed
        # The replies to it go now; its own text is replaced when the edit is sent.
        self._db(lambda s: removed.id is not None and s.truncate_after(removed.id))
        return removed.content

    # --- recent models ----------------------------------------------------------------------

    def recent_models(self) -> list[str]:
        return list(self._recent_cache)

    def remember_model(self, path: str) -> list[str]:
        self._recent_cache = [path, *(p for p in self._recent_cache if p != path)][:10]
        recent = self._recent
        Op(recent.add, path).owned_by(self).run_in(self._services.pools.io)
        return list(self._recent_cache)
