"""Sessions: prefill, verify steps and deletion over one model and one shared paged KV cache.

A session stores its committed tokens c[0..n) and KV for c[0..n-1). A verify step forwards the
last committed token plus the tree, accepts a path, and writes only the accepted rows' KV. Sessions
idle past the TTL are evicted, and so is the least recently used one when the cache runs out of
pages. An evicted id leaves a tombstone so the edge gets `409 session_evicted` (committed_len 0)
and can resend the whole sequence with base_len 0.

NOTE: one forward runs at a time behind `_lock`. Batching several sessions' rows into one forward
needs only a batched `_forward_rows`, because each step's rows, layout and KV views are built per
session before the forward.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from edgespec_gpu.attention_policy import AttentionConfigError, AttentionPolicy, DensePolicy, make_attention_policy
from edgespec_gpu.errors import ServiceError, invalid
from edgespec_gpu.kv_cache import KVCacheFullError, PagedKVCache
from edgespec_gpu.metrics import Metrics
from edgespec_gpu.model.llama import LlamaModel
from edgespec_gpu.tree import RowPlan, node_depths, validate_tree
from edgespec_gpu.verify import (
    Acceptance,
    SamplingParams,
    accept_tree,
    step_stream_seed,
    token_logprobs,
    top_k_ids,
)

logger = logging.getLogger(__name__)

PREFILL_CHUNK = 64  # rows per prefill forward; bounds the per-row key gather of batch-invariant attention
MAX_TOMBSTONES = 10_000


@dataclass(frozen=True)
class Limits:
    """Request limits of the service (each one is a command-line option)."""

    max_tree_nodes: int = 128
    max_tree_depth: int = 32
    max_top_k: int = 16
    max_session_tokens: int = 16384
    max_body_bytes: int = 1 << 20
    session_ttl_s: float = 600.0


@dataclass
class VerifyRequest:
    base_len: int
    append: list[int] = field(default_factory=list)
    tree_tokens: list[int] = field(default_factory=list)
    tree_parents: list[int] = field(default_factory=list)
    sampling: SamplingParams = field(default_factory=SamplingParams)
    top_k: int = 8
    logprobs: bool = False


@dataclass
class Timings:
    queue_ms: float = 0.0
    forward_ms: float = 0.0
    total_ms: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {"queue_ms": round(self.queue_ms, 3), "forward_ms": round(self.forward_ms, 3), "total_ms": round(self.total_ms, 3)}


@dataclass
class VerifyResult:
    accepted_tokens: list[int]
    accepted_nodes: list[int]
    top_k: list[list[int]]
    logprobs: list[float] | None
    eos: bool
    committed_len: int
    timings: Timings


@dataclass
class Session:
    session_id: str
    tokens: list[int]  # committed tokens c[0..n)
    table: list[int]  # KV page ids in position order
    kv_len: int  # committed positions with KV; n - 1 between steps
    policy: AttentionPolicy
    attention: dict[str, Any] | None
    last_used: float


class _LazyRowLogits:
    """Logits of single forward rows, computed on first use: acceptance reads only the walked path."""

    def __init__(self, model: LlamaModel, hidden: torch.Tensor) -> None:
        self._model = model
        self._hidden = hidden  # [M, hidden]
        self._rows: dict[int, torch.Tensor] = {}

    def __call__(self, row: int) -> torch.Tensor:
        if row not in self._rows:
            self._rows[row] = self._model.compute_logits(self._hidden[row : row + 1])[0]  # [vocab]
        return self._rows[row]


class SessionManager:
    def __init__(
        self, model: LlamaModel, cache: PagedKVCache, limits: Limits, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.model = model
        self.cache = cache
        self.limits = limits
        self.clock = clock
        self.metrics = Metrics()
        self.eos_token_ids = frozenset(model.config.eos_token_ids)
        # Dense sessions stop at the trained context, where the model's quality ends. Sparse sessions
        # keep attended distances inside it, so they may grow up to the rotary table and the session cap.
        self.max_context = min(model.config.max_position_embeddings, model.max_positions, limits.max_session_tokens)
        self.max_sparse_context = min(model.max_positions, limits.max_session_tokens)
        self._sessions: OrderedDict[str, Session] = OrderedDict()  # least recently used first
        self._tombstones: OrderedDict[str, dict[str, Any] | None] = OrderedDict()
        self._lock = threading.Lock()

    # ---- public operations -------------------------------------------------------------------

    def context_limit(self, policy: AttentionPolicy) -> int:
        """Return the max committed tokens plus tree depth of a session attending with `policy`."""
        return self.max_context if isinstance(policy, DensePolicy) else self.max_sparse_context

    def create(self, tokens: list[int], attention: dict[str, Any] | None) -> tuple[Session, Timings]:
        """Create a session from prompt `tokens` and prefill KV for all but the last token."""
        start = time.perf_counter()
        self._check_tokens(tokens, "tokens")
        if not tokens:
            raise invalid("invalid_field", "tokens must contain at least one token", "tokens")
        try:
            policy = make_attention_policy(attention, self.model.config)
        except AttentionConfigError as error:
            raise invalid("invalid_attention", str(error), "attention") from None
        max_context = self.context_limit(policy)
        if len(tokens) + 1 > max_context:
            raise invalid(
                "context_overflow", f"prompt of {len(tokens)} tokens leaves no room in the context of {max_context}", "tokens"
            )

        with self._lock:
            timings = Timings(queue_ms=(time.perf_counter() - start) * 1000)
            self._expire_idle()
            session = Session(
                session_id="s-" + uuid.uuid4().hex, tokens=list(tokens), table=[], kv_len=0,
                policy=policy, attention=attention, last_used=self.clock(),
            )
            forward_start = time.perf_counter()
            self._with_rollback(session, lambda: self._prefill(session, len(tokens) - 1))
            timings.forward_ms = (time.perf_counter() - forward_start) * 1000
            self._sessions[session.session_id] = session
            self.metrics.sessions_created += 1
        timings.total_ms = (time.perf_counter() - start) * 1000
        return session, timings

    def verify(self, session_id: str, request: VerifyRequest) -> VerifyResult:
        """Run one verify step: append, forward the last committed token + tree, accept, commit."""
        start = time.perf_counter()
        with self._lock:
            timings = Timings(queue_ms=(time.perf_counter() - start) * 1000)
            self._expire_idle()
            session = self._session_for_verify(session_id, request)
            self._validate_step(session, request)
            acceptance, emitted_logits, forward_ms = self._with_rollback(session, lambda: self._step(session, request))
            if session_id not in self._sessions:  # a revived session joins once its first step succeeds
                self._sessions[session_id] = session
                self._tombstones.pop(session_id, None)
            session.last_used = self.clock()
            self._sessions.move_to_end(session_id)
        timings.forward_ms = forward_ms
        timings.total_ms = (time.perf_counter() - start) * 1000
        self.metrics.observe_step(len(request.tree_tokens), len(acceptance.nodes), timings.queue_ms, forward_ms)

        return VerifyResult(
            accepted_tokens=acceptance.tokens,
            accepted_nodes=acceptance.nodes,
            top_k=top_k_ids(emitted_logits, request.top_k),
            logprobs=token_logprobs(emitted_logits, acceptance.tokens) if request.logprobs else None,
            eos=acceptance.eos,
            committed_len=len(session.tokens),
            timings=timings,
        )

    def score(self, session_id: str, tree_tokens: list[int], tree_parents: list[int]) -> torch.Tensor:
        """Return the logits [1 + T, vocab] of the root and every tree node, committing nothing."""
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                raise ServiceError(404, "session_not_found", f"session {session_id!r} not found")
            validate_tree(tree_tokens, tree_parents, self.model.config.vocab_size, len(tree_tokens), len(tree_tokens))
            rows = torch.tensor([session.tokens[-1], *tree_tokens], dtype=torch.int64)
            output = self._forward_rows(session, rows, RowPlan(pending=1, parents=tree_parents), logits_rows=None)
            return output.logits

    def delete(self, session_id: str) -> None:
        with self._lock:
            session = self._sessions.pop(session_id, None)
            if session is None:
                raise ServiceError(404, "session_not_found", f"session {session_id!r} not found")
            self.cache.release(session.table)

    def session(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    def evict(self, session_id: str, reason: str) -> None:
        """Drop a session's KV and leave a tombstone so its next request gets 409 session_evicted."""
        session = self._sessions.pop(session_id)
        self.cache.release(session.table)
        self._tombstones[session_id] = session.attention
        while len(self._tombstones) > MAX_TOMBSTONES:
            self._tombstones.popitem(last=False)
        self.metrics.evictions += 1
        logger.info("evicted session %s (%s): %d committed tokens dropped", session_id, reason, len(session.tokens))

    # ---- validation --------------------------------------------------------------------------

    def _check_tokens(self, tokens: list[int], param: str) -> None:
        vocab = self.model.config.vocab_size
        for i, token in enumerate(tokens):
            if not 0 <= token < vocab:
                raise invalid("token_out_of_range", f"{param}[{i}] = {token} is outside [0, {vocab})", param)

    def _session_for_verify(self, session_id: str, request: VerifyRequest) -> Session:
        session = self._sessions.get(session_id)
        if session is not None:
            return session
        if session_id not in self._tombstones:
            raise ServiceError(404, "session_not_found", f"session {session_id!r} not found")
        if request.base_len != 0 or not request.append:
            raise ServiceError(
                409, "session_evicted",
                f"session {session_id!r} was evicted; resend with base_len 0 and the whole committed sequence in append",
                committed_len=0,
            )
        return self._revive(session_id, request)

    def _revive(self, session_id: str, request: VerifyRequest) -> Session:
        """Recreate an evicted session empty; the step then prefills `append` as its committed tokens."""
        attention = self._tombstones[session_id]
        session = Session(
            session_id=session_id, tokens=[], table=[], kv_len=0,
            policy=make_attention_policy(attention, self.model.config), attention=attention, last_used=self.clock(),
        )
        logger.info("session %s re-sent after eviction with %d tokens", session_id, len(request.append))
        return session

    def _validate_step(self, session: Session, request: VerifyRequest) -> None:
        if request.base_len != len(session.tokens):
            raise ServiceError(
                409, "base_len_mismatch",
                f"base_len {request.base_len} does not match the service's committed length {len(session.tokens)}",
                param="base_len", committed_len=len(session.tokens),
            )
        self._check_tokens(request.append, "append")
        if len(session.tokens) + len(request.append) == 0:
            raise invalid("invalid_field", "the session has no committed tokens; append at least one", "append")
        limits = self.limits
        validate_tree(
            request.tree_tokens, request.tree_parents, self.model.config.vocab_size,
            limits.max_tree_nodes, limits.max_tree_depth,
        )
        committed = len(session.tokens) + len(request.append)
        depth = max(node_depths(request.tree_parents), default=0)
        max_context = self.context_limit(session.policy)
        if committed + depth + 1 > max_context:
            raise invalid(
                "context_overflow",
                f"{committed} committed tokens + tree depth {depth} + 1 exceed the context of {max_context}",
                "tree",
            )

    # ---- forward and commit ------------------------------------------------------------------

    def _with_rollback(self, session: Session, action: Callable[[], Any]) -> Any:
        """Run `action`; on any error restore the session's tokens, KV length and pages, then re-raise."""
        tokens_len, kv_len, pages = len(session.tokens), session.kv_len, len(session.table)
        try:
            return action()
        except Exception:
            del session.tokens[tokens_len:]
            session.kv_len = kv_len
            self.cache.release(session.table[pages:])
            del session.table[pages:]
            raise

    def _step(self, session: Session, request: VerifyRequest) -> tuple[Acceptance, torch.Tensor, float]:
        session.tokens.extend(request.append)
        forward_start = time.perf_counter()
        self._prefill(session, len(session.tokens) - 1)

        depth = max(node_depths(request.tree_parents), default=0)
        self._reserve(session, session.kv_len + 1 + depth)
        plan = RowPlan(pending=1, parents=request.tree_parents)
        rows = torch.tensor([session.tokens[-1], *request.tree_tokens], dtype=torch.int64)
        output = self._forward_rows(session, rows, plan, logits_rows=torch.zeros(0, dtype=torch.int64))
        row_logits = _LazyRowLogits(self.model, output.hidden)
        sampling = request.sampling
        acceptance = accept_tree(
            row_logits, request.tree_tokens, request.tree_parents, sampling,
            first_position=len(session.tokens), eos_token_ids=self.eos_token_ids,
            stream_seed=step_stream_seed(sampling),
        )
        forward_ms = (time.perf_counter() - forward_start) * 1000
        # KV covers every committed token but the last emitted one (bonus, or a drafted EOS).
        kv_nodes = acceptance.nodes[: len(acceptance.tokens) - 1]
        committed_rows = [0] + [node + 1 for node in kv_nodes]
        self._commit_rows(session, output, committed_rows)
        session.tokens.extend(acceptance.tokens)
        self.cache.truncate(session.table, session.kv_len)
        emitted_logits = torch.stack([row_logits(row) for row in acceptance.rows])  # [E, vocab]
        return acceptance, emitted_logits, forward_ms

    def _prefill(self, session: Session, target_kv_len: int) -> None:
        """Forward committed tokens [kv_len, target_kv_len) in chunks and store their KV."""
        self._reserve(session, target_kv_len)
        while session.kv_len < target_kv_len:
            count = min(PREFILL_CHUNK, target_kv_len - session.kv_len)
            rows = torch.tensor(session.tokens[session.kv_len : session.kv_len + count], dtype=torch.int64)
            output = self._forward_rows(session, rows, RowPlan(pending=count, parents=[]), logits_rows=torch.zeros(0, dtype=torch.int64))
            self._commit_rows(session, output, list(range(count)))

    def _forward_rows(self, session: Session, rows: torch.Tensor, plan: RowPlan, logits_rows: torch.Tensor | None):
        device = self.cache.keys.device
        layout = plan.layout(session.kv_len, device)
        kv_len = session.kv_len

        def cache_for_layer(layer: int):
            return self.cache.view(session.table, layer, kv_len)

        return self.model(
            rows.to(device), layout, cache_for_layer=cache_for_layer, policy=session.policy,
            logits_rows=None if logits_rows is None else logits_rows.to(device),
        )

    def _commit_rows(self, session: Session, output, rows: list[int]) -> None:
        """Write the KV of forward `rows` at positions [kv_len, kv_len + len(rows)) (in place)."""
        start, end = session.kv_len, session.kv_len + len(rows)
        index = torch.tensor(rows, dtype=torch.int64, device=self.cache.keys.device)
        for layer, (keys, values) in enumerate(zip(output.keys, output.values)):
            self.cache.write(session.table, layer, start, keys[index], values[index])
        session.kv_len = end
        for layer in range(len(output.keys)):
            session.policy.on_kv_written(layer, self.cache.view(session.table, layer, end), start, end)

    def _reserve(self, session: Session, length: int) -> None:
        """Reserve pages for `length` positions, evicting least recently used sessions if needed."""
        needed = self.cache.pages_for(length) - len(session.table)
        while needed > self.cache.free_pages:
            victim = next((sid for sid in self._sessions if sid != session.session_id), None)
            if victim is None:
                raise ServiceError(
                    503, "kv_cache_full",
                    f"KV cache full: {needed} pages needed, {self.cache.free_pages} free of {self.cache.num_pages}",
                )
            self.evict(victim, "KV cache full")
        try:
            self.cache.reserve(session.table, length)
        except KVCacheFullError as error:
            raise ServiceError(503, "kv_cache_full", str(error)) from None

    def _expire_idle(self) -> None:
        now = self.clock()
        expired = [sid for sid, s in self._sessions.items() if now - s.last_used > self.limits.session_ttl_s]
        for session_id in expired:
            self.evict(session_id, "idle past the TTL")
