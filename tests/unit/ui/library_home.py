"""A fake home for Library page tests: LM Studio, Ollama and QuantDesk's own folder with real
GGUF files, and a sources factory that reads it instead of the real home (the suite redirects
QuantDesk's folders, not HOME)."""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from desktop_app.core.library.sources import ModelSource, default_sources

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from library_fakes import ollama_model  # noqa: E402


@dataclass
class FakeHome:
    home: Path
    threads: list[int] = field(default_factory=list)  # thread of each sources() call

    @property
    def lmstudio(self) -> Path:
        return self.home / ".lmstudio" / "models"

    def sources(self, own: Sequence[Path], folders: Sequence[Path]) -> Sequence[ModelSource]:
        self.threads.append(threading.get_ident())
        return default_sources(
            own,
            home=self.home,
            env={
                "OLLAMA_MODELS": str(self.home / ".ollama" / "models"),
                "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            },
            system="Linux",
            hf_cache_dir=self.home / ".cache" / "huggingface" / "hub",
            folders=folders,
        )


def copy(src: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return dest


def populate(home: Path, models_root: Path, tiny: dict[str, Path]) -> dict[str, Path]:
    """LM Studio: one repo with F16, Q4_K_M and a truncated Q2_K; Ollama: one tag;
    QuantDesk's folder: a Q8_0. Returns the paths by short name."""
    repo = home / ".lmstudio" / "models" / "lmstudio-community" / "tiny-GGUF"
    out = {
        "lms_f16": copy(tiny["F16"], repo / "tiny-F16.gguf"),
        "lms_q4": copy(tiny["Q4_K_M"], repo / "tiny-Q4_K_M.gguf"),
        "own_q8": copy(tiny["Q8_0"], models_root / "quantdesk" / "tiny-GGUF" / "tiny-Q8_0.gguf"),
    }
    broken = repo / "tiny-Q2_K.gguf"
    broken.write_bytes(tiny["Q2_K"].read_bytes()[:4096])  # an interrupted download
    out["lms_broken"] = broken
    ollama_root = home / ".ollama" / "models"
    ollama_model(ollama_root, "tiny", "q4_K_M", tiny["Q4_K_M"])
    out["ollama_q4"] = next((ollama_root / "blobs").iterdir())
    return out
