"""``pctlib train --seeds``: several seeds trained together, one run folder each."""

import json

import torch

from pctlib.cli import main


def test_train_several_seeds_together(tmp_path, capsys):
    out = tmp_path / "zoo"
    args = ["train", "--mode", "pat", "--lam", "50", "--steps", "2", "--batch-frames", "1", "--eval-every", "1",
            "--max-val-frames", "1", "--bn-frames", "2", "--phantoms", "200", "--train-primaries", "300",
            "--val-primaries", "200", "--data-root", str(tmp_path / "data"), "--no-progress", "--out", str(out)]
    assert main([*args, "--seeds", "3", "3"]) == 2
    assert "twice" in capsys.readouterr().err
    assert main([*args, "--seeds", "3", "4"]) == 0
    a, b = (torch.load(out / f"seed{s}" / "last.pt", weights_only=True) for s in (3, 4))
    assert a["step"] == b["step"] == 2
    assert not torch.equal(a["model"]["phi_r2.lin2.weight"], b["model"]["phi_r2.lin2.weight"])
    cfgs = [json.loads((out / f"seed{s}" / "config.json").read_text())["train"] for s in (3, 4)]
    assert [c["seed"] for c in cfgs] == [3, 4] and cfgs[0]["data_seed"] == cfgs[1]["data_seed"] == 1
    assert cfgs[0]["bn_frames"] == 2
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {str(out / "seed3"), str(out / "seed4")}
