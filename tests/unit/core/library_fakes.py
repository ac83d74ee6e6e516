"""Fake model stores for the library tests, in the layouts the real apps write.

``write_gguf`` makes a tiny but valid GGUF with chosen metadata (a header and one small tensor),
so names, quant types and split keys can be set freely without running the quantizer.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import gguf
import numpy as np

# llama_ftype ids (general.file_type).
FTYPE = {"F16": 1, "Q8_0": 7, "Q6_K": 18, "Q5_K_M": 17, "Q4_K_M": 15, "Q3_K_M": 12, "Q2_K": 10}


def write_gguf(
    path: Path,
    *,
    basename: str | None = "Qwen2.5",
    name: str | None = None,
    size_label: str | None = "7B",
    quant: str | None = "Q4_K_M",
    architecture: str = "llama",
    split: tuple[int, int] | None = None,
    n_elements: int = 64,
) -> Path:
    """A valid GGUF at ``path``; ``split`` = (part, parts) writes gguf-split's keys, and for
    parts after the first only those, as llama.cpp's gguf-split does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(path, architecture)
    first = split is None or split[0] == 1
    if first:
        if name is not None:
            writer.add_name(name)
        if basename is not None:
            writer.add_basename(basename)
        if size_label is not None:
            writer.add_size_label(size_label)
        if quant is not None:
            writer.add_file_type(FTYPE[quant])
    if split is not None:
        writer.add_uint16("split.no", split[0] - 1)
        writer.add_uint16("split.count", split[1])
        writer.add_int32("split.tensors.count", split[1])
    writer.add_tensor(f"blk.{(split or (1, 1))[0]}.weight", np.ones(n_elements, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def lmstudio_model(home: Path, publisher: str, repo: str, file: str, **meta: object) -> Path:
    return write_gguf(home / ".lmstudio" / "models" / publisher / repo / file, **meta)  # type: ignore[arg-type]


def hf_cache_repo(
    cache: Path,
    repo_id: str,
    files: dict[str, Path],
    *,
    commit: str = "0123456789abcdef0123456789abcdef01234567",
    ref: str = "main",
) -> dict[str, Path]:
    """huggingface_hub's layout: blobs named by sha256, refs/<ref> = commit, snapshot symlinks
    ``snapshots/<commit>/<file>`` -> ``../../blobs/<sha256>``. Returns file -> snapshot path."""
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / ref).write_text(commit)
    snapshot = repo_dir / "snapshots" / commit
    out = {}
    for rel, src in files.items():
        data = src.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        blob = repo_dir / "blobs" / digest
        if not blob.exists():
            blob.write_bytes(data)
        link = snapshot / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
        out[rel] = link
    return out


def ollama_model(
    root: Path,
    model: str,
    tag: str,
    src: Path | None,
    *,
    host: str = "registry.ollama.ai",
    namespace: str = "library",
    digest: str | None = None,
) -> Path:
    """A manifest (and its blob, copied from ``src``) as ``ollama pull`` leaves them."""
    if digest is None:
        assert src is not None
        data = src.read_bytes()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blob = root / "blobs" / digest.replace(":", "-")
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
    config = {
        "mediaType": "application/vnd.docker.container.image.v1+json",
        "digest": "sha256:" + "c" * 64,
        "size": 485,
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": config,
        "layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": digest, "size": 1},
            {
                "mediaType": "application/vnd.ollama.image.template",
                "digest": "sha256:" + "d" * 64,
                "size": 1,
            },
        ],
    }
    path = root / "manifests" / host / namespace / model / tag
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest))
    return path
