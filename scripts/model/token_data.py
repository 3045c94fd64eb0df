"""Token streams for training and evaluation, and the resumable window sampler."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tiktoken


def load_token_stream(corpus: Path, encoding: tiktoken.Encoding, end_of_text: int) -> np.ndarray:
    """Encode every document of a JSONL corpus, each followed by ``end_of_text``, into one uint16 array.

    Documents are encoded as ordinary text, so a literal ``<|endoftext|>`` inside a document is
    plain text and never the control id.
    """
    if encoding.n_vocab > np.iinfo(np.uint16).max + 1:
        raise ValueError(f"vocabulary of {encoding.n_vocab} ids does not fit uint16")
    with corpus.open(encoding="utf-8") as file:
        texts = [json.loads(line)["text"] for line in file]
    encoded = encoding.encode_ordinary_batch(texts)
    pieces = [np.asarray(ids + [end_of_text], dtype=np.uint16) for ids in encoded]
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.uint16)


class WindowSampler:
    """Yield start offsets of non-overlapping windows, each epoch in a new seeded random order.

    The state (epoch, index into that epoch's order) is all a resumed run needs to continue with
    the same windows the interrupted run would have used.
    """

    def __init__(self, stream_length: int, window_length: int, seed: int) -> None:
        self.window_count = stream_length // window_length
        if self.window_count == 0:
            raise ValueError(f"stream of {stream_length} tokens is shorter than one window of {window_length}")
        self.window_length = window_length
        self.seed = seed
        self.epoch = 0
        self.index = 0
        self._order = self._order_for(0)

    def _order_for(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.window_count)

    def next_starts(self, count: int) -> list[int]:
        starts = []
        for _ in range(count):
            if self.index == self.window_count:
                self.epoch += 1
                self.index = 0
                self._order = self._order_for(self.epoch)
            starts.append(int(self._order[self.index]) * self.window_length)
            self.index += 1
        return starts

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index}

    def load_state(self, state: dict[str, int]) -> None:
        self.epoch, self.index = int(state["epoch"]), int(state["index"])
        self._order = self._order_for(self.epoch)
