"""`quantdesk list` and `quantdesk rm` as a user runs them, over a fake home with every app."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def machine(tmp_path: Path, app_home: Path, tiny_models: dict[str, Path]) -> dict[str, Path]:
    """QuantDesk's models plus LM Studio, GPT4All, Ollama and HF-cache stores in a fake home."""
    home = tmp_path / "home"
    own = app_home / "models"
    paths = {"home": home, "hub": tmp_path / "hub", "own": own}

    def put(dest: Path, src: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        return dest

    paths["own_q8"] = put(own / "bartowski" / "Tiny-GGUF" / "tiny-Q8_0.gguf", tiny_models["Q8_0"])
    paths["own_q4"] = put(
        own / "bartowski" / "Tiny-GGUF" / "tiny-Q4_K_M.gguf", tiny_models["Q4_K_M"]
    )
    broken = own / "imported" / "broken-Q4_K_M.gguf"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"PK\x03\x04 not a model")
    paths["broken"] = broken
    paths["lms"] = put(
        home / ".lmstudio" / "models" / "lmstudio-community" / "Tiny-GGUF" / "tiny-Q2_K.gguf",
        tiny_models["Q2_K"],
    )
    gpt4all = home / ".local" / "share" / "nomic.ai" / "GPT4All"
    paths["gpt4all"] = put(gpt4all / "tiny-F16.gguf", tiny_models["F16"])
    (gpt4all / "incomplete-tiny-F32.gguf").write_bytes(b"GGUF")

    ollama = home / ".ollama" / "models"
    data = tiny_models["Q4_K_M"].read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    put(ollama / "blobs" / f"sha256-{digest}", tiny_models["Q4_K_M"])
    for model, layer_digest in (
        ("tiny", f"sha256:{digest}"),
        ("evil", "sha256:../../../etc/passwd"),
    ):
        manifest = ollama / "manifests" / "registry.ollama.ai" / "library" / model / "latest"
        manifest.parent.mkdir(parents=True)
        layer = {"mediaType": "application/vnd.ollama.image.model", "digest": layer_digest}
        manifest.write_text(json.dumps({"schemaVersion": 2, "layers": [layer]}))

    repo = paths["hub"] / "models--org--Tiny-GGUF"
    blob = put(
        repo / "blobs" / hashlib.sha256(tiny_models["F32"].read_bytes()).hexdigest(),
        tiny_models["F32"],
    )
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "tiny-F32.gguf").symlink_to(os.path.relpath(blob, snapshot))
    return paths


def run_cli(
    machine: dict[str, Path], app_home: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    home = machine["home"]
    env = dict(
        os.environ,
        QUANTDESK_HOME=str(app_home),
        HOME=str(home),
        HF_HUB_CACHE=str(machine["hub"]),
        OLLAMA_MODELS=str(home / ".ollama" / "models"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
    )
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("quantdesk: ") and "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0]


def test_list_json_shows_every_source(machine: dict[str, Path], app_home: Path) -> None:
    proc = run_cli(machine, app_home, "list", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    models = data["models"]
    by_path = {m["path"]: m for m in models}
    assert {m["source"] for m in models} == {
        "quantdesk",
        "lmstudio",
        "gpt4all",
        "ollama",
        "hf_cache",
    }

    own_q8 = by_path[str(machine["own_q8"])]
    own_q4 = by_path[str(machine["own_q4"])]
    assert own_q8["family_key"] == own_q4["family_key"]  # one repo, one model: one family
    assert (own_q8["quant"], own_q4["quant"]) == ("Q8_0", "Q4_K_M")
    assert own_q8["own"] and own_q8["broken_reason"] is None and own_q8["size"] > 0
    assert own_q8["repo"] == "bartowski/Tiny-GGUF"

    broken = by_path[str(machine["broken"])]
    assert broken["broken_reason"] == "bad_magic"

    ollama = next(m for m in models if m["source"] == "ollama")
    assert ollama["locations"][0]["name"] == "tiny:latest"
    hf = next(m for m in models if m["source"] == "hf_cache")
    assert hf["locations"][0]["name"] == "org/Tiny-GGUF/tiny-F32.gguf"
    assert not any("incomplete" in m["path"] for m in models)
    assert [p["code"] for p in data["problems"]] == ["bad_digest"]


def test_list_text(machine: dict[str, Path], app_home: Path) -> None:
    proc = run_cli(machine, app_home, "list")
    assert proc.returncode == 0, proc.stderr
    assert "quantdesk-test" in proc.stdout
    broken_line = next(line for line in proc.stdout.splitlines() if "broken-Q4_K_M" in line)
    assert "broken: this is not a GGUF file" in broken_line
    assert "skipped" in proc.stdout and "invalid digest" in proc.stdout


def test_list_extra_folder_and_empty(tmp_path: Path, app_home: Path, tiny_gguf: Path) -> None:
    empty = {"home": tmp_path / "nobody", "hub": tmp_path / "no-hub"}
    proc = run_cli(empty, app_home, "list")
    assert proc.returncode == 0 and "No models found." in proc.stdout
    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copyfile(tiny_gguf, folder / "tiny-F16.gguf")
    proc = run_cli(empty, app_home, "list", "--json", "--folder", str(folder))
    (model,) = json.loads(proc.stdout)["models"]
    assert model["source"] == "folder" and not model["own"]


def test_list_and_rm_follow_the_models_folders_in_settings(
    tmp_path: Path, app_home: Path, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop_app.core.paths import AppPaths
    from desktop_app.core.settings import Settings, save_settings

    first, added = tmp_path / "first", tmp_path / "added"
    for folder in (first, added):
        folder.mkdir()
        shutil.copyfile(tiny_gguf, folder / f"{folder.name}-F16.gguf")
    monkeypatch.setenv("QUANTDESK_HOME", str(app_home))  # the settings the CLI will read
    save_settings(AppPaths.default().ensure(), Settings(models_folders=(str(first), str(added))))
    nobody = {"home": tmp_path / "nobody", "hub": tmp_path / "no-hub"}
    models = json.loads(run_cli(nobody, app_home, "list", "--json").stdout)["models"]
    found = {Path(m["path"]).name: m for m in models}
    # The first folder is QuantDesk's own (where it writes), the second one the user added.
    assert found["first-F16.gguf"]["own"] and found["first-F16.gguf"]["source"] == "quantdesk"
    assert not found["added-F16.gguf"]["own"] and found["added-F16.gguf"]["source"] == "folder"
    proc = run_cli(nobody, app_home, "rm", str(first / "first-F16.gguf"))
    assert proc.returncode == 0, proc.stderr
    assert not (first / "first-F16.gguf").exists()
    proc = run_cli(nobody, app_home, "rm", str(added / "added-F16.gguf"))
    assert_one_line_error(proc)
    assert (added / "added-F16.gguf").exists()


def test_rm_own_file(machine: dict[str, Path], app_home: Path) -> None:
    target = machine["own_q4"]
    proc = run_cli(machine, app_home, "rm", str(target))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("deleted ")
    assert not target.exists() and machine["own_q8"].exists()
    listed = json.loads(run_cli(machine, app_home, "list", "--json").stdout)["models"]
    assert str(target) not in [m["path"] for m in listed]


def test_rm_refuses_other_apps_files(machine: dict[str, Path], app_home: Path) -> None:
    for key in ("lms", "gpt4all"):
        proc = run_cli(machine, app_home, "rm", str(machine[key]))
        assert_one_line_error(proc, "not in QuantDesk's models folder")
        assert machine[key].exists()


def test_rm_missing_file(machine: dict[str, Path], app_home: Path) -> None:
    proc = run_cli(machine, app_home, "rm", str(machine["own"] / "nope" / "x.gguf"))
    assert_one_line_error(proc, "no such file")


def test_rm_of_a_model_imported_as_a_symbolic_link_removes_the_link_only(
    machine: dict[str, Path], app_home: Path
) -> None:
    from desktop_app.core.library.manage import import_model

    target = machine["lms"]
    link = import_model(target, machine["own"], "symlink", publisher="linked")
    sidecar = link.with_name(link.name + ".quantdesk.json")
    sidecar.write_text('{"format": "quantdesk.provenance", "version": 1}')
    before = target.read_bytes()
    proc = run_cli(machine, app_home, "rm", str(link))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"removed the link {link}; the file it points to was left alone")
    assert str(target) in proc.stdout
    assert not os.path.lexists(link) and not sidecar.exists()
    assert target.read_bytes() == before  # LM Studio's file is untouched
    listed = json.loads(run_cli(machine, app_home, "list", "--json").stdout)["models"]
    lms = [m for m in listed if m["path"] == str(target)]
    assert [loc["source"] for loc in lms[0]["locations"]] == ["lmstudio"]


def test_rm_removes_the_provenance_sidecar_and_nothing_else(
    machine: dict[str, Path], app_home: Path
) -> None:
    target = machine["own_q8"]
    folder = target.parent
    sidecar = folder / (target.name + ".quantdesk.json")
    sidecar.write_text('{"format": "quantdesk.provenance", "version": 1}\n')
    notes = folder / (target.name + ".notes.txt")  # the user's own file beside it
    notes.write_text("my notes")
    proc = run_cli(machine, app_home, "rm", str(target))
    assert proc.returncode == 0, proc.stderr
    assert not target.exists() and not sidecar.exists()
    assert notes.read_text() == "my notes" and machine["own_q4"].exists()
    assert proc.stdout.startswith(f"deleted {target} (")
