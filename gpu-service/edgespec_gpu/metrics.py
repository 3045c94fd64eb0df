"""Service counters and their Prometheus text exposition."""

from __future__ import annotations

from dataclasses import dataclass, field

TREE_SIZE_BUCKETS = (0, 8, 16, 32, 64, 128)
ACCEPTED_BUCKETS = (0, 1, 2, 4, 8, 16, 32)
TIME_BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500)


@dataclass
class Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        self.total += value
        self.count += 1
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1

    def render(self, name: str, help_text: str) -> list[str]:
        lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        for bound, count in zip(self.buckets, self.counts):
            lines.append(f'{name}_bucket{{le="{bound}"}} {count}')
        lines.append(f'{name}_bucket{{le="+Inf"}} {self.count}')
        lines.append(f"{name}_sum {self.total}")
        lines.append(f"{name}_count {self.count}")
        return lines


@dataclass
class Metrics:
    verify_steps: int = 0
    sessions_created: int = 0
    evictions: int = 0
    tree_nodes: Histogram = field(default_factory=lambda: Histogram(TREE_SIZE_BUCKETS))
    accepted: Histogram = field(default_factory=lambda: Histogram(ACCEPTED_BUCKETS))
    queue_ms: Histogram = field(default_factory=lambda: Histogram(TIME_BUCKETS_MS))
    forward_ms: Histogram = field(default_factory=lambda: Histogram(TIME_BUCKETS_MS))

    def observe_step(self, tree_nodes: int, accepted: int, queue_ms: float, forward_ms: float) -> None:
        self.verify_steps += 1
        self.tree_nodes.observe(tree_nodes)
        self.accepted.observe(accepted)
        self.queue_ms.observe(queue_ms)
        self.forward_ms.observe(forward_ms)

    def render(self, sessions: int, kv_pages_used: int, kv_pages_total: int) -> str:
        lines = [
            "# HELP edgespec_verify_steps_total Verify steps completed.",
            "# TYPE edgespec_verify_steps_total counter",
            f"edgespec_verify_steps_total {self.verify_steps}",
            "# HELP edgespec_sessions_created_total Sessions created.",
            "# TYPE edgespec_sessions_created_total counter",
            f"edgespec_sessions_created_total {self.sessions_created}",
            "# HELP edgespec_session_evictions_total Sessions evicted (TTL or KV cache full).",
            "# TYPE edgespec_session_evictions_total counter",
            f"edgespec_session_evictions_total {self.evictions}",
            "# HELP edgespec_sessions Live sessions.",
            "# TYPE edgespec_sessions gauge",
            f"edgespec_sessions {sessions}",
            "# HELP edgespec_kv_pages_used KV cache pages in use.",
            "# TYPE edgespec_kv_pages_used gauge",
            f"edgespec_kv_pages_used {kv_pages_used}",
            "# HELP edgespec_kv_pages_total KV cache pages in the pool.",
            "# TYPE edgespec_kv_pages_total gauge",
            f"edgespec_kv_pages_total {kv_pages_total}",
        ]
        lines += self.tree_nodes.render("edgespec_tree_nodes", "Draft tree nodes per verify step.")
        lines += self.accepted.render("edgespec_accepted_length", "Accepted draft tokens per verify step.")
        lines += self.queue_ms.render("edgespec_queue_ms", "Wait for the model lock per request, milliseconds.")
        lines += self.forward_ms.render("edgespec_forward_ms", "Forward time per verify step, milliseconds.")
        return "\n".join(lines) + "\n"
