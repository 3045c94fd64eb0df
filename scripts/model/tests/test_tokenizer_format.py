import json

import pytest

import tokenizer_format as tf


def byte_ranks() -> dict[bytes, int]:
    return {bytes([byte]): byte for byte in range(256)}


def config_json(**overrides):
    config = tf.TokenizerConfig(tf.CL100K_PATTERN, {"<|endoftext|>": 256}, ["<|endoftext|>"]).to_json()
    config.update(overrides)
    return config


def test_ranks_file_round_trips(tmp_path):
    ranks = byte_ranks() | {b"ab": 256, b"abc": 257}
    tf.write_ranks(tmp_path / "r.tiktoken", ranks)
    assert tf.read_ranks(tmp_path / "r.tiktoken") == ranks
    assert (tmp_path / "r.tiktoken").read_text().splitlines()[256] == "YWI= 256"


def test_read_ranks_rejects_gap(tmp_path):
    (tmp_path / "r.tiktoken").write_text("YQ== 0\nYg== 2\n")
    with pytest.raises(tf.TokenizerFormatError, match=r"missing e.g. \[1\]"):
        tf.read_ranks(tmp_path / "r.tiktoken")


def test_read_ranks_rejects_bad_line(tmp_path):
    (tmp_path / "r.tiktoken").write_text("YQ==\n")
    with pytest.raises(tf.TokenizerFormatError, match="r.tiktoken:1: expected 'BASE64 RANK'"):
        tf.read_ranks(tmp_path / "r.tiktoken")


def test_parse_config_rejects_out_of_range_id():
    with pytest.raises(tf.TokenizerFormatError, match=r"id 300, outside \[0, 257\)"):
        tf.parse_config(config_json(special_tokens={"<|endoftext|>": 300}), 257)


def test_parse_config_rejects_duplicate_ids():
    with pytest.raises(tf.TokenizerFormatError, match="must be distinct"):
        tf.parse_config(config_json(special_tokens={"<|a|>": 256, "<|b|>": 256}, eos_tokens=["<|a|>"]), 258)


def test_parse_config_rejects_unknown_eos():
    with pytest.raises(tf.TokenizerFormatError, match="eos_tokens"):
        tf.parse_config(config_json(eos_tokens=["</s>"]), 257)


def test_load_encoding_treats_special_text_as_ordinary(tmp_path):
    tf.write_tokenizer(tmp_path, byte_ranks(), tf.TokenizerConfig(tf.CL100K_PATTERN, {"<|endoftext|>": 256}, ["<|endoftext|>"]))
    encoding, config = tf.load_encoding(tmp_path)
    assert encoding.n_vocab == 257
    assert encoding.encode_ordinary("<|endoftext|>") == list(b"<|endoftext|>")
    assert encoding.encode("<|endoftext|>", allowed_special="all") == [256]
    assert json.loads((tmp_path / tf.CONFIG_FILE).read_text())["format"] == "edgespec-tokenizer-v1"
    assert config.eos_tokens == ["<|endoftext|>"]
