"""Which layers attend through a sliding window, as llama.cpp runs each architecture.

Gemma 2 and 3, Command R7B (cohere2), gpt-oss and some OLMo 2 models let most layers see only
the last ``window`` tokens. The engine loads them with llama.cpp's small sliding-window cache
(``swa_full`` off): those layers then keep ``window + n_ubatch`` cells (padded to 256) instead
of the whole context, which for Gemma 3 at 32k tokens is most of its KV cache. The fit estimate
must count the same cells, so this module mirrors llama.cpp's per-architecture rules
(``src/models/<arch>.cpp``, ``load_arch_hparams``; ``llama_hparams::set_swa_pattern``).

Architectures not listed here get no sliding window: their KV cache is counted in full, which
over-estimates when llama.cpp knows better, never under-estimates. Phi-3 files carry a window
that llama.cpp ignores, so it is not listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SWA_CACHE_PAD = 256  # llama.cpp always pads the sliding-window cache to 256 cells


@dataclass(frozen=True)
class SwaRule:
    pattern: int  # every ``pattern``-th layer sees everything, the others the window
    dense_first: bool = False  # the full layer opens each group instead of closing it
    default_window: int | None = None  # used when the file has no window key
    needs_window: bool = True  # without a window (> 0) in the file: no sliding at all


RULES: dict[str, SwaRule] = {
    "gemma2": SwaRule(2, default_window=4096, needs_window=False),
    "gemma3": SwaRule(6),
    "cohere2": SwaRule(4),
    "gpt-oss": SwaRule(2),
    "olmo2": SwaRule(4),
}


@dataclass(frozen=True)
class SlidingWindow:
    window: int  # tokens a windowed layer attends to
    layers: tuple[bool, ...]  # per layer: True = windowed

    @property
    def n_windowed(self) -> int:
        return sum(self.layers)

    def cache_cells(self, n_ctx_cells: int, n_ubatch: int) -> int:
        """Cells of a windowed layer's cache, for a context of ``n_ctx_cells`` (already padded)."""
        wanted = min(n_ctx_cells, self.window + n_ubatch)
        return -(-wanted // SWA_CACHE_PAD) * SWA_CACHE_PAD


def _pattern_layers(n_layer: int, pattern: int, dense_first: bool) -> tuple[bool, ...]:
    if pattern == 0:
        return (True,) * n_layer
    if dense_first:
        return tuple(il % pattern != 0 for il in range(n_layer))
    return tuple(il % pattern < pattern - 1 for il in range(n_layer))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def sliding_window(
    arch: str, metadata: Mapping[str, Any], n_layer: int | None
) -> SlidingWindow | None:
    """The sliding window llama.cpp applies to a file of ``arch`` with these header keys, or
    None when every layer sees the whole context."""
    rule = RULES.get(arch)
    if rule is None or not n_layer or n_layer < 1:
        return None
    window = _int(metadata.get(f"{arch}.attention.sliding_window"))
    if window is None or window <= 0:
        if rule.needs_window or rule.default_window is None:
            return None
        window = rule.default_window
    # The file may say which layers slide: a bool per layer, or its own pattern length.
    given = metadata.get(f"{arch}.attention.sliding_window_pattern")
    if isinstance(given, (tuple, list)) and len(given) >= n_layer:
        layers = tuple(bool(v) for v in given[:n_layer])
    else:
        pattern = _int(given)
        layers = _pattern_layers(
            n_layer, rule.pattern if pattern is None else pattern, rule.dense_first
        )
    return SlidingWindow(window, layers) if any(layers) else None
