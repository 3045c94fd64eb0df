"""Parse and type-check JSON request bodies (PROTOCOL.md); semantic checks live in `sessions`."""

from __future__ import annotations

import json
import math
from typing import Any

from edgespec_gpu.errors import invalid
from edgespec_gpu.sessions import Limits, VerifyRequest
from edgespec_gpu.verify import SamplingParams


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise invalid("invalid_json", f"request body is not valid JSON: {error}") from None
    except RecursionError:
        raise invalid("invalid_json", "request body nests arrays or objects too deeply to parse") from None
    if not isinstance(value, dict):
        raise invalid("invalid_json", f"request body must be a JSON object, got {type(value).__name__}")
    return value


def parse_create(body: bytes) -> tuple[list[int], dict[str, Any] | None]:
    data = parse_json_object(body)
    _reject_unknown(data, {"tokens", "attention"}, "")
    tokens = _int_list(data.get("tokens"), "tokens", required=True)
    attention = data.get("attention")
    if attention is not None and not isinstance(attention, dict):
        raise invalid("invalid_attention", "attention must be an object", "attention")
    return tokens, attention


def parse_verify(body: bytes, limits: Limits) -> VerifyRequest:
    data = parse_json_object(body)
    _reject_unknown(data, {"base_len", "append", "tree", "sampling", "top_k", "logprobs"}, "")
    base_len = _integer(data.get("base_len"), "base_len", minimum=0, required=True)
    append = _int_list(data.get("append", []), "append")
    tree = data.get("tree", {}) or {}
    if not isinstance(tree, dict):
        raise invalid("invalid_field", "tree must be an object with tokens and parents", "tree")
    _reject_unknown(tree, {"tokens", "parents"}, "tree.")
    tree_tokens = _int_list(tree.get("tokens", []), "tree.tokens")
    tree_parents = _int_list(tree.get("parents", []), "tree.parents")
    top_k = _integer(data.get("top_k", 8), "top_k", minimum=0, required=True)
    if top_k > limits.max_top_k:
        raise invalid("invalid_field", f"top_k {top_k} exceeds the limit {limits.max_top_k}", "top_k")
    logprobs = data.get("logprobs", False)
    if not isinstance(logprobs, bool):
        raise invalid("invalid_field", f"logprobs must be a boolean, got {logprobs!r}", "logprobs")
    return VerifyRequest(
        base_len=base_len, append=append, tree_tokens=tree_tokens, tree_parents=tree_parents,
        sampling=parse_sampling(data.get("sampling")), top_k=top_k, logprobs=logprobs,
    )


def parse_sampling(raw: Any) -> SamplingParams:
    if raw is None:
        return SamplingParams()
    if not isinstance(raw, dict):
        raise invalid("invalid_sampling", "sampling must be an object", "sampling")
    _reject_unknown(raw, {"temperature", "top_p", "top_k", "seed"}, "sampling.", code="invalid_sampling")
    temperature = _number(raw.get("temperature", 0.0), "sampling.temperature")
    top_p = _number(raw.get("top_p", 1.0), "sampling.top_p")
    if temperature < 0:
        raise invalid("invalid_sampling", f"sampling.temperature must be >= 0, got {temperature}", "sampling.temperature")
    if not 0 < top_p <= 1:
        raise invalid("invalid_sampling", f"sampling.top_p must be in (0, 1], got {top_p}", "sampling.top_p")
    top_k = raw.get("top_k", 0)
    if not _is_int(top_k) or top_k < 0:
        raise invalid("invalid_sampling", f"sampling.top_k must be an integer >= 0, got {top_k!r}", "sampling.top_k")
    seed = raw.get("seed")
    if seed is not None and not _is_int(seed):
        raise invalid("invalid_sampling", f"sampling.seed must be an integer or null, got {seed!r}", "sampling.seed")
    return SamplingParams(temperature=temperature, top_p=top_p, top_k=top_k, seed=seed)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any, param: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise invalid("invalid_sampling", f"{param} must be a finite number, got {value!r}", param)
    return float(value)


def _integer(value: Any, param: str, *, minimum: int, required: bool) -> int:
    if value is None and required:
        raise invalid("invalid_field", f"{param} is required", param)
    if not _is_int(value) or value < minimum:
        raise invalid("invalid_field", f"{param} must be an integer >= {minimum}, got {value!r}", param)
    return value


def _int_list(value: Any, param: str, required: bool = False) -> list[int]:
    if value is None and required:
        raise invalid("invalid_field", f"{param} is required", param)
    if not isinstance(value, list) or not all(_is_int(item) for item in value):
        raise invalid("invalid_field", f"{param} must be an array of integers", param)
    return value


def _reject_unknown(data: dict[str, Any], known: set[str], prefix: str, code: str = "invalid_field") -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise invalid(code, f"unknown field(s) {[prefix + name for name in unknown]}", prefix + unknown[0])
