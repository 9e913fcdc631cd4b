"""Precise BatchNorm: running statistics recomputed at fixed weights equal the average batch statistics, computed
here by hand from the inputs each BatchNorm layer sees."""

import torch

from pctlib.models.interaction_network import EdgeScorer
from pctlib.training.batchnorm import batchnorm_layers, recalibrate_batchnorm


def test_running_statistics_are_the_average_batch_statistics(data):
    tr, _, norm = data
    frames = [tr[i] for i in range(3)]
    torch.manual_seed(0)
    model = EdgeScorer(x_mean=norm["x_mean"], x_std=norm["x_std"]).eval()
    layers = batchnorm_layers(model)
    assert len(layers) == 6
    seen = {id(bn): [] for bn in layers}
    hooks = [bn.register_forward_hook(lambda m, inp, out: seen[id(m)].append(inp[0].detach().double()))
             for bn in layers]
    with torch.no_grad():
        model.train()
        for g in frames:
            model.logits(g.x, g.edge_index, g.edge_u)
        model.eval()
    for h in hooks:
        h.remove()
    recalibrate_batchnorm([model], frames)
    assert not model.training and all(bn.momentum == 0.1 for bn in layers)
    for bn in layers:
        xs = seen[id(bn)]
        mean = torch.stack([x.mean(0) for x in xs]).mean(0)
        var = torch.stack([x.var(0, unbiased=True) for x in xs]).mean(0)
        assert torch.allclose(bn.running_mean.double(), mean, rtol=1e-4, atol=1e-6)
        assert torch.allclose(bn.running_var.double(), var, rtol=1e-4, atol=1e-6)
        assert int(bn.num_batches_tracked) == len(frames)


def test_shared_encoding_gives_the_same_statistics(data):
    tr, _, norm = data
    frames = [tr[i] for i in range(2)]
    torch.manual_seed(1)
    a = EdgeScorer(x_mean=norm["x_mean"], x_std=norm["x_std"])
    b = EdgeScorer(x_mean=norm["x_mean"], x_std=norm["x_std"])
    b.load_state_dict(a.state_dict())
    other = EdgeScorer(x_mean=norm["x_mean"], x_std=norm["x_std"])
    recalibrate_batchnorm([a], frames)
    recalibrate_batchnorm([b, other], frames)  # b's statistics with an encoding shared with another model
    for k, v in a.state_dict().items():
        assert torch.allclose(v.float(), b.state_dict()[k].float(), rtol=1e-5, atol=1e-7), k
