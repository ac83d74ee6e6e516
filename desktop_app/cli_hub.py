"""The ``quantdesk search``, ``files`` and ``download`` commands (registered in ``cli.py``).

Errors propagate to ``cli.main``, which prints one line on stderr and exits 1. Core modules are
imported inside the commands so ``--help`` stays fast. Hub text is printed as plain text.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.cli_common import add_command, positive_int, print_json
from desktop_app.formatting import human_bytes, human_count

if TYPE_CHECKING:
    from desktop_app.core.hub.downloads import DownloadStatus
    from desktop_app.core.hub.listing import RepoListing
    from desktop_app.core.hub.remote_fit import VariantFit

_SORTS = {
    "downloads": "downloads",
    "likes": "likes",
    "updated": "last_modified",
    "created": "created_at",
    "trending": "trending_score",
}
_VERDICT_WORDS = {"fits": "fits", "tight": "tight", "does_not_fit": "does not fit"}


def add_hub_commands(sub: Any) -> None:
    p = add_command(sub, "search", cmd_search, "search GGUF models on the Hugging Face hub")
    p.add_argument("text", nargs="?", default="")
    p.add_argument("--author", default=None, help="only this publisher's repos")
    p.add_argument("--sort", choices=list(_SORTS), default="downloads")
    p.add_argument("--limit", type=positive_int, default=30)
    p.add_argument("--offline", action="store_true", help="no network: cache and catalog only")
    p.add_argument("--json", action="store_true")

    p = add_command(sub, "files", cmd_files, "a repo's GGUF files: quant, size, fit verdict")
    p.add_argument("repo")
    p.add_argument("--ctx", type=positive_int, default=4096, help="context length in tokens")
    p.add_argument("--kv-type", choices=["f16", "q8_0", "q4_0"], default="f16")
    p.add_argument("--offline", action="store_true", help="no network: cached listing only")
    p.add_argument("--json", action="store_true")

    p = add_command(sub, "download", cmd_download, "download a GGUF file (verified, resumable)")
    p.add_argument("repo")
    p.add_argument("file", help="a file name in the repo, or a quant label such as Q4_K_M")
    p.add_argument("--dir", default=None, help="models folder (default: QuantDesk's own)")


# --- search --------------------------------------------------------------------------------


def cmd_search(args: argparse.Namespace) -> int:
    from desktop_app.core.hub.catalog import filter_catalog, load_catalog
    from desktop_app.core.hub.client import HubClient
    from desktop_app.core.hub.errors import HubError
    from desktop_app.core.hub.session import HubConfig

    client = HubClient(HubConfig.from_env(offline=args.offline))
    try:
        results = client.search(
            args.text,
            author=args.author,
            sort=_SORTS[args.sort],
            limit=args.limit,  # type: ignore[arg-type]
        )
    except HubError as exc:
        if exc.code != "offline":
            raise
        catalog = filter_catalog(load_catalog(), args.text)
        if args.author:
            catalog = tuple(e for e in catalog if e.publisher == args.author)
        return _print_catalog(catalog, args.json)
    if args.json:
        from desktop_app.core.hub.client import summaries_json

        print_json(
            {
                "query": results.query,
                "source": "cache" if results.from_cache else "hub",
                "offline": results.offline,
                "fetched_at": results.fetched_at,
                "models": summaries_json(results.models),
            }
        )
        return 0
    if results.offline or results.from_cache:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(results.fetched_at))
        why = "offline" if results.offline else "hub unreachable"
        print(f"({why}: results cached on {when})")
    if not results.models:
        print("No GGUF models found.")
        return 0
    rows = [
        (
            m.repo_id,
            human_count(m.downloads) if m.downloads is not None else "-",
            str(m.likes) if m.likes is not None else "-",
            (m.last_modified or "-")[:10],
            human_count(m.parameters) if m.parameters else "-",
        )
        for m in results.models
    ]
    _table(("REPO", "DOWNLOADS", "LIKES", "UPDATED", "PARAMS"), rows)
    return 0


def _print_catalog(catalog: tuple[Any, ...], as_json: bool) -> int:
    if as_json:
        print_json(
            {
                "source": "catalog",
                "offline": True,
                "models": [
                    {
                        "repo_id": e.repo_id,
                        "family": e.family,
                        "params": e.params,
                        "license": e.license,
                    }
                    for e in catalog
                ],
            }
        )
        return 0
    print("(offline and not cached: the curated catalog)")
    rows = [(e.repo_id, e.family, e.params or "-", e.license or "-") for e in catalog]
    if rows:
        _table(("REPO", "FAMILY", "PARAMS", "LICENSE"), rows)
    else:
        print("No catalog entry matches.")
    return 0


def _table(
    header: tuple[str, ...], rows: list[tuple[str, ...]], *, last_left: bool = False
) -> None:
    """Columns padded to width: the first (a name) left-aligned, numbers right-aligned, and
    the last one left-aligned too when ``last_left``."""
    last = len(header) - 1
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [
            f"{c!s:<{w}}" if i == 0 or (i == last and last_left) else f"{c!s:>{w}}"
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


# --- files ---------------------------------------------------------------------------------


def cmd_files(args: argparse.Namespace) -> int:
    from desktop_app.core.fit import LoadPlan
    from desktop_app.core.gguf_file import GGUFError
    from desktop_app.core.hardware import read_machine_info
    from desktop_app.core.hub.client import HubClient
    from desktop_app.core.hub.errors import HubError
    from desktop_app.core.hub.remote_fit import fit_variants, header_source, recommended
    from desktop_app.core.hub.session import HubConfig
    from desktop_app.core.paths import AppPaths
    from desktop_app.messages import describe_error

    client = HubClient(HubConfig.from_env(offline=args.offline))
    listing = client.listing(args.repo)
    source = header_source(listing)
    facts = None
    if source is not None:
        try:
            facts = client.remote_facts(args.repo, source.path, revision=listing.revision or "main")
        except (HubError, GGUFError) as exc:
            print(
                f"quantdesk: note: header not read ({describe_error(exc)}); "
                "the estimate counts the weights only",
                file=sys.stderr,
            )
    machine = read_machine_info(AppPaths.default().models, ask_backend=False)
    plan = LoadPlan(n_ctx=args.ctx, kv_type=args.kv_type)
    fits = fit_variants(
        listing.variants, facts, plan, machine.available_ram, cpu_features=machine.cpu_features
    )
    best = recommended(fits)
    if args.json:
        print_json(_files_json(listing, fits, best.key if best else None, plan, facts))
        return 0
    _print_files(listing, fits, best.key if best else None, plan, facts is not None, machine)
    return 0


def _files_json(
    listing: RepoListing, fits: tuple[VariantFit, ...], best: str | None, plan: Any, facts: Any
) -> dict[str, Any]:
    return {
        "repo": listing.repo_id,
        "revision": listing.revision,
        "source": "cache" if listing.from_cache else "hub",
        "offline": listing.offline,
        "n_ctx": plan.n_ctx,
        "kv_type": plan.kv_type,
        "header_from": facts.filename if facts is not None else None,
        "kv_included": facts is not None,
        "recommended": best,
        "files": [
            {
                "quant": f.variant.label,
                "bits_per_weight": f.variant.bits_per_weight,
                "note": f.variant.note,
                "size": f.variant.size,
                "shards": f.variant.shard_count,
                "complete": f.variant.complete,
                "imatrix": f.variant.imatrix,
                "file": f.variant.key,
                "files": [
                    {"path": x.path, "size": x.size, "sha256": x.sha256} for x in f.variant.files
                ],
                "verdict": f.verdict.value if f.verdict is not None else None,
                "memory": f.estimate.to_json() if f.estimate is not None else None,
                "recommended": f.variant.key == best,
            }
            for f in fits
        ],
        "extras": [
            {"kind": e.kind, "path": e.file.path, "size": e.file.size} for e in listing.extras
        ],
        "rejected": [{"name": r.shown, "reason": r.reason} for r in listing.rejected],
        "card": {
            "summary": listing.card.summary,
            "license": listing.card.license,
            "base_models": list(listing.card.base_models),
        },
    }


def _print_files(
    listing: RepoListing,
    fits: tuple[VariantFit, ...],
    best: str | None,
    plan: Any,
    kv_included: bool,
    machine: Any,
) -> None:
    print(f"{listing.repo_id}  (revision {(listing.revision or 'main')[:12]})")
    if listing.offline or listing.from_cache:
        print("(offline: cached listing)" if listing.offline else "(hub unreachable: cached)")
    if listing.card.license:
        print(f"License: {listing.card.license}")
    if listing.card.summary:
        print(listing.card.summary)
    what = "weights, KV cache and runtime" if kv_included else "weights only (header not read)"
    print(
        f"Memory at context {plan.n_ctx} ({what}); "
        f"{human_bytes(machine.available_ram)} available now"
    )
    rows = []
    for f in fits:
        v = f.variant
        name = v.key + (f" (+{v.shard_count - 1} parts)" if v.shard_count > 1 else "")
        if not v.complete:
            name += " [incomplete]"
        rows.append(
            (
                ("* " if v.key == best else "  ") + v.label,
                f"{v.bits_per_weight:.2f}" if v.bits_per_weight else "-",
                human_bytes(v.size) if v.size is not None else "-",
                human_bytes(f.estimate.total) if f.estimate is not None else "-",
                _VERDICT_WORDS.get(f.verdict.value, "-") if f.verdict is not None else "-",
                name,
            )
        )
    if rows:
        _table(("QUANT", "BPW", "SIZE", "MEMORY", "VERDICT", "FILE"), rows, last_left=True)
        if best:
            print("* recommended: the highest quality that fits comfortably")
    else:
        print("No GGUF model files in this repo.")
    for extra in listing.extras:
        size = human_bytes(extra.file.size) if extra.file.size is not None else "-"
        print(f"extra ({extra.kind}): {extra.file.path} {size}")
    for refused in listing.rejected:
        print(f"refused unsafe file name: {refused.shown}")


# --- download ------------------------------------------------------------------------------


class _Progress:
    """Progress on the terminal: one rewritten line on a TTY, a line a second otherwise."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.lock = threading.Lock()
        self.last: dict[int, float] = {}
        self.states: dict[int, str] = {}

    def __call__(self, status: DownloadStatus) -> None:
        with self.lock:
            now = time.monotonic()
            changed = self.states.get(status.task_id) != status.state.value
            self.states[status.task_id] = status.state.value
            if not changed and now - self.last.get(status.task_id, 0.0) < (
                0.2 if self.tty else 1.0
            ):
                return
            self.last[status.task_id] = now
            line = _progress_line(status)
            if self.tty:
                self.stream.write("\r\x1b[2K" + line)
                if status.state.is_settled:
                    self.stream.write("\n")
            else:
                self.stream.write(line + "\n")
            self.stream.flush()


def _progress_line(s: DownloadStatus) -> str:
    name = s.filename
    if s.state.value == "downloading":
        pct = 100.0 * s.done / s.total if s.total else 100.0
        eta = f", {int(s.eta)}s left" if s.eta is not None else ""
        return (
            f"{name}: {human_bytes(s.done)} / {human_bytes(s.total)} ({pct:.0f}%), "
            f"{human_bytes(s.speed)}/s{eta}"
        )
    if s.state.value == "checking":
        return f"{name}: checking the {human_bytes(s.done)} already downloaded"
    if s.state.value == "verifying":
        return f"{name}: verifying sha256"
    return f"{name}: {s.state.value}"


def cmd_download(args: argparse.Namespace) -> int:
    from desktop_app.core.hub.client import HubClient
    from desktop_app.core.hub.downloads import DownloadManager, DownloadRequest, DownloadState
    from desktop_app.core.hub.errors import HubError
    from desktop_app.core.hub.names import validate_file_name, validate_repo_id
    from desktop_app.core.paths import AppPaths
    from desktop_app.core.quant_types import file_type_by_label

    validate_repo_id(args.repo)
    if file_type_by_label(args.file) is None:
        validate_file_name(args.file, require_gguf=False)
    listing = HubClient().listing(args.repo, with_card=False)
    variant = listing.variant(args.file)
    files = list(variant.files) if variant is not None else []
    if not files and (extra := listing.file(args.file)) is not None:
        files = [extra]
    if not files:
        raise HubError("not_in_repo", f"{args.file} in {args.repo}")
    models = Path(args.dir) if args.dir else AppPaths.default().models
    revision = listing.revision or "main"
    manager = DownloadManager(models)
    manager.add_listener(_Progress(sys.stdout))  # stderr is kept for the one error line
    try:
        ids = []
        for f in files:
            if f.size is None:
                raise HubError("bad_response", f"the hub lists no size for {f.path}")
            ids.append(manager.add(DownloadRequest(args.repo, f.path, f.size, f.sha256, revision)))
        finals = [manager.wait(i) for i in ids]
    finally:
        manager.close()
    failed = [s for s in finals if s.state is not DownloadState.DONE]
    if failed:
        error = failed[0].error
        raise error if error is not None else HubError("io_error", failed[0].state.value)
    for s in finals:
        note = "already there" if s.already_present else "sha256 verified"
        resumed = (
            f", resumed at {human_bytes(s.resumed_from)}"
            if s.resumed_from and not s.already_present
            else ""
        )
        print(f"{s.dest}  ({human_bytes(s.total)}, {note}{resumed})")
    return 0
