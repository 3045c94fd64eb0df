import dataclasses

import numpy as np
import pytest
import torch

import train_model
from token_data import WindowSampler
from train_model import ModelShape, TrainSettings

SHAPE = ModelShape(vocab_size=64, hidden_size=32, num_layers=1, num_heads=4, num_kv_heads=2,
                   intermediate_size=64, max_position_embeddings=32)


def repeating_stream() -> np.ndarray:
    # A learnable stream: a fixed 13-token pattern repeated.
    return np.tile(np.arange(3, 16, dtype=np.uint16), 200)


def settings(steps: int) -> TrainSettings:
    return TrainSettings(steps=steps, batch_size=4, seq_len=16, learning_rate=1e-2, min_learning_rate=1e-3,
                         warmup_steps=2, checkpoint_every=2)


def test_training_lowers_loss():
    torch.manual_seed(0)
    model = train_model.build_model(SHAPE, [1])
    summary = train_model.train(model, repeating_stream(), settings(30), None, False, torch.device("cpu"))
    assert summary["steps"] == 30
    assert summary["tokens_seen"] == 30 * 4 * 16
    assert np.mean(summary["losses"][-5:]) < 0.5 * np.mean(summary["losses"][:5])


def test_resumed_run_matches_uninterrupted_run(tmp_path):
    torch.manual_seed(0)
    straight = train_model.build_model(SHAPE, [1])
    train_model.train(straight, repeating_stream(), settings(6), None, False, torch.device("cpu"))

    torch.manual_seed(0)
    first = train_model.build_model(SHAPE, [1])
    checkpoint = tmp_path / "last.pt"
    train_model.train(first, repeating_stream(), settings(6), checkpoint, False, torch.device("cpu"))
    state = torch.load(checkpoint, weights_only=False)
    assert state["step"] == 6

    torch.manual_seed(0)
    interrupted = train_model.build_model(SHAPE, [1])
    train_model.train(interrupted, repeating_stream(), settings(6), checkpoint.with_name("part.pt"), False,
                      torch.device("cpu"), stop_at=3)
    resumed = train_model.build_model(SHAPE, [1])
    train_model.train(resumed, repeating_stream(), settings(6), checkpoint.with_name("part.pt"), True, torch.device("cpu"))
    for (name, expected), actual in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(actual, expected, msg=name)


def test_learning_rate_warms_up_then_decays():
    schedule = settings(30)
    assert train_model.learning_rate_at(0, schedule) == 1e-2 / 2
    assert train_model.learning_rate_at(2, schedule) == pytest.approx(1e-2)
    assert train_model.learning_rate_at(16, schedule) == pytest.approx(5.5e-3)
    assert train_model.learning_rate_at(30, schedule) == pytest.approx(1e-3)


def test_window_sampler_resumes_same_order():
    sampler = WindowSampler(100, 10, seed=7)
    first = sampler.next_starts(15)
    assert sorted(first[:10]) == list(range(0, 100, 10))
    state = sampler.state()
    rest = sampler.next_starts(8)
    restored = WindowSampler(100, 10, seed=7)
    restored.load_state(state)
    assert restored.next_starts(8) == rest


def test_time_budget_drives_decay():
    schedule = dataclasses.replace(settings(1000), time_budget_s=100.0)
    assert train_model.learning_rate_at(5, schedule, elapsed_s=0.0) == pytest.approx(1e-2)
    assert train_model.learning_rate_at(5, schedule, elapsed_s=50.0) == pytest.approx(5.5e-3)
    assert train_model.learning_rate_at(5, schedule, elapsed_s=100.0) == pytest.approx(1e-3)


def test_time_budget_stops_training():
    model = train_model.build_model(SHAPE, [1])
    budget = dataclasses.replace(settings(1000), time_budget_s=1e-9)
    summary = train_model.train(model, repeating_stream(), budget, None, False, torch.device("cpu"))
    assert summary["steps"] == 0
