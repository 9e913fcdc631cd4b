"""The grid runner: executions, manifests, resume, failures, the Ray engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pctlib.cli import main


def run(project: Path, text: str, *extra: str, name: str = "g") -> int:
    path = project / "params" / f"{name}.yaml"
    path.write_text(text)
    return main(["run", str(path), "--no-progress", *extra])


def manifest(project: Path, nb: str, key: str, name: str = "g") -> dict:
    return json.loads((project / "runs" / name / nb / key / "manifest.json").read_text())


GRID = """
notebooks:
  a_square:
    parameters:
      x: [2, 3]
"""


def test_grid_executes_every_point_with_manifest_and_results(project):
    assert run(project, GRID) == 0
    for x in (2, 3):
        m = manifest(project, "a_square", f"x-{x}")
        assert m["status"] == "completed" and m["parameters"] == {"x": x}
        assert m["error"] is None and m["seconds"] > 0 and m["start"] and m["end"]
        assert set(m["git"]) == {"commit", "dirty"}
        out = json.loads((project / "results" / "g" / "a_square" / f"x-{x}" / "out.json").read_text())
        assert out["y"] == x * x
        assert (project / "runs" / "g" / "a_square" / f"x-{x}" / "notebook.ipynb").is_file()
        prov = json.loads((project / "results" / "g" / "a_square" / f"x-{x}" / "provenance.json").read_text())
        assert prov["parameters"] == {"x": x}


def test_resume_skips_completed_and_reruns_changed(project, capsys):
    assert run(project, GRID) == 0
    first = {x: manifest(project, "a_square", f"x-{x}")["start"] for x in (2, 3)}
    capsys.readouterr()
    assert run(project, GRID) == 0
    out = capsys.readouterr().out
    assert "2 skipped" in out
    assert {x: manifest(project, "a_square", f"x-{x}")["start"] for x in (2, 3)} == first
    # a changed (non-axis) parameter reruns both points; the old manifest goes to history.jsonl
    changed = GRID + "      scale: 10.0\n"
    assert run(project, changed) == 0
    out = capsys.readouterr().out
    assert "2 completed" in out
    m = manifest(project, "a_square", "x-2")
    assert m["parameters"] == {"x": 2, "scale": 10.0}
    hist = (project / "runs" / "g" / "a_square" / "x-2" / "history.jsonl").read_text().splitlines()
    assert len(hist) == 1 and json.loads(hist[0])["parameters"] == {"x": 2}
    out_json = json.loads((project / "results" / "g" / "a_square" / "x-2" / "out.json").read_text())
    assert out_json["y"] == 40.0
    # --force reruns even when up to date
    assert run(project, changed, "--force") == 0
    assert "2 completed" in capsys.readouterr().out


def test_changed_notebook_code_reruns(project, capsys):
    text = "notebooks:\n  a_square: {}\n"
    assert run(project, text) == 0
    src = project / "notebooks" / "a_square.py"
    src.write_text(src.read_text() + "\nprint('an added line')\n")
    capsys.readouterr()
    assert run(project, text) == 0
    assert "1 completed" in capsys.readouterr().out


def test_failing_execution_does_not_stop_the_grid(project, capsys):
    text = """
notebooks:
  a_square:
    parameters: {x: 4}
  b_fail:
    parameters:
      fail: [true, false]
"""
    code = run(project, text)
    out = capsys.readouterr().out
    assert code == 1
    bad = manifest(project, "b_fail", "fail-True")
    assert bad["status"] == "failed"
    assert bad["error"]["ename"] == "ValueError" and "asked to fail" in bad["error"]["evalue"]
    assert bad["error"]["cell_index"] is not None and "raise ValueError" in bad["error"]["source"]
    assert manifest(project, "b_fail", "fail-False")["status"] == "completed"
    assert manifest(project, "a_square", "main")["status"] == "completed"
    assert "1 failed" in out and "ValueError: asked to fail" in out and "b_fail/fail-True" in out
    # the failed point is retried on the next run, the completed ones are not
    capsys.readouterr()
    assert run(project, text) == 1
    assert "2 skipped" in capsys.readouterr().out


def test_prepare_injects_parameters_without_executing(project, tmp_path):
    path = project / "params" / "s.yaml"
    path.write_text("notebooks:\n  a_square:\n    parameters: {x: 7}\n")
    assert main(["prepare", str(path), "--out", str(tmp_path / "nb")]) == 0
    nb = json.loads((tmp_path / "nb" / "a_square__main.ipynb").read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and "x = 7" in "".join(injected[0]["source"])
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
    assert not (project / "runs").exists()


def test_ray_engine_runs_grid_inside_run_folder(project, capsys):
    pytest.importorskip("ray", reason="the ray extra is installed by `make test`; without it this engine is untested")
    text = "resources: {num_cpus: 1}\nnotebooks:\n  b_fail:\n    parameters:\n      fail: [true, false]\n"
    code = run(project, text, "--engine", "ray")
    out = capsys.readouterr().out
    assert code == 1
    assert manifest(project, "b_fail", "fail-False")["status"] == "completed"
    assert manifest(project, "b_fail", "fail-True")["status"] == "failed"
    assert "1 failed" in out and "1 completed" in out
    assert (project / "runs" / "g" / ".ray").is_dir()


def test_ray_engine_gives_the_notebooks_landscape_jobs_the_same_cluster(project):
    pytest.importorskip("ray", reason="the ray extra is installed by `make test`; without it this engine is untested")
    from conftest import write_notebook

    write_notebook(project / "notebooks", "c_engine", "", """
        import json, operator, os
        from pathlib import Path
        from pctlib.landscape.jobs import map_jobs, resolve_engine
        values = map_jobs(operator.add, 10, [1, 2, 3], workers=2, engine=None, progress=False)
        Path(results_dir).mkdir(parents=True, exist_ok=True)
        Path(results_dir, "engine.json").write_text(json.dumps(
            {"engine": resolve_engine(None), "values": values, "address": os.environ.get("RAY_ADDRESS")}))
    """)
    assert run(project, "resources: {num_cpus: 1}\nnotebooks:\n  c_engine: {}\n", "--engine", "ray") == 0
    (found,) = list(project.glob("results/**/c_engine/**/engine.json")) or list(project.glob("**/engine.json"))
    info = json.loads(found.read_text())
    assert info["engine"] == "ray" and info["values"] == [11, 12, 13] and info["address"]


def test_a_killed_forced_rerun_leaves_the_previous_results_and_notebook_whole(project):
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import write_notebook

    write_notebook(project / "notebooks", "d_slow", "version = 1\nwait = 0.0", """
        import json, pathlib, time
        p = pathlib.Path(results_dir)
        (p / "table.json").write_text(json.dumps({"version": version}))
        time.sleep(wait)
        (p / "late.json").write_text("{}")
        """)
    pfile = project / "params" / "s.yaml"
    pfile.write_text("notebooks:\n  d_slow:\n    parameters: {version: 1}\n")
    assert main(["run", str(pfile), "--no-progress"]) == 0
    res = project / "results" / "s" / "d_slow"
    nb = project / "runs" / "s" / "d_slow" / "main" / "notebook.ipynb"
    first = (json.loads((res / "table.json").read_text()), (res / "provenance.json").read_text(), nb.read_text())
    pfile.write_text("notebooks:\n  d_slow:\n    parameters: {version: 2, wait: 60.0}\n")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "pctlib"), "run", str(pfile), "--no-progress",
                             "--force"], cwd=project, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not list(res.parent.glob("d_slow.staging-*/table.json")):
        time.sleep(0.2)
    assert list(res.parent.glob("d_slow.staging-*/table.json")), "the rerun never started writing"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # the previous results, provenance and notebook are untouched and whole
    assert (json.loads((res / "table.json").read_text()), (res / "provenance.json").read_text(),
            nb.read_text()) == first
    assert sorted(p.name for p in res.iterdir()) == ["late.json", "provenance.json", "table.json"]
    # the next run removes the leftovers and completes; results and notebook now are the new ones
    pfile.write_text("notebooks:\n  d_slow:\n    parameters: {version: 2}\n")
    assert main(["run", str(pfile), "--no-progress"]) == 0
    assert json.loads((res / "table.json").read_text()) == {"version": 2}
    assert not [p for p in res.parent.iterdir() if ".staging-" in p.name or ".old-" in p.name]
    text = nb.read_text()
    assert '"results/s/d_slow"' in text.replace("\\\\", "") or "results/s/d_slow" in text
    assert ".staging-" not in text


def test_a_rerun_keeps_what_others_left_in_the_results_folder(project):
    pfile = project / "params" / "k.yaml"
    pfile.write_text("notebooks:\n  a_square:\n    parameters: {x: 2}\n")
    assert main(["run", str(pfile), "--no-progress"]) == 0
    res = project / "results" / "k" / "a_square"
    (res / "gpu_check").mkdir()
    (res / "gpu_check" / "README.md").write_text("made by a benchmark script")
    (res / "note.txt").write_text("kept")
    pfile.write_text("notebooks:\n  a_square:\n    parameters: {x: 3}\n")
    assert main(["run", str(pfile), "--no-progress"]) == 0
    assert json.loads((res / "out.json").read_text())["y"] == 9
    assert (res / "gpu_check" / "README.md").read_text() == "made by a benchmark script"
    assert (res / "note.txt").read_text() == "kept"


def test_a_kill_between_the_two_renames_of_the_swap_is_recovered(tmp_path):
    """The previous results renamed away (NAME.old-*), the new ones not yet in place: the next execution renames
    the old folder back, with everything in it, instead of deleting it as a leftover."""
    from pctlib.runner.execute import recover_leftovers

    res = tmp_path / "results" / "ch"
    old = res.with_name("ch.old-1a2b3c4d")
    (old / "sub").mkdir(parents=True)
    (old / "table.csv").write_text("a,b\n1,2\n")
    (old / "sub" / "kept_by_someone_else.txt").write_text("x")
    (res.with_name("ch.staging-9f9f9f9f")).mkdir()
    assert recover_leftovers(res) == old
    assert (res / "table.csv").read_text() == "a,b\n1,2\n" and (res / "sub" / "kept_by_someone_else.txt").is_file()
    assert sorted(p.name for p in res.parent.iterdir()) == ["ch"]
    # a kill after the swap, before the removal: the results in place stay, the old copy goes
    old.mkdir()
    (old / "table.csv").write_text("older")
    assert recover_leftovers(res) is None
    assert (res / "table.csv").read_text() == "a,b\n1,2\n" and sorted(p.name for p in res.parent.iterdir()) == ["ch"]
