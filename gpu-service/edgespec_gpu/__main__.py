"""Command line: `python -m edgespec_gpu --model DIR [--host 127.0.0.1] [--port 8400] ...`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import torch
import uvicorn

from edgespec_gpu.kv_cache import PagedKVCache
from edgespec_gpu.loader import load_model
from edgespec_gpu.model.numerics import NumericsMode
from edgespec_gpu.server import create_app
from edgespec_gpu.sessions import Limits, SessionManager

logger = logging.getLogger("edgespec_gpu")
SECRET_ENV = "EDGESPEC_GPU_SECRET"


def parse_args(argv: list[str]) -> argparse.Namespace:
    defaults = Limits()
    parser = argparse.ArgumentParser(prog="python -m edgespec_gpu", description="Run the edgespec GPU verification service.")
    parser.add_argument("--model", required=True, type=Path, help="Hugging Face model folder (config.json + safetensors)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8400, help="TCP port (default 8400)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="weights and KV dtype (default: float32 on CPU, bfloat16 on CUDA)")
    parser.add_argument("--numerics", choices=[mode.value for mode in NumericsMode], help="forward numerics (default: batch_invariant on CPU, fast on CUDA)")
    parser.add_argument("--kv-memory-mib", type=int, default=1024, help="KV cache memory budget in MiB (default 1024)")
    parser.add_argument("--page-size", type=int, default=16, help="KV cache page size in positions (default 16)")
    parser.add_argument("--max-tree-nodes", type=int, default=defaults.max_tree_nodes, help="max nodes per draft tree")
    parser.add_argument("--max-tree-depth", type=int, default=defaults.max_tree_depth, help="max draft tree depth")
    parser.add_argument("--max-top-k", type=int, default=defaults.max_top_k, help="max top_k per request")
    parser.add_argument("--max-session-tokens", type=int, default=defaults.max_session_tokens, help="max committed tokens per session")
    parser.add_argument("--max-body-bytes", type=int, default=defaults.max_body_bytes, help="max request body size in bytes")
    parser.add_argument("--session-ttl-s", type=float, default=defaults.session_ttl_s, help="evict sessions idle this many seconds")
    parser.add_argument("--cpu-threads", type=int, help="torch intra-op threads on CPU (default: torch's choice)")
    parser.add_argument("--insecure-no-auth", action="store_true", help=f"run without {SECRET_ENV} (no request signatures; local use only)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    secret = os.environ.get(SECRET_ENV)
    if not secret and not args.insecure_no_auth:
        print(f"error: set {SECRET_ENV} (shared with the edge) or pass --insecure-no-auth for local experiments", file=sys.stderr)
        return 2
    if args.insecure_no_auth:
        logger.warning("authentication disabled by --insecure-no-auth")

    if args.cpu_threads is not None:
        torch.set_num_threads(args.cpu_threads)
    dtype_name = args.dtype or ("float32" if args.device == "cpu" else "bfloat16")
    dtype = getattr(torch, dtype_name)
    max_positions = args.max_session_tokens
    model = load_model(args.model, device=args.device, dtype=dtype, max_positions=max_positions)
    model.mode = NumericsMode(args.numerics or ("batch_invariant" if args.device == "cpu" else "fast"))
    config = model.config
    cache = PagedKVCache(
        num_layers=config.num_hidden_layers, num_kv_heads=config.num_key_value_heads, head_dim=config.head_dim,
        page_size=args.page_size, memory_bytes=args.kv_memory_mib << 20, dtype=dtype, device=args.device,
    )
    limits = Limits(
        max_tree_nodes=args.max_tree_nodes, max_tree_depth=args.max_tree_depth, max_top_k=args.max_top_k,
        max_session_tokens=args.max_session_tokens, max_body_bytes=args.max_body_bytes, session_ttl_s=args.session_ttl_s,
    )
    manager = SessionManager(model, cache, limits)
    app = create_app(manager, secret=None if args.insecure_no_auth else secret.encode(), model_name=args.model.name)
    logger.info(
        "serving %s (%s, %s, %s numerics, %d KV pages) on %s:%d",
        args.model, args.device, dtype_name, model.mode.value, cache.num_pages, args.host, args.port,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
