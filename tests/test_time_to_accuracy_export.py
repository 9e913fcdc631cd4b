"""The time-to-accuracy study's export (``benchmarks/time_to_accuracy.py``): runs of several CPUs kept apart, a run
measured again on the same CPU replaces its copy, another protocol refused, an export older than the CPU column
read with the CPU its about.json names."""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tta():
    spec = importlib.util.spec_from_file_location("time_to_accuracy", ROOT / "benchmarks" / "time_to_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PROTOCOL = dict(threads=1, jobs=2, horizon_frames=2400, eval_frames=160, train_primaries=20000, val_primaries=2000,
                gpu_reference_purity=0.88, cores=2)


def curves(rows):
    return pd.DataFrame([dict(recipe=r, mode=m, cpu=c, step=s, frames=4 * s, cpu_s=0.5 * s, wall_s=0.6 * s, purity=p,
                              efficiency=p - 0.1) for r, m, c, s, p in rows])


def summary(rows):
    return pd.DataFrame([dict(recipe=r, mode=m, cpu=c, frames=f, best_purity=p) for r, m, c, f, p in rows])


def about(command, cpu, recipes, **changes):
    return {**PROTOCOL, "command": command, "cpus": [cpu], "recipes": {r: {"batch_frames": 4} for r in recipes},
            **changes}


def test_a_first_export_keeps_its_runs_and_its_command(tta):
    c = curves([("cos4", "pat", "Xeon", 40, 0.8)])
    s = summary([("cos4", "pat", "Xeon", 160, 0.8)])
    out_c, out_s, out_a = tta.merge_export(None, c, s, about("one", "Xeon", ["cos4"]))
    assert out_c.equals(c) and out_s.equals(s)
    assert out_a["commands"] == ["one"] and "command" not in out_a and out_a["cpus"] == ["Xeon"]


def test_runs_of_other_cpus_are_kept_apart_and_a_rerun_on_the_same_cpu_replaces_its_copy(tta):
    # an export written before runs carried their CPU: its rows have no cpu column, its about.json one "cpu"
    old_c = curves([("cos4", "ptt", "", 40, 0.85), ("cos4", "pat", "", 40, 0.80), ("cos4", "pat", "", 80, 0.82)])
    old_s = summary([("cos4", "ptt", "", 320, 0.85), ("cos4", "pat", "", 320, 0.82)])
    old = {"curves": old_c.drop(columns="cpu"), "summary": old_s.drop(columns="cpu"),
           "about": {**PROTOCOL, "command": "first", "cpu": "EPYC", "recipes": {"cos4": {"batch_frames": 4}}}}
    new_c = curves([("cos4", "pat", "Xeon", 40, 0.70), ("onecycle8", "pat", "Xeon", 20, 0.75)])
    new_s = summary([("cos4", "pat", "Xeon", 160, 0.70), ("onecycle8", "pat", "Xeon", 160, 0.75)])
    c, s, a = tta.merge_export(old, new_c, new_s, about("second", "Xeon", ["cos4", "onecycle8"]))
    # the EPYC rows are all there, named by their CPU, beside the Xeon ones: 3 + 2 validations, 2 + 2 runs
    assert len(c) == 5 and len(s) == 4
    assert set(map(tuple, s[["recipe", "mode", "cpu"]].to_numpy())) == {
        ("cos4", "ptt", "EPYC"), ("cos4", "pat", "EPYC"), ("cos4", "pat", "Xeon"), ("onecycle8", "pat", "Xeon")}
    assert c[(c.cpu == "EPYC") & (c["mode"] == "pat")].purity.tolist() == [0.80, 0.82]
    assert a["cpus"] == ["EPYC", "Xeon"] and a["commands"] == ["first", "second"]
    assert sorted(a["recipes"]) == ["cos4", "onecycle8"]
    # the same run measured again on the Xeon replaces the Xeon copy only
    again_c = curves([("cos4", "pat", "Xeon", 40, 0.72), ("cos4", "pat", "Xeon", 80, 0.74)])
    again_s = summary([("cos4", "pat", "Xeon", 320, 0.74)])
    c2, s2, a2 = tta.merge_export({"curves": c, "summary": s, "about": a}, again_c, again_s,
                                  about("third", "Xeon", ["cos4"]))
    assert c2[(c2.cpu == "Xeon") & (c2.recipe == "cos4")].purity.tolist() == [0.72, 0.74]
    assert c2[(c2.cpu == "EPYC") & (c2["mode"] == "pat")].purity.tolist() == [0.80, 0.82]
    assert len(s2) == 4 and s2[(s2.cpu == "Xeon") & (s2.recipe == "cos4")].best_purity.tolist() == [0.74]
    assert a2["commands"] == ["first", "second", "third"] and sorted(a2["recipes"]) == ["cos4", "onecycle8"]


@pytest.mark.parametrize("key, value", [("horizon_frames", 4800), ("threads", 2), ("eval_frames", 80),
                                        ("train_primaries", 10000), ("val_primaries", 1000),
                                        ("gpu_reference_purity", 0.9)])
def test_runs_of_another_protocol_are_refused_naming_the_setting(tta, key, value):
    old = {"curves": curves([("cos4", "ptt", "EPYC", 40, 0.85)]), "summary": summary([("cos4", "ptt", "EPYC", 160,
                                                                                        0.85)]),
           "about": {**PROTOCOL, "command": "first", "cpus": ["EPYC"], "recipes": {}}}
    with pytest.raises(ValueError, match=key):
        tta.merge_export(old, curves([("cos4", "pat", "Xeon", 40, 0.7)]), summary([("cos4", "pat", "Xeon", 160, 0.7)]),
                         about("second", "Xeon", ["cos4"], **{key: value}))
