"""Validation of a session's `attention` object."""

import pytest

from edgespec_gpu.attention_policy import AttentionConfigError, DensePolicy, make_attention_policy
from edgespec_gpu.sparse import (
    AttentionMode,
    InvalidAttentionConfig,
    QuerySelectPolicy,
    RecycledSelectPolicy,
    SinksWindowPolicy,
    SparseAttentionConfig,
    make_policy,
    parse_attention_config,
)


def test_missing_object_is_dense():
    assert parse_attention_config(None) == SparseAttentionConfig()
    assert parse_attention_config(None).mode is AttentionMode.DENSE


def test_all_fields_parse():
    config = parse_attention_config(
        {
            "mode": "recycled_select", "sinks": 2, "window": 30, "page_size": 8, "budget": 96,
            "recycle_steps": 3, "recycle_similarity": 0.5, "dense_below": 0,
        }
    )
    assert config == SparseAttentionConfig(
        mode=AttentionMode.RECYCLED_SELECT, sinks=2, window=30, page_size=8, budget=96,
        recycle_steps=3, recycle_similarity=0.5, dense_below=0,
    )


@pytest.mark.parametrize(
    ("raw", "param", "fragment"),
    [
        ({"mode": "flash"}, "attention.mode", "must be one of"),
        ({"mode": 3}, "attention.mode", "must be one of"),
        ({"page_size": 0}, "attention.page_size", "must be >= 1, got 0"),
        ({"window": -1}, "attention.window", "must be >= 0, got -1"),
        ({"sinks": -4}, "attention.sinks", "must be >= 0, got -4"),
        ({"budget": 100, "sinks": 4, "window": 200}, "attention.budget", "(100) must be >= sinks + window"),
        ({"budget": 0, "sinks": 0, "window": 0}, "attention.budget", "must be >= 1, got 0"),
        ({"recycle_steps": 0}, "attention.recycle_steps", "must be >= 1, got 0"),
        ({"budget": -5}, "attention.budget", "must be >= 1, got -5"),
        ({"recycle_steps": -2}, "attention.recycle_steps", "must be >= 1, got -2"),
        ({"page_size": -3}, "attention.page_size", "must be >= 1, got -3"),
        ({"recycle_similarity": 1.5}, "attention.recycle_similarity", "must be in [-1, 1]"),
        ({"recycle_similarity": float("nan")}, "attention.recycle_similarity", "finite number"),
        ({"window": 2.5}, "attention.window", "must be an integer, got 2.5"),
        ({"window": True}, "attention.window", "must be an integer, got True"),
        ({"dense_below": -1}, "attention.dense_below", "must be >= 0, got -1"),
        ({"budjet": 10}, "attention.budjet", "unknown attention field(s) ['budjet']"),
    ],
)
def test_bad_config_raises(raw, param, fragment):
    with pytest.raises(InvalidAttentionConfig) as raised:
        parse_attention_config(raw)
    assert raised.value.param == param
    assert fragment in str(raised.value)


def test_non_object_raises():
    with pytest.raises(InvalidAttentionConfig) as raised:
        parse_attention_config(["sinks_window"])
    assert raised.value.param == "attention"


MODEL_CONFIG = {"num_key_value_heads": 2, "max_position_embeddings": 1024}


def test_make_policy_picks_class_per_mode():
    assert type(make_policy({"mode": "dense"}, MODEL_CONFIG)) is DensePolicy
    assert type(make_policy(None, MODEL_CONFIG)) is DensePolicy
    assert type(make_policy({"mode": "sinks_window"}, MODEL_CONFIG)) is SinksWindowPolicy
    assert type(make_policy({"mode": "query_select"}, MODEL_CONFIG)) is QuerySelectPolicy
    assert type(make_policy({"mode": "recycled_select"}, MODEL_CONFIG)) is RecycledSelectPolicy
    assert make_policy({"mode": "query_select"}, MODEL_CONFIG).num_kv_heads == 2


def test_service_hook_maps_bad_config_to_its_error():
    with pytest.raises(AttentionConfigError, match="attention.page_size must be >= 1, got 0"):
        make_attention_policy({"mode": "query_select", "page_size": 0}, MODEL_CONFIG)
    assert type(make_attention_policy({"mode": "sinks_window"}, MODEL_CONFIG)) is SinksWindowPolicy
