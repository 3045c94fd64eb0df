"""Every file in protocol-examples/ gets the status and error code it documents from the service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from edgespec_gpu.server import create_app
from service_helpers import make_manager
from test_server import SECRET, SignedClient, create_session

EXAMPLES = Path(__file__).resolve().parents[1] / "protocol-examples"
FILES = sorted(EXAMPLES.glob("*/*.json"))


def test_examples_exist():
    assert len([f for f in FILES if f.parent.name == "valid"]) >= 4
    assert len([f for f in FILES if f.parent.name == "invalid"]) >= 15


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_example(path, tiny_model):
    example = json.loads(path.read_text())
    manager = make_manager(tiny_model, max_session_tokens=8192)
    client = SignedClient(TestClient(create_app(manager, secret=SECRET, model_name="tiny")))
    session_id = create_session(client)
    url = example["path"].replace("{session_id}", session_id)
    if "raw_body" in example:
        body = example["raw_body"].encode()
    elif example["request"] is None:
        body = b""
    else:
        body = json.dumps(example["request"]).encode()

    response = client.request(example["method"], url, body)
    assert response.status_code == example["status"], response.text
    if path.parent.name == "valid":
        actual = response.json()
        assert set(actual) == set(example["response"])
        if "accepted_tokens" in actual:
            assert len(actual["top_k"][0]) == len(example["response"]["top_k"][0])
            assert (actual["logprobs"] is None) == (example["response"]["logprobs"] is None)
            assert len(actual["accepted_tokens"]) == len(actual["accepted_nodes"]) + 1
    else:
        assert response.json()["error"]["code"] == example["error_code"]
        if "committed_len" in example:
            assert response.json()["committed_len"] == example["committed_len"]
