"""Messages between the app and a model worker process.

Every loaded model runs in its own spawned process (a native abort in llama.cpp then kills only
that worker). The app sends *requests*; the worker answers with *events*. Both are frozen
dataclasses of plain data, pickled over a multiprocessing Pipe. Each request carries a
``request_id``; every event a request causes carries the same id, and each request ends with
exactly one terminal event: ``Done`` (generate), ``Scored`` (score), ``Loaded``, ``Tokens``,
``Text``, ``Unloaded`` or ``Failed``.

On the wire the worker may send several Token events as one list (to wake the app less often);
``client.ModelWorker`` unpacks them, so ``on_event`` always sees single events, in order.

Scoring (``ScoreRequest``: teacher-forced per-position numbers for Compare and perplexity) runs
on the same worker as generation, one token sequence (a chunk) per request.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is not imported at start-up for this: unpickling imports it when used
    from desktop_app.core.quality.row_metrics import RowBlock

# --- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadSettings:
    """How to load a model. Defaults are the engine's deliberate choices (loader.py says why)."""

    path: str
    n_ctx: int = 4096
    # None (both): automatic. Every physical core to start with; while replies stream the
    # worker times tokens against one core fewer and keeps the faster (engine/thread_tuner.py).
    n_threads: int | None = None
    n_threads_batch: int | None = None
    n_batch: int = 512
    n_ubatch: int = 512
    kv_type: str = "f16"  # f16, q8_0, q4_0 (quantized V needs flash attention)
    flash_attn: bool = True
    n_gpu_layers: int = 0
    seed: int = 0
    # False: weights read into the worker's own memory, on huge pages (fit.LoadPlan says why).
    use_mmap: bool = False
    use_mlock: bool = False


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    seed: int | None = None  # None: a fresh seed per reply
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    top_logprobs: int = 0  # >0: each Token event carries that many alternatives


SAMPLING_PRESETS: dict[str, SamplingParams] = {
    # Greedy: the same prompt always gives the same answer (Compare's default).
    "Precise": SamplingParams(temperature=0.0, top_p=1.0, top_k=1, min_p=0.0, repeat_penalty=1.0),
    "Balanced": SamplingParams(),
    "Creative": SamplingParams(
        temperature=1.0, top_p=0.95, top_k=100, min_p=0.02, repeat_penalty=1.05
    ),
}


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system", "user", "assistant"
    content: str


# --- requests (app -> worker) -------------------------------------------------------------------


@dataclass(frozen=True)
class LoadRequest:
    request_id: int
    settings: LoadSettings


@dataclass(frozen=True)
class GenerateRequest:
    """Either ``messages`` (formatted with the model's chat template) or a raw ``prompt``."""

    request_id: int
    sampling: SamplingParams
    messages: tuple[ChatMessage, ...] | None = None
    prompt: str | None = None


@dataclass(frozen=True)
class TokenizeRequest:
    request_id: int
    text: str
    add_bos: bool = False
    special: bool = False  # user text is never parsed for control tokens


@dataclass(frozen=True)
class DetokenizeRequest:
    request_id: int
    tokens: tuple[int, ...]


@dataclass(frozen=True)
class CountChatTokensRequest:
    """How many tokens ``messages`` take once formatted (the context gauge)."""

    request_id: int
    messages: tuple[ChatMessage, ...]


@dataclass(frozen=True)
class ScoreRequest:
    """Teacher-forced scoring of one token sequence (answered by ``Scored``).

    ``tokens`` are evaluated from an empty context; the logits at positions ``first`` to
    ``len(tokens) - 2`` are scored against the token that follows each (see
    ``quality/chunks.py``). ``reference_out``: save this model's log-probabilities of the scored
    rows there (the reference run). ``reference_in``: rows a reference saved for the same
    tokens; adds KL divergence and agreement (refused with VOCAB_MISMATCH when the
    vocabularies differ). ``top_k``: alternatives per position.
    """

    request_id: int
    tokens: tuple[int, ...]
    first: int = 0
    top_k: int = 0
    reference_out: str | None = None
    reference_in: str | None = None


@dataclass(frozen=True)
class CancelRequest:
    """Stop the running generate/score request; it ends with Done(finish_reason="cancelled").

    ``request_id`` names the request to stop (0: whatever runs). A cancel has no reply of its
    own; a load being cancelled ends with Failed(CANCELLED), a queued request likewise.
    """

    request_id: int


@dataclass(frozen=True)
class UnloadRequest:
    request_id: int


@dataclass(frozen=True)
class ShutdownRequest:
    """Cancel what runs, answer queued requests with Failed(CANCELLED), free the model, exit."""

    request_id: int


@dataclass(frozen=True)
class _CrashForTest:
    """Test hook: the worker calls os.abort(). Honoured only when the worker's environment has
    QUANTDESK_ENGINE_TEST_HOOKS=1 (otherwise Failed(BAD_REQUEST))."""

    request_id: int


Request = (
    LoadRequest
    | GenerateRequest
    | TokenizeRequest
    | DetokenizeRequest
    | CountChatTokensRequest
    | ScoreRequest
    | CancelRequest
    | UnloadRequest
    | ShutdownRequest
)

# --- events (worker -> app) ---------------------------------------------------------------------


class ErrorCode(enum.StrEnum):
    FILE_INVALID = "file_invalid"  # the GGUF pre-check refused it
    DOES_NOT_FIT = "does_not_fit"
    LOAD_FAILED = "load_failed"  # llama.cpp refused it after the pre-check passed
    NOT_LOADED = "not_loaded"
    BUSY = "busy"  # a generate request while another runs
    PROMPT_TOO_LONG = "prompt_too_long"
    TEMPLATE_FAILED = "template_failed"  # the model's template failed; fallback used if possible
    GENERATION_FAILED = "generation_failed"
    WORKER_CRASHED = "worker_crashed"
    CANCELLED = "cancelled"
    BAD_REQUEST = "bad_request"
    VOCAB_MISMATCH = "vocab_mismatch"  # scoring against a reference with another vocabulary
    DISK_FULL = "disk_full"  # reference rows could not be written


@dataclass(frozen=True)
class LoadProgress:
    request_id: int
    fraction: float


@dataclass(frozen=True)
class ModelInfo:
    path: str
    n_ctx: int
    n_ctx_train: int
    n_vocab: int
    n_threads: int  # at load; automatic counts then follow the thread tuner
    n_threads_batch: int
    use_mmap: bool
    flash_attn: bool
    kv_type: str
    chat_template: str  # "model" (its own template) or "fallback"
    bos_token: str
    eos_token: str
    load_seconds: float
    rss_bytes: int
    threads_auto: bool = False  # the thread count is tuned while generating
    huge_page_bytes: int = 0  # of the worker's memory, mapped with 2 MiB pages (engine/huge_pages)


@dataclass(frozen=True)
class Loaded:
    request_id: int
    info: ModelInfo


@dataclass(frozen=True)
class TopToken:
    token_id: int
    text: str
    prob: float


@dataclass(frozen=True)
class Token:
    request_id: int
    token_id: int
    text: str  # complete UTF-8 text released by this token (may be "" while a char is split)
    prob: float  # probability the model gave the chosen token (after temperature 1 softmax)
    top: tuple[TopToken, ...] = ()


@dataclass(frozen=True)
class GenerationStats:
    prompt_tokens: int
    generated_tokens: int
    ttft_s: float  # request received -> first token sampled
    prompt_tps: float
    gen_tps: float  # first generated token to last, like llama-bench
    rss_bytes: int
    finish_reason: str  # "stop" (EOG or stop string), "length", "cancelled"
    dropped_messages: int = 0  # oldest turns left out to fit the context
    peak_rss_bytes: int = 0  # the worker's peak RSS so far (0 where the OS does not say)
    threads: int = 0  # generation threads (with automatic threads: the count the tuner chose)
    # llama_decode alone, without sampling and streaming (how llama-bench counts): prompt
    # tokens evaluated / their decode time, generation steps / their decode time.
    prompt_decode_tps: float = 0.0
    gen_decode_tps: float = 0.0


@dataclass(frozen=True)
class Done:
    request_id: int
    text: str
    stats: GenerationStats


@dataclass(frozen=True)
class ScoreProgress:
    request_id: int
    done: int  # tokens evaluated so far
    total: int


@dataclass(frozen=True)
class Scored:
    """The answer to a ScoreRequest: one entry per scored position, in order."""

    request_id: int
    rows: RowBlock
    tokens_evaluated: int
    seconds: float  # evaluation and scoring, as the worker measured it
    vocab_digest: str  # identifies the vocabulary (same digest: KL divergence is meaningful)


@dataclass(frozen=True)
class Tokens:
    request_id: int
    tokens: tuple[int, ...]


@dataclass(frozen=True)
class Text:
    request_id: int
    text: str


@dataclass(frozen=True)
class Unloaded:
    request_id: int


@dataclass(frozen=True)
class Failed:
    request_id: int
    code: ErrorCode
    detail: str = ""
    # Extra facts for the message (e.g. memory numbers for DOES_NOT_FIT, exit code for a crash).
    facts: dict[str, int | float | str] = field(default_factory=dict)


@dataclass(frozen=True)
class Notice:
    """Not tied to the end of a request: template fallback used, oldest turns dropped, etc."""

    request_id: int
    code: str
    detail: str = ""


@dataclass(frozen=True)
class Log:
    level: int  # Python logging level
    line: str


Event = (
    LoadProgress
    | Loaded
    | Token
    | Done
    | ScoreProgress
    | Scored
    | Tokens
    | Text
    | Unloaded
    | Failed
    | Notice
    | Log
)

# Each request ends with exactly one of these (see the module docstring).
TERMINAL_EVENTS = (Done, Scored, Loaded, Tokens, Text, Unloaded, Failed)
