"""HTTP API: authentication, every bad input's error, and a session left unchanged after errors."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from edgespec_gpu.auth import sign
from edgespec_gpu.server import create_app
from service_helpers import make_manager

SECRET = b"test-secret"


class SignedClient:
    """A TestClient that signs every request like the edge does."""

    def __init__(self, client: TestClient, secret: bytes = SECRET) -> None:
        self.client = client
        self.secret = secret

    def request(self, method: str, path: str, body: bytes = b"", timestamp: int | None = None, headers=None):
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signed = {
            "X-EdgeSpec-Timestamp": stamp,
            "X-EdgeSpec-Signature": sign(self.secret, stamp, method, path, body),
            "Content-Type": "application/json",
        }
        return self.client.request(method, path, content=body, headers={**signed, **(headers or {})})

    def post(self, path: str, payload) -> object:
        return self.request("POST", path, json.dumps(payload).encode())


@pytest.fixture
def manager(tiny_model):
    return make_manager(tiny_model, max_body_bytes=200_000)


@pytest.fixture
def client(manager):
    return SignedClient(TestClient(create_app(manager, secret=SECRET, model_name="tiny")))


def create_session(client: SignedClient, tokens=(1, 2, 3)) -> str:
    response = client.post("/v1/sessions", {"tokens": list(tokens)})
    assert response.status_code == 201, response.text
    return response.json()["session_id"]


def test_healthz_needs_no_signature(client):
    response = client.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_signature"),
        ({"X-EdgeSpec-Timestamp": "NOW", "X-EdgeSpec-Signature": "v1=00"}, "invalid_signature"),
        ({"X-EdgeSpec-Signature": "v1=" + "0" * 64}, "invalid_signature"),
    ],
)
def test_unsigned_or_badly_signed_gets_401(client, headers, code):
    body = json.dumps({"tokens": [1, 2, 3]}).encode()
    if "X-EdgeSpec-Timestamp" not in headers and headers:
        headers = {"X-EdgeSpec-Timestamp": str(int(time.time())), **headers}
    response = client.client.post("/v1/sessions", content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert response.json()["error"]["code"] == code


def test_signature_with_other_secret_gets_401(client):
    response = SignedClient(client.client, secret=b"other").post("/v1/sessions", {"tokens": [1]})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"


@pytest.mark.parametrize("timestamp", [b"9" * 400, b"\xb2", b"1e10", b"-1"])
def test_malformed_timestamp_gets_401(client, timestamp):
    # "\xb2" reaches the service as "²", which str.isdigit() accepts and int() rejects.
    response = client.request("GET", "/v1/model", headers={"X-EdgeSpec-Timestamp": timestamp})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"


def test_stale_timestamp_gets_401(client):
    response = client.request("GET", "/v1/model", timestamp=int(time.time()) - 301)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "stale_timestamp"


def test_model_info(client, manager):
    response = client.request("GET", "/v1/model")
    assert response.status_code == 200
    info = response.json()
    assert info["vocab_size"] == 256
    assert info["max_context"] == 512
    assert info["dtype"] == "float32"
    assert info["limits"] == {"max_tree_nodes": 128, "max_tree_depth": 32, "max_top_k": 16, "max_session_tokens": 16384}


def test_verify_and_delete_flow(client):
    session_id = create_session(client)
    path = f"/v1/sessions/{session_id}/verify"
    response = client.post(path, {"base_len": 3, "tree": {"tokens": [5, 6], "parents": [-1, 0]}, "top_k": 4, "logprobs": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["accepted_tokens"]) == len(body["accepted_nodes"]) + 1
    assert body["committed_len"] == 3 + len(body["accepted_tokens"])
    assert all(len(row) == 4 for row in body["top_k"])
    assert all(value <= 0 for value in body["logprobs"])
    assert set(body["timings"]) == {"queue_ms", "forward_ms", "total_ms"}

    assert client.request("DELETE", f"/v1/sessions/{session_id}").json() == {"deleted": True}
    again = client.request("DELETE", f"/v1/sessions/{session_id}")
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "session_not_found"


BAD_VERIFY_BODIES = [
    (b'{"base_len": 3,', "invalid_json"),
    (b"[1, 2]", "invalid_json"),
    (b'{"base_len": 3, "tree": {"tokens": [1, 2], "parents": [-1, 1]}}', "invalid_tree"),
    (b'{"base_len": 3, "tree": {"tokens": [1], "parents": [-2]}}', "invalid_tree"),
    (b'{"base_len": 3, "tree": {"tokens": [1, 1], "parents": [-1, -1]}}', "invalid_tree"),
    (b'{"base_len": 3, "tree": {"tokens": [256], "parents": [-1]}}', "token_out_of_range"),
    (b'{"base_len": 3, "append": [999]}', "token_out_of_range"),
    (json.dumps({"base_len": 3, "tree": {"tokens": list(range(129)), "parents": [-1] * 129}}).encode(), "tree_too_large"),
    (json.dumps({"base_len": 3, "tree": {"tokens": [1] * 33, "parents": list(range(-1, 32))}}).encode(), "tree_too_deep"),
    (json.dumps({"base_len": 3, "append": [1] * 600}).encode(), "context_overflow"),
    (b'{"base_len": 3, "sampling": {"temperature": NaN}}', "invalid_sampling"),
    (b'{"base_len": 3, "sampling": {"temperature": -1}}', "invalid_sampling"),
    (b'{"base_len": 3, "sampling": {"temperature": 1, "top_p": 0}}', "invalid_sampling"),
    (b'{"base_len": 3, "sampling": {"temperature": 1, "top_p": 1.01}}', "invalid_sampling"),
    (b'{"base_len": 3, "sampling": {"seed": "x"}}', "invalid_sampling"),
    (b'{"base_len": 3, "top_k": 17}', "invalid_field"),
    (b'{"base_len": -1}', "invalid_field"),
    (b'{"base_len": 3, "surprise": 1}', "invalid_field"),
]


@pytest.mark.parametrize(("body", "code"), BAD_VERIFY_BODIES)
def test_bad_verify_gets_400_and_session_unchanged(client, manager, body, code):
    session_id = create_session(client)
    response = client.request("POST", f"/v1/sessions/{session_id}/verify", body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["code"] == code
    session = manager.session(session_id)
    assert session.tokens == [1, 2, 3]
    assert session.kv_len == 2


def test_base_len_mismatch_gets_409_with_committed_len(client):
    session_id = create_session(client)
    response = client.post(f"/v1/sessions/{session_id}/verify", {"base_len": 7})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "base_len_mismatch"
    assert response.json()["committed_len"] == 3


def test_evicted_session_gets_409_then_resend_works(client, manager):
    session_id = create_session(client)
    manager.evict(session_id, "test")
    response = client.post(f"/v1/sessions/{session_id}/verify", {"base_len": 3})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "session_evicted"
    assert response.json()["committed_len"] == 0
    resent = client.post(f"/v1/sessions/{session_id}/verify", {"base_len": 0, "append": [1, 2, 3]})
    assert resent.status_code == 200
    assert resent.json()["committed_len"] == 4


def test_unknown_session_gets_404(client):
    response = client.post("/v1/sessions/s-nope/verify", {"base_len": 0})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "session_not_found"


def test_unknown_route_gets_protocol_error(client):
    response = client.request("GET", "/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"type": "not_found_error", "code": "route_not_found", "message": "no route for GET /v1/nothing-here"}
    }


def test_wrong_method_gets_405(client):
    response = client.request("PUT", "/v1/sessions")
    assert response.status_code == 405
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_body_too_large_gets_413(client):
    body = json.dumps({"tokens": [1] * 100_000}).encode()
    response = client.request("POST", "/v1/sessions", body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"tokens": []}, "invalid_field"),
        ({"tokens": [1, 2.5]}, "invalid_field"),
        ({"tokens": [300]}, "token_out_of_range"),
        ({"tokens": [1], "attention": {"mode": "telepathy"}}, "invalid_attention"),
        ({"tokens": [1], "attention": "dense"}, "invalid_attention"),
        ({"tokens": [1] * 600}, "context_overflow"),
    ],
)
def test_bad_create_gets_400(client, manager, payload, code):
    response = client.post("/v1/sessions", payload)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert manager.session_count == 0


def test_deeply_nested_body_gets_400(client, manager):
    body = b'{"tokens": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = client.request("POST", "/v1/sessions", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert manager.session_count == 0


def test_metrics_exposition(client):
    session_id = create_session(client)
    client.post(f"/v1/sessions/{session_id}/verify", {"base_len": 3})
    text = client.request("GET", "/metrics").text
    assert "edgespec_verify_steps_total 1\n" in text
    assert "edgespec_sessions 1\n" in text
    assert 'edgespec_tree_nodes_bucket{le="0"} 1\n' in text
    assert "edgespec_kv_pages_used 1\n" in text


def test_kv_cache_full_gets_503(tiny_model):
    manager = make_manager(tiny_model, memory_bytes=2 * 4096)  # 2 pages of 16 positions
    client = SignedClient(TestClient(create_app(manager, secret=SECRET, model_name="tiny")))
    response = client.post("/v1/sessions", {"tokens": list(range(60))})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "kv_cache_full"
    assert manager.cache.used_pages == 0
