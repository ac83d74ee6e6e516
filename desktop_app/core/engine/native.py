"""``llama_cpp.Llama`` with the two hooks the engine needs and ``Llama()`` does not expose.

* Load progress: llama.cpp reports it through ``llama_model_params.progress_callback``, but
  ``Llama.__init__`` builds its model params internally. The subclass turns ``model_params``
  into a property whose setter adds our callback when ``__init__`` assigns the struct, before
  llama.cpp sees it. Nothing global is patched. Returning False from the callback aborts the load.
* Abort during a prompt: ``llama_set_abort_callback`` is polled by llama.cpp once per graph node
  (hundreds of Python calls per decode), so it is installed only for multi-token batches (the
  prompt), where a cancel must not wait for seconds, and removed for one-token generation steps,
  where the engine checks for a cancel between tokens anyway.

* Sliding-window models: the engine loads them with llama.cpp's small window cache (``swa_full``
  off, core/sliding_window.py), which keeps only the latest ``window + n_ubatch`` positions for
  the windowed layers. ``Llama.generate`` reuses any cached prefix of a new prompt; after a
  rollback (regenerate, edit and resend, older turns dropped) that prefix may end before
  positions the cache has already let go, and decoding on from it would silently attend to
  nothing there. ``generate`` checks the oldest position still cached first and, when the
  reused prefix needs older ones, makes ``Llama`` evaluate the whole prompt again (what
  llama-server does in the same case).

``tokens_evaluated`` counts tokens really decoded (``Llama.generate`` reuses a cached prefix), so
prompt speed is measured on the work done. ``decode_seconds`` (batches of several tokens) and
``step_seconds`` with ``steps`` (one-token generation steps) time llama_decode alone, without
sampling or streaming: what llama-bench measures, for comparing load settings with it.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from desktop_app.core import llama_backend

log = logging.getLogger(__name__)


@functools.cache
def engine_llama_class() -> Any:
    """The subclass, built on first use (importing llama_cpp loads the native library)."""
    lc = llama_backend.llama()

    class EngineLlama(lc.Llama):  # type: ignore[misc, name-defined]
        n_tokens: int  # Llama's count of evaluated tokens in the KV cache

        def __init__(
            self, *args: Any, progress: Callable[[float], bool] | None = None, **kwargs: Any
        ) -> None:
            def on_progress(fraction: float, _user_data: object) -> bool:
                if progress is None:
                    return True
                try:
                    return bool(progress(float(fraction)))
                except Exception:  # an exception must not cross into C: keep loading
                    log.warning("load progress callback failed", exc_info=True)
                    return True

            # Referenced from self: llama.cpp keeps only the raw function pointer.
            self._progress_cb = lc.llama_progress_callback(on_progress)
            self._abort_cb = lc.ggml_abort_callback(self._abort_requested)
            self._no_abort_cb = lc.ggml_abort_callback()  # NULL: no polling at all
            self._abort_installed = False
            self.abort_check: Callable[[], bool] | None = None
            self.tokens_evaluated = 0
            self.decode_seconds = 0.0  # multi-token batches (prompts)
            self.step_seconds = 0.0  # one-token generation steps
            self.steps = 0
            super().__init__(*args, **kwargs)
            self.window = int(lc.llama_model_n_swa(self.model))  # 0: no sliding window
            self.prefix_restarts = 0  # prompts evaluated again because the window lost them

        @property
        def model_params(self) -> Any:
            return self._engine_model_params

        @model_params.setter
        def model_params(self, params: Any) -> None:
            params.progress_callback = self._progress_cb
            params.progress_callback_user_data = None
            self._engine_model_params = params

        def _abort_requested(self, _user_data: object) -> bool:
            check = self.abort_check
            try:
                return bool(check is not None and check())
            except Exception:  # noqa: BLE001 - must not cross into C; keep decoding
                return False

        def generate(self, tokens: Any, *args: Any, **kwargs: Any) -> Any:
            tokens = list(tokens)
            if self.window > 0 and self.n_tokens > 0 and kwargs.get("reset", True):
                self._forget_a_prefix_the_window_lost(tokens)
            return super().generate(tokens, *args, **kwargs)

        def _forget_a_prefix_the_window_lost(self, tokens: list[int]) -> None:
            common = int(self.longest_token_prefix(self._input_ids.tolist(), tokens))
            # What Llama.generate will keep: the common prefix, less one token when the prompt
            # is all cached (its last token is evaluated again for fresh logits).
            kept = common - 1 if common == len(tokens) else common
            if kept >= self.n_tokens or kept <= 0:
                return  # nothing rolled back, or nothing reused anyway
            oldest = int(lc.llama_memory_seq_pos_min(lc.llama_get_memory(self.ctx), 0))
            if oldest > max(0, kept - self.window):
                self.n_tokens = 0  # Llama.generate then starts from an empty cache
                self.prefix_restarts += 1

        def eval(self, tokens: Any) -> None:
            want_abort = len(tokens) > 1 and self.abort_check is not None
            if want_abort != self._abort_installed:
                callback = self._abort_cb if want_abort else self._no_abort_cb
                lc.llama_set_abort_callback(self.ctx, callback, None)
                self._abort_installed = want_abort
            started = time.perf_counter()
            super().eval(tokens)
            elapsed = time.perf_counter() - started
            self.tokens_evaluated += len(tokens)
            if len(tokens) == 1:
                self.step_seconds += elapsed
                self.steps += 1
            else:
                self.decode_seconds += elapsed

    return EngineLlama
