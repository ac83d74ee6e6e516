"""The ``quantdesk list`` and ``quantdesk rm`` commands (``add_library_commands``, from ``cli.py``).

Kept apart from ``cli.py`` so the library's commands and their output format live in one
place. No Qt; core modules are imported inside the commands to keep ``--help`` fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.cli_common import add_command, print_json
from desktop_app.formatting import human_bytes
from desktop_app.messages import describe_broken_reason, describe_scan_problem

if TYPE_CHECKING:
    from desktop_app.core.library.entries import LibrarySnapshot
    from desktop_app.core.library.families import ModelFamily, Variant
    from desktop_app.core.paths import AppPaths


def add_library_commands(sub: Any) -> None:
    p = add_command(
        sub, "list", cmd_list, "every model on this machine: QuantDesk's and other apps'"
    )
    p.add_argument("--folder", action="append", help="also scan this folder (repeatable)")
    p.add_argument("--json", action="store_true")

    p = add_command(
        sub, "rm", cmd_rm, "delete a model file from QuantDesk's own models folder (Settings)"
    )
    p.add_argument("path")


def _variant_json(family: ModelFamily, variant: Variant) -> dict[str, Any]:
    locations = [loc for entry in variant.entries for loc in entry.paths]
    return {
        "family": family.name,
        "family_key": family.key,
        "repo": family.repo,
        "quant": variant.quant_label,
        "bits_per_weight": (
            round(variant.bits_per_weight, 4) if variant.bits_per_weight is not None else None
        ),
        "size": variant.size,
        "path": str(variant.path),
        "source": variant.entries[0].paths[0].source_kind,
        "own": variant.own,
        "broken_reason": variant.broken_reason,
        "shards": variant.shard_count,
        "missing_shards": list(variant.missing_shards),
        "locations": [
            {"source": loc.source_kind, "name": loc.display_name, "path": str(loc.path)}
            for loc in locations
        ],
    }


def _folders_in_effect(paths: AppPaths) -> tuple[Path, list[Path]]:
    """QuantDesk's own models folder and the folders the user added, as the app reads them
    from Settings (the first models folder is where QuantDesk writes, and the only one it
    deletes from)."""
    from desktop_app.core.settings import load_settings, models_folders

    folders = models_folders(load_settings(paths).settings, paths.models)
    return folders[0], list(folders[1:])


def _scan(folders: list[str]) -> LibrarySnapshot:
    from desktop_app.core.library.index import CACHE_FILE_NAME, LibraryIndex
    from desktop_app.core.library.sources import default_sources
    from desktop_app.core.paths import AppPaths

    paths = AppPaths.default()
    own, added = _folders_in_effect(paths)
    extra = [Path(f) for f in folders]
    sources = default_sources([own], folders=[*added, *(f for f in extra if f not in added)])
    return LibraryIndex(paths.cache / CACHE_FILE_NAME).scan(sources)


def cmd_list(args: argparse.Namespace) -> int:
    from desktop_app.core.library.families import group_families

    snapshot = _scan(args.folder or [])
    families = group_families(snapshot.entries)
    if args.json:
        data = {
            "models": [_variant_json(f, v) for f in families for v in f.variants],
            "problems": [
                {"code": p.code, "source": p.source_kind, "path": p.path, "detail": p.detail}
                for p in snapshot.problems
            ],
        }
        print_json(data)
        return 0
    rows = [
        (
            ",".join(dict.fromkeys(loc.source_kind for e in v.entries for loc in e.paths)),
            f.name,
            v.quant_label,
            human_bytes(v.size),
            str(v.path),
            v.broken_reason,
        )
        for f in families
        for v in f.variants
    ]
    if not rows:
        print("No models found.")
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(4)]
    for source, family, quant, size, path, broken in rows:
        line = (
            f"{source:<{widths[0]}}  {family:<{widths[1]}}  {quant:<{widths[2]}}  "
            f"{size:>{widths[3]}}  {path}"
        )
        if broken:
            line += f"  [broken: {describe_broken_reason(broken)}]"
        print(line)
    for problem in snapshot.problems:
        print(f"skipped {problem.path}: {describe_scan_problem(problem.code)}")
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    from desktop_app.core.library.manage import delete_model
    from desktop_app.core.paths import AppPaths

    own, _added = _folders_in_effect(AppPaths.default())
    result = delete_model(Path(args.path), [own])
    if result.links_only:
        targets = ", ".join(str(p) for p in result.kept)
        print(f"removed the link {args.path}; the file it points to was left alone: {targets}")
    else:
        print(f"deleted {args.path} ({human_bytes(result.freed)} freed)")
    return 0
