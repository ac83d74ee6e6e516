"""Sentences for settings, the Hugging Face token and the single-instance lock."""

from __future__ import annotations

from desktop_app.core.hf_token import TokenError
from desktop_app.core.settings import LoadProblem, SettingsLoad

_LOAD_PROBLEMS = {
    LoadProblem.UNREADABLE: "the settings file could not be read",
    LoadProblem.CORRUPT: "the settings file was damaged",
    LoadProblem.BAD_VERSION: "the settings file was not in a format QuantDesk knows",
    LoadProblem.NEWER_VERSION: "the settings file was written by a newer QuantDesk",
}

_FIELD_NAMES = {
    "models_folders": "models folders",
    "default_context": "default context length",
    "default_kv_type": "default KV cache type",
    "map_model_files": "map model files",
    "threads": "threads",
    "offline": "offline mode",
    "theme": "theme",
    "first_run_done": "welcome shown",
}

_TOKEN_PROBLEMS = {
    "empty": "paste a token first",
    "bad_characters": "that does not look like an access token (letters and digits, no spaces)",
    "too_long": "that is too long to be an access token",
    "from_environment": ("the token comes from the HF_TOKEN environment variable; change it there"),
}


def describe_settings_load(loaded: SettingsLoad | None) -> str:
    """A notice for what happened when the settings were read; "" when all was well."""
    if loaded is None:
        return ""
    if loaded.problem is not None:
        text = f"Settings were reset to their defaults: {_LOAD_PROBLEMS[loaded.problem]}."
        if loaded.set_aside is not None:
            text += f" The old file was kept as {loaded.set_aside}."
        return text
    if loaded.reset_fields:
        names = ", ".join(_FIELD_NAMES.get(f, f) for f in loaded.reset_fields)
        return f"Some settings had values QuantDesk cannot use and were reset: {names}."
    return ""


def describe_token_error(exc: BaseException) -> str:
    if isinstance(exc, TokenError):
        return _TOKEN_PROBLEMS.get(exc.code, exc.code)
    return f"the token could not be saved ({exc})"
