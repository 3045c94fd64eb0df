"""The command line starts a real uvicorn server on 127.0.0.1 and refuses to start without a secret."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from edgespec_gpu.auth import sign

SERVICE_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "EDGESPEC_GPU_SECRET"}
    return {**env, "PYTHONPATH": str(SERVICE_ROOT), **extra}


def test_refuses_to_start_without_secret(saved_llama_folder):
    result = subprocess.run(
        [sys.executable, "-m", "edgespec_gpu", "--model", str(saved_llama_folder), "--port", str(free_port())],
        env=environment(), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "EDGESPEC_GPU_SECRET" in result.stderr


def test_serves_signed_requests(saved_llama_folder):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "edgespec_gpu", "--model", str(saved_llama_folder), "--port", str(port), "--cpu-threads", "1"],
        env=environment(EDGESPEC_GPU_SECRET="cli-secret"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    assert json.load(response) == {"status": "ok"}
                break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()
                assert time.monotonic() < deadline, "service did not become healthy within 90 s"
                time.sleep(0.3)

        body = json.dumps({"tokens": [1, 2, 3]}).encode()
        stamp = str(int(time.time()))
        request = urllib.request.Request(
            f"{base}/v1/sessions", data=body, method="POST",
            headers={"X-EdgeSpec-Timestamp": stamp, "X-EdgeSpec-Signature": sign(b"cli-secret", stamp, "POST", "/v1/sessions", body)},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201
            assert json.load(response)["committed_len"] == 3
    finally:
        server.terminate()
        server.wait(timeout=30)
