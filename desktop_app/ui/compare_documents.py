"""What Compare says and hands on, apart from the page: the run plan in plain words, a user's
text file read for scoring, and a comparison turned into a chat export document."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from desktop_app.core.compare.conversation import turns
from desktop_app.core.compare.results import RunMode, RunPlan
from desktop_app.core.engine.protocol import ChatMessage
from desktop_app.formatting import human_bytes

TEXT_FILE_LIMIT = 4 * 1024 * 1024  # a user text larger than this is refused (scoring is chunked)


def describe_plan(plan: RunPlan) -> str:
    """The run mode and why, in plain words."""
    n = len(plan.variants)
    together, available = human_bytes(plan.combined_bytes), human_bytes(plan.available_bytes)
    threads = f"{plan.threads} thread{'s' if plan.threads != 1 else ''}"
    if plan.mode == RunMode.PARALLEL:
        return (
            f"Side by side: all {n} files fit in memory at once ({together} together, "
            f"{available} available), so they run in parallel, {threads} each."
        )
    return (
        f"One after another: together they would need {together} but {available} is "
        f"available, so each is loaded, run and unloaded in turn ({threads})."
    )


def read_text_file(path: str) -> tuple[str, str]:
    p = Path(path)
    size = p.stat().st_size
    if size > TEXT_FILE_LIMIT:
        raise ValueError(
            f"{p.name} is {human_bytes(size)}; texts up to {human_bytes(TEXT_FILE_LIMIT)} "
            "can be scored"
        )
    return p.name, p.read_bytes().decode("utf-8", errors="replace")


def chat_document(model_path: str, messages: tuple[ChatMessage, ...]) -> dict[str, Any]:
    """The conversation as a chat export document (what ChatStore.import_json reads), so Chat
    opens it as a conversation of its own."""
    from desktop_app.core.chat_store import EXPORT_FORMAT, EXPORT_VERSION

    now = time.time()
    system = next((m.content for m in messages if m.role == "system"), "")
    first_user = next((m.content for m in messages if m.role == "user"), "")
    title = " ".join(first_user.split())[:60] or "From Compare"
    n_turns = len(turns(messages))
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "conversation": {
            "title": title,
            "system_prompt": system,
            "model_path": model_path,
            "created_at": now,
            "updated_at": now,
            "settings": {"from": "compare", "turns": n_turns},
        },
        "messages": [
            {
                "role": m.role,
                "content": m.content,
                "state": "complete",
                "created_at": now,
                "stats": {},
            }
            for m in messages
            if m.role != "system"
        ],
    }
