import json

from tokenizers import Tokenizer

import convert_tokenizer
import tokenizer_format as tf
import train_tokenizer

TRAINING_TEXT = [
    "The quick brown fox jumps over the lazy dog. " * 3,
    "def function(argument):\n    return argument + 1\n" * 3,
    "Größe und Übermaß, schön und süß. 日本語のテキスト。 emoji 🙂🙂",
    "numbers 12345 67890 and 3.14159, spaces   and\ttabs\r\n",
]
PROBES = [
    "The lazy fox returns.",
    "def other(x):\n        return x * 2  # note",
    "süße Größe 日本 🙂 🇩🇪",
    "  leading and trailing   ",
    "1234567 + 89",
]


def train_small_hf(special: list[str]) -> Tokenizer:
    tokenizer = train_tokenizer.train_hf_bpe(iter(TRAINING_TEXT * 5), 400, tf.CL100K_PATTERN)
    tokenizer.add_special_tokens(special)
    return tokenizer


def test_hf_conversion_matches_hf_ids(tmp_path):
    hf = train_small_hf(["<|endoftext|>"])
    (tmp_path / "tokenizer.json").write_text(hf.to_str())
    ranks, config = convert_tokenizer.convert_hf(tmp_path / "tokenizer.json", ["<|endoftext|>"])
    tf.write_tokenizer(tmp_path / "out", ranks, config)
    encoding, _ = tf.load_encoding(tmp_path / "out")

    assert config.pattern == tf.CL100K_PATTERN
    assert config.special_tokens == {"<|endoftext|>": 400}
    for text in PROBES:
        expected = hf.encode(text, add_special_tokens=False).ids
        assert encoding.encode_ordinary(text) == expected, text


def test_hf_conversion_keeps_special_ids():
    hf = train_small_hf(["<|im_start|>", "<|im_end|>"])
    ranks, special = convert_tokenizer.ranks_from_hf(json.loads(hf.to_str()))
    assert special == {"<|im_start|>": 400, "<|im_end|>": 401}
    assert len(ranks) == 400
    assert all(bytes([byte]) in ranks for byte in range(256))


def test_hf_conversion_picks_chatml_template(tmp_path):
    hf = train_small_hf(["<|im_start|>", "<|im_end|>"])
    (tmp_path / "tokenizer.json").write_text(hf.to_str())
    _, config = convert_tokenizer.convert_hf(tmp_path / "tokenizer.json", ["<|im_end|>"])
    assert config.chat_template == tf.CHATML_TEMPLATE


def test_tiktoken_conversion_uses_llama3_template(tmp_path):
    ranks = {bytes([byte]): byte for byte in range(256)} | {b"he": 256, b"hel": 257}
    tf.write_ranks(tmp_path / "tokenizer.model", ranks)
    special = {"<|begin_of_text|>": 258, "<|end_of_text|>": 259, "<|start_header_id|>": 260,
               "<|end_header_id|>": 261, "<|eot_id|>": 262}
    converted, config = convert_tokenizer.convert_tiktoken(tmp_path / "tokenizer.model", special, ["<|eot_id|>"])
    tf.write_tokenizer(tmp_path / "out", converted, config)
    encoding, loaded = tf.load_encoding(tmp_path / "out")

    assert loaded.bos_token == "<|begin_of_text|>"
    assert loaded.chat_template["bos"] == "<|begin_of_text|>"
    assert encoding.encode_ordinary("hello") == [257, ord("l"), ord("o")]
