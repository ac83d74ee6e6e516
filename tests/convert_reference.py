"""Reference implementations the converter's output is checked against (numpy and pure Python).

* ``reference_logits``: a float64 forward pass written from the Hugging Face modelling code
  (Llama, Mistral, Qwen2, Qwen3): RMSNorm, rope in the HF ``rotate_half`` convention (with
  linear and Llama-3 scaling), GQA attention with a causal mask, SwiGLU MLP, Qwen2 q/k/v biases,
  Qwen3 per-head q/k RMSNorm. It works on the HF-layout weights: the converter's q/k row
  permutation is *not* applied here, so a wrong permutation shows up as wrong logits.
* ``gemma_logits``: Gemma 2/3 (RMSNorm by ``1 + weight``, embeddings times sqrt(hidden),
  sandwich norms, GELU-tanh, ``query_pre_attn_scalar``, attention and final softcapping, the
  sliding window on HF's sliding layers, Gemma 3's q/k norms and local rope base).
  ``phi3_logits``: Phi-3 (fused qkv and gate/up split as HF splits them, partial rotary).
  Both take the HF weights as stored: the converter's ``+ 1`` and fused layouts are not used.
* ``ByteLevelBPE``: the HF ``tokenizers`` algorithm for byte-level BPE (added tokens split out
  first, regex pre-tokenization, GPT-2 byte-to-unicode map, merges by rank with ties to the
  left, optional ``ignore_merges``). Python's ``re`` has no ``\\p{L}``/``\\p{N}``: letters are
  approximated by ``[^\\W\\d_]`` and numbers by ``\\d``. They agree on every character of the
  test strings (ASCII, Latin-1 letters, CJK, emoji, ZWJ, whitespace); they would differ on
  No/Nl numerics such as "²" or "Ⅻ", which the tests avoid.
* ``SentencePieceBPE``: sentencepiece's BPE encoding (``▁`` for spaces, dummy prefix, highest
  score pair merged first with ties to the left, byte fallback), applied per fragment between
  special tokens like HF's slow ``LlamaTokenizer`` with ``legacy=True``. With
  ``by_rank=True`` it is HF's ``BPE`` model with ``byte_fallback`` (merges by rank instead of
  piece score), the algorithm of Llama-2-style ``tokenizer.json`` files.

The tokenizers are independent of the converter's code: they read the vocab/merges/scores the
tests wrote, not the GGUF.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_L = r"[^\W\d_]"
_N = r"\d"
_NOT_LN_CRLF = r"(?:[^\r\n\w]|_)"
_NOT_LN_SPACE = r"(?:[^\s\w]|_)"
PY_QWEN2 = (
    rf"(?i:'s|'t|'re|'ve|'m|'ll|'d)|{_NOT_LN_CRLF}?{_L}+|{_N}| ?{_NOT_LN_SPACE}+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
PY_LLAMA3 = PY_QWEN2.replace(f"|{_N}|", f"|{_N}{{1,3}}|")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map."""
    bs = list(range(ord("!"), ord("~") + 1))
    bs += list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs, strict=True)}


BYTE_MAP = bytes_to_unicode()


def split_specials(text: str, specials: list[str]) -> list[tuple[str, bool]]:
    """Leftmost-longest split of ``text`` on the added tokens: (piece, is_added)."""
    out: list[tuple[str, bool]] = []
    ordered = sorted(specials, key=len, reverse=True)
    i = start = 0
    while i < len(text):
        hit = next((s for s in ordered if text.startswith(s, i)), None)
        if hit is None:
            i += 1
            continue
        if start < i:
            out.append((text[start:i], False))
        out.append((hit, True))
        i += len(hit)
        start = i
    if start < len(text):
        out.append((text[start:], False))
    return out


def bpe_merge(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Merge the lowest-ranked adjacent pair (leftmost on ties) until none applies."""
    symbols = list(symbols)
    while len(symbols) > 1:
        best: tuple[int, int] | None = None
        for i in range(len(symbols) - 1):
            rank = ranks.get((symbols[i], symbols[i + 1]))
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, i)
        if best is None:
            break
        i = best[1]
        symbols[i : i + 2] = [symbols[i] + symbols[i + 1]]
    return symbols


@dataclass
class ByteLevelBPE:
    vocab: dict[str, int]
    merges: list[tuple[str, str]]
    added: dict[str, int]
    pattern: str
    ignore_merges: bool = False
    ranks: dict[tuple[str, str], int] = field(init=False)

    def __post_init__(self) -> None:
        self.ranks = {pair: i for i, pair in enumerate(self.merges)}

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece, is_added in split_specials(text, list(self.added)):
            if is_added:
                ids.append(self.added[piece])
                continue
            for word in re.findall(self.pattern, piece):
                mapped = "".join(BYTE_MAP[b] for b in word.encode("utf-8"))
                if self.ignore_merges and mapped in self.vocab:
                    ids.append(self.vocab[mapped])
                    continue
                ids += [self.vocab[s] for s in bpe_merge(list(mapped), self.ranks)]
        return ids


@dataclass
class SentencePieceBPE:
    pieces: dict[str, int]  # NORMAL pieces only
    scores: dict[str, float]
    byte_ids: dict[int, int]  # byte value -> <0xNN> id
    specials: dict[str, int]
    add_dummy_prefix: bool = True
    by_rank: dict[tuple[str, str], int] | None = None
    rstrip: frozenset[str] = frozenset()  # added tokens that swallow the whitespace after them

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        strip_next = False
        for piece, is_special in split_specials(text, list(self.specials)):
            if is_special:
                ids.append(self.specials[piece])
                strip_next = piece in self.rstrip
                continue
            if strip_next:
                piece = piece.lstrip()
            if piece:
                ids += self._encode_fragment(piece)
        return ids

    def _encode_fragment(self, text: str) -> list[int]:
        norm = text.replace(" ", "\u2581")
        if self.add_dummy_prefix:
            norm = "\u2581" + norm
        if self.by_rank is not None:
            symbols = bpe_merge(list(norm), self.by_rank)
        else:
            symbols = self._merge_by_score(list(norm))
        out: list[int] = []
        for s in symbols:
            if s in self.pieces:
                out.append(self.pieces[s])
            else:
                out += [self.byte_ids[b] for b in s.encode("utf-8")]
        return out

    def _merge_by_score(self, symbols: list[str]) -> list[str]:
        while len(symbols) > 1:
            best: tuple[float, int] | None = None
            for i in range(len(symbols) - 1):
                score = self.scores.get(symbols[i] + symbols[i + 1])
                if score is not None and (best is None or score > best[0]):
                    best = (score, i)
            if best is None:
                break
            i = best[1]
            symbols[i : i + 2] = [symbols[i] + symbols[i + 1]]
        return symbols


# --- forward pass --------------------------------------------------------------------------


def _rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def inv_frequencies(cfg: dict[str, Any], head_dim: int) -> np.ndarray:
    """HF's rope inverse frequencies, with Llama-3 scaling when configured."""
    theta = float(cfg.get("rope_theta", 10000.0))
    inv = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    rs = cfg.get("rope_scaling") or {}
    if rs.get("rope_type", rs.get("type")) == "llama3":
        factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        wavelen = 2 * np.pi / inv
        scaled = np.where(wavelen > old / low, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= old / high) & (wavelen <= old / low)
        inv = np.where(medium, smoothed, scaled)
    return inv


def _rope(x: np.ndarray, positions: np.ndarray, inv: np.ndarray) -> np.ndarray:
    ang = positions[:, None] * inv[None, :]
    emb = np.concatenate([ang, ang], axis=-1)
    cos, sin = np.cos(emb)[:, None, :], np.sin(emb)[:, None, :]
    half = x.shape[-1] // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


def reference_logits(
    weights: dict[str, np.ndarray], cfg: dict[str, Any], ids: list[int]
) -> np.ndarray:
    """(len(ids), vocab) logits of the HF model, float64."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    arch = cfg["architectures"][0]
    if arch.startswith("Gemma"):
        return gemma_logits(w, cfg, ids)
    if arch == "Phi3ForCausalLM":
        return phi3_logits(w, cfg, ids)
    n_head, n_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or cfg["hidden_size"] // n_head
    eps = cfg["rms_norm_eps"]
    embed = w.get("model.embed_tokens.weight", w.get("lm_head.weight"))
    assert embed is not None
    lm_head = w.get("lm_head.weight", embed)
    t = len(ids)
    positions = np.arange(t, dtype=np.float64)
    rs = cfg.get("rope_scaling") or {}
    if rs.get("rope_type", rs.get("type")) == "linear":
        positions = positions / rs["factor"]
    inv = inv_frequencies(cfg, hd)
    mask = np.triu(np.full((t, t), -np.inf), k=1)
    x = embed[np.asarray(ids)]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."

        def proj(h: np.ndarray, name: str, p: str = p) -> np.ndarray:
            out = h @ w[p + name + ".weight"].T
            bias = w.get(p + name + ".bias")
            return out if bias is None else out + bias

        h = _rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = proj(h, "self_attn.q_proj").reshape(t, n_head, hd)
        k = proj(h, "self_attn.k_proj").reshape(t, n_kv, hd)
        v = proj(h, "self_attn.v_proj").reshape(t, n_kv, hd)
        if arch == "Qwen3ForCausalLM":
            q = _rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = _rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k = _rope(q, positions, inv), _rope(k, positions, inv)
        group = n_head // n_kv
        k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
        scores = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(hd) + mask
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = scores / scores.sum(axis=-1, keepdims=True)
        attn = np.einsum("hqk,khd->qhd", probs, v).reshape(t, n_head * hd)
        x = x + proj(attn, "self_attn.o_proj")
        h = _rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate, up = proj(h, "mlp.gate_proj"), proj(h, "mlp.up_proj")
        x = x + proj(gate / (1 + np.exp(-gate)) * up, "mlp.down_proj")
    x = _rms_norm(x, w["model.norm.weight"], eps)
    return x @ lm_head.T


# --- Gemma 2 / Gemma 3 and Phi-3 (written from the HF modelling code) ---------------------


def _gemma_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    """Gemma's RMSNorm: the weight is stored as an offset from 1."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * (1.0 + w)


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def _softmax_attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float, mask: np.ndarray, cap: float | None
) -> np.ndarray:
    """(t, heads, d) queries against GQA keys/values; optional tanh softcap before the mask."""
    group = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    scores = np.einsum("qhd,khd->hqk", q, k) * scale
    if cap is not None:
        scores = np.tanh(scores / cap) * cap
    scores = scores + mask
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs = scores / scores.sum(axis=-1, keepdims=True)
    return np.einsum("hqk,khd->qhd", probs, v).reshape(q.shape[0], -1)


def _masks(t: int, window: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Causal mask, and the same limited to keys less than ``window`` positions back."""
    pos = np.arange(t)
    dist = pos[:, None] - pos[None, :]
    causal = np.where(dist < 0, -np.inf, 0.0)
    sliding = causal if window is None else np.where(dist >= window, -np.inf, causal)
    return causal, sliding


def gemma_sliding_layers(cfg: dict[str, Any]) -> list[bool]:
    """Which layers HF runs with the sliding window."""
    n = cfg["num_hidden_layers"]
    if cfg.get("layer_types"):
        return [kind == "sliding_attention" for kind in cfg["layer_types"]]
    if cfg["architectures"][0] == "Gemma2ForCausalLM":
        return [i % 2 == 0 for i in range(n)]
    period = cfg.get("sliding_window_pattern", 6)
    return [(i + 1) % period != 0 for i in range(n)]


def gemma_logits(w: dict[str, np.ndarray], cfg: dict[str, Any], ids: list[int]) -> np.ndarray:
    gemma3 = cfg["architectures"][0] == "Gemma3ForCausalLM"
    h_size, n_head, n_kv = (
        cfg["hidden_size"],
        cfg["num_attention_heads"],
        cfg["num_key_value_heads"],
    )
    hd, eps = cfg["head_dim"], cfg["rms_norm_eps"]
    embed = w["model.embed_tokens.weight"]
    t = len(ids)
    positions = np.arange(t, dtype=np.float64)
    inv_global = inv_frequencies(cfg, hd)
    rs = cfg.get("rope_scaling") or {}
    global_positions = positions / rs["factor"] if rs.get("rope_type") == "linear" else positions
    inv_local = inv_frequencies({"rope_theta": cfg.get("rope_local_base_freq", 1e4)}, hd)
    causal, sliding_mask = _masks(t, cfg.get("sliding_window"))
    sliding = gemma_sliding_layers(cfg)
    scale = cfg["query_pre_attn_scalar"] ** -0.5
    x = embed[np.asarray(ids)] * np.sqrt(h_size)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = _gemma_norm(x, w[p + "input_layernorm.weight"], eps)
        q = (h @ w[p + "self_attn.q_proj.weight"].T).reshape(t, n_head, hd)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).reshape(t, n_kv, hd)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(t, n_kv, hd)
        if gemma3:
            q = _gemma_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = _gemma_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        if gemma3 and sliding[i]:  # Gemma 3's local layers: their own base, no scaling
            q, k = _rope(q, positions, inv_local), _rope(k, positions, inv_local)
        else:
            q, k = _rope(q, global_positions, inv_global), _rope(k, global_positions, inv_global)
        mask = sliding_mask if sliding[i] else causal
        attn = _softmax_attention(q, k, v, scale, mask, cfg.get("attn_logit_softcapping"))
        attn = attn @ w[p + "self_attn.o_proj.weight"].T
        x = x + _gemma_norm(attn, w[p + "post_attention_layernorm.weight"], eps)
        h = _gemma_norm(x, w[p + "pre_feedforward_layernorm.weight"], eps)
        gate, up = h @ w[p + "mlp.gate_proj.weight"].T, h @ w[p + "mlp.up_proj.weight"].T
        h = (_gelu_tanh(gate) * up) @ w[p + "mlp.down_proj.weight"].T
        x = x + _gemma_norm(h, w[p + "post_feedforward_layernorm.weight"], eps)
    logits = _gemma_norm(x, w["model.norm.weight"], eps) @ embed.T
    cap = cfg.get("final_logit_softcapping")
    return logits if cap is None else np.tanh(logits / cap) * cap


def phi3_logits(w: dict[str, np.ndarray], cfg: dict[str, Any], ids: list[int]) -> np.ndarray:
    n_head, n_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg["hidden_size"] // n_head
    rot = int(hd * cfg.get("partial_rotary_factor", 1.0))
    eps = cfg["rms_norm_eps"]
    t = len(ids)
    positions = np.arange(t, dtype=np.float64)
    inv = inv_frequencies(cfg, rot)  # frequencies over the rotated part only
    causal, sliding = _masks(t, cfg.get("sliding_window"))

    def rope_part(x: np.ndarray) -> np.ndarray:
        return np.concatenate([_rope(x[..., :rot], positions, inv), x[..., rot:]], axis=-1)

    x = w["model.embed_tokens.weight"][np.asarray(ids)]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = _rms_norm(x, w[p + "input_layernorm.weight"], eps)
        qkv = h @ w[p + "self_attn.qkv_proj.weight"].T
        q = qkv[:, : n_head * hd].reshape(t, n_head, hd)
        k = qkv[:, n_head * hd : (n_head + n_kv) * hd].reshape(t, n_kv, hd)
        v = qkv[:, (n_head + n_kv) * hd :].reshape(t, n_kv, hd)
        attn = _softmax_attention(rope_part(q), rope_part(k), v, hd**-0.5, sliding, None)
        x = x + attn @ w[p + "self_attn.o_proj.weight"].T
        h = _rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate_up = h @ w[p + "mlp.gate_up_proj.weight"].T
        gate, up = np.split(gate_up, 2, axis=-1)
        x = x + (up * gate / (1 + np.exp(-gate))) @ w[p + "mlp.down_proj.weight"].T
    lm_head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return _rms_norm(x, w["model.norm.weight"], eps) @ lm_head.T
