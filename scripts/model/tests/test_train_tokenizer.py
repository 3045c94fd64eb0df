import json

import train_tokenizer
import tokenizer_format as tf


def test_trained_tokenizer_has_exact_layout(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    texts = [f"document {index}: the value of item_{index} is {index * 7}.\n" * 4 for index in range(60)]
    corpus.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
    train_tokenizer.train_tokenizer(corpus, tmp_path / "out", vocab_size=300)
    encoding, config = tf.load_encoding(tmp_path / "out")

    assert encoding.n_vocab == 300
    assert config.special_tokens == {"<|endoftext|>": 297, "<|im_start|>": 298, "<|im_end|>": 299}
    assert config.eos_tokens == ["<|endoftext|>", "<|im_end|>"]
    assert train_tokenizer.check_round_trip(tmp_path / "out", corpus, 60) < sum(len(t.encode()) for t in texts)
