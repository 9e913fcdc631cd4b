"""Learned graph construction: the contrastive losses on hand-computed cases, alignment and uniformity by
definition, the kNN segments against brute force."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pctlib.graphs.learned import alignment, hinge_losses, info_nce_loss, knn_between_layers, uniformity

# four hits on a line, two particles: {0, 1} at 0 and 1, {2, 3} at 3 and 4
H = torch.tensor([[0.0], [1.0], [3.0], [4.0]], dtype=torch.float64)
ATT = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
REP = torch.tensor([[0, 0, 1, 1, 2, 2, 3, 3], [2, 3, 2, 3, 0, 1, 0, 1]])


def test_info_nce_on_a_four_point_batch_by_hand():
    tau = 2.0
    # anchor 0: positive at distance² 1, negatives at 9 and 16; anchor 1: 1 | 4, 9; anchor 2: 1 | 9, 4; 3: 1 | 16, 9
    negatives = {0: (9, 16), 1: (4, 9), 2: (9, 4), 3: (16, 9)}
    want = np.mean([-math.log(math.exp(-1 / tau) / (math.exp(-1 / tau) + sum(math.exp(-d / tau) for d in negs)))
                    for negs in negatives.values()])
    assert float(info_nce_loss(H, ATT, REP, tau)) == pytest.approx(want, rel=1e-12)
    # tau -> infinity: every logit -> 0, each pair's loss -> log(1 + its anchor's 2 negatives)
    assert float(info_nce_loss(H, ATT, REP, 1e9)) == pytest.approx(math.log(3), rel=1e-6)
    # an anchor without negatives contributes 0; no attractive pair: 0
    assert float(info_nce_loss(H, ATT[:, :1], REP[:, 2:], 1.0)) == 0.0
    assert float(info_nce_loss(H, ATT[:, :0], REP, 1.0)) == 0.0
    with pytest.raises(ValueError, match="tau must be positive"):
        info_nce_loss(H, ATT, REP, 0.0)
    # far-apart logits (tau small) stay finite: the log-sum-exp is shifted
    assert math.isfinite(float(info_nce_loss(H * 100, ATT, REP, 0.01)))


def test_info_nce_gradient_pulls_positives_together():
    h = H.clone().requires_grad_(True)
    info_nce_loss(h, ATT, REP, 2.0).backward()
    # hit 1 (at 1): its positive (at 0) pulls it left and its negatives (at 3, 4) push it left, so descent (-grad)
    # moves it left: grad > 0; hit 2 (at 3) is the mirror image: grad < 0
    assert float(h.grad[1]) > 0 and float(h.grad[2]) < 0


def test_hinge_losses_by_hand():
    l_att, l_rep = hinge_losses(H, ATT, REP)
    assert float(l_att) == pytest.approx(1.0)  # every attractive pair at distance² 1
    assert float(l_rep) == pytest.approx(0.0)  # every repulsive pair beyond the margin (distance² ≥ 4 > 1)
    l_att, l_rep = hinge_losses(H, ATT, REP, margin=2.5)  # margin² 6.25: pairs at 4 count 2.25, at 9/16 nothing
    assert float(l_rep) == pytest.approx(2 * 2.25 / 8)
    h = torch.tensor([[0.0, 0.0], [0.3, 0.4]])
    l_att, l_rep = hinge_losses(h, torch.tensor([[0], [1]]), torch.tensor([[0], [1]]))
    assert (float(l_att), float(l_rep)) == pytest.approx((0.25, 0.75))
    empty = torch.zeros((2, 0), dtype=torch.long)
    assert [float(x) for x in hinge_losses(h, empty, empty)] == [0.0, 0.0]


def test_alignment_and_uniformity_by_definition():
    assert alignment(H, ATT) == pytest.approx(1.0) and alignment(H, ATT, alpha=1) == pytest.approx(1.0)
    assert math.isnan(alignment(H, ATT[:, :0]))
    d2 = [1, 9, 16, 4, 9, 1]  # all six pairs of H
    assert uniformity(H, t=0.5) == pytest.approx(math.log(np.mean([math.exp(-0.5 * d) for d in d2])), rel=1e-12)
    assert math.isnan(uniformity(H[:1]))


def test_knn_between_layers_equals_brute_force():
    rng = np.random.default_rng(0)
    h = rng.standard_normal((40, 3))
    layer = rng.integers(0, 4, 40)
    layer[layer == 2] = 3  # a missing layer: no segments from 1, none into 2
    for k in (1, 3, 50):
        got = knn_between_layers(h, layer, k)
        want = []
        for i in range(len(h)):
            nxt = np.flatnonzero(layer == layer[i] + 1)
            order = nxt[np.argsort(np.linalg.norm(h[nxt] - h[i], axis=1), kind="stable")][:k]
            want += [(i, j) for j in order]
        assert [tuple(e) for e in got.T] == want
    assert knn_between_layers(h, np.zeros(40, int), 2).shape == (2, 0)
    with pytest.raises(ValueError, match="k must be"):
        knn_between_layers(h, layer, 0)


def test_hit_classes_on_a_hand_made_hit_table():
    from pctlib.io.hit_table import HIT_CLASSES, HIT_DTYPE, hit_classes

    hits = np.zeros(5, HIT_DTYPE)
    hits["eventID"] = [0, 0, 1, 0, 2]  # a noise hit keeps its frame's first eventID
    hits["trackID"] = [1, 3, 1, -1, 7]
    hits["parentID"] = [0, 1, 0, -1, 5]  # event 2's hit: a secondary of a secondary
    assert [HIT_CLASSES[c] for c in hit_classes(hits)] == ["primary", "secondary", "primary", "noise", "secondary"]


def test_simulated_noise_and_secondaries_are_classed():
    from pctlib.io.hit_table import hit_classes
    from pctlib.physics.geometry import load_geometry
    from pctlib.physics.simulate import Digitisation, Simulator

    root = Path(__file__).resolve().parents[1]
    geo = load_geometry(root / "params" / "geometry" / "bergen_dtc.yaml").with_phantom(100.0)
    d = Digitisation(pixel_clusters=True, frame_primaries=50, noise_rate=1e-7, min_cluster_size=1)
    h = Simulator(geo, digitisation=d).run(100, seed=3, progress=False).hits
    c = hit_classes(h)
    assert np.array_equal(c == 2, h["trackID"] == -1) and (c == 2).sum() > 0
    assert np.array_equal(c == 0, (h["parentID"] == 0) & (h["trackID"] == 1))
    quiet = Simulator(geo).run(100, seed=3, progress=False).hits
    assert (hit_classes(quiet) != 2).all() and (hit_classes(quiet) == 1).sum() > 0  # secondaries, no noise


def test_embedding_training_is_the_same_in_separate_processes(tmp_path):
    """A seed fixes the trained embedding on the CPU: three fresh processes (two threads each) give one digest, on
    frames of the real size (2,400 hits, 15,000 pairs). Gathering the pairs by advanced indexing gave another digest
    in every one of six such processes: its backward accumulates in thread order."""
    import subprocess
    import sys

    code = (
        "import torch, numpy as np\n"
        "from pctlib.graphs.learned import EmbeddingConfig, fit_embedding\n"
        "from pctlib.io.hit_table import HIT_DTYPE\n"
        "torch.set_num_threads(2)\n"
        "rng = np.random.default_rng(0)\n"
        "frames = []\n"
        "for f in range(6):\n"
        "    n = 2400\n"
        "    h = np.zeros(n, HIT_DTYPE)\n"
        "    h['layer'] = np.repeat(np.arange(8), n // 8)\n"
        "    h['posX'], h['posY'] = rng.normal(0, 20, n), rng.normal(0, 20, n)\n"
        "    h['posZ'], h['edep'] = h['layer'] * 5.5, rng.uniform(0.01, 0.1, n)\n"
        "    src = rng.integers(0, n - 400, 15000); dst = np.minimum(src + rng.integers(300, 400, 15000), n - 1)\n"
        "    frames.append((h, np.stack([src, dst]), (rng.random(15000) < 0.2).astype(float)))\n"
        "for loss in ('hinge', 'infonce'):\n"
        "    print(fit_embedding(frames, EmbeddingConfig(loss=loss, epochs=3), progress=False).digest())\n"
    )
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(3)}
    assert len(outs) == 1, outs
