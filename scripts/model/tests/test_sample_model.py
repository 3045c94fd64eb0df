import torch

import sample_model
import train_model
from train_model import ModelShape

SHAPE = ModelShape(vocab_size=64, hidden_size=32, num_layers=1, num_heads=4, num_kv_heads=2,
                   intermediate_size=64, max_position_embeddings=64)


def test_greedy_continuation_matches_generate():
    torch.manual_seed(0)
    model = train_model.build_model(SHAPE, [63]).eval()
    prompt = [5, 9, 17, 3]
    ours = sample_model.greedy_continuation(model, prompt, 12, eos_ids=[])
    generated = model.generate(torch.tensor([prompt]), max_new_tokens=12, min_new_tokens=12, do_sample=False)
    assert ours == generated[0, len(prompt):].tolist()


def test_greedy_continuation_stops_at_eos():
    torch.manual_seed(0)
    model = train_model.build_model(SHAPE, [63]).eval()
    first = sample_model.greedy_continuation(model, [5, 9], 1, eos_ids=[])[0]
    assert sample_model.greedy_continuation(model, [5, 9], 10, eos_ids=[first]) == [first]
