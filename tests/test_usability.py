"""Using pctlib as a newcomer would: start-up time of the command line, params files outside the repository,
quiet notebook executions, paired notebooks, and what the book shows a reader."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import write_notebook
from pctlib.cli import main
from pctlib.runner.book import for_reader

ROOT = Path(__file__).resolve().parents[1]
PCTLIB = Path(sys.executable).parent / "pctlib"
HEAVY = ("jupytext", "nbformat", "papermill", "nbclient", "torch", "pandas")


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


@pytest.mark.parametrize("argv", [["--help"], ["simulate", "--help"], ["run", "--help"], ["train", "--help"]])
def test_command_line_imports_nothing_heavy_before_it_is_needed(argv):
    code = f"from pctlib.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    loaded = _modules_after(code)
    assert not loaded & set(HEAVY), f"{argv} imports {sorted(loaded & set(HEAVY))}"


def test_a_params_file_outside_the_repository_runs_against_the_working_directory(project, tmp_path, monkeypatch):
    elsewhere = tmp_path / "mine"
    elsewhere.mkdir()
    own = elsewhere / "own.yaml"
    own.write_text("notebooks:\n  a_square:\n    parameters: {x: 4}\n")
    monkeypatch.chdir(project)
    assert main(["run", str(own), "--no-progress"]) == 0
    assert json.loads((project / "results" / "own" / "a_square" / "out.json").read_text())["y"] == 16
    # --root names the project from anywhere
    monkeypatch.chdir(tmp_path)
    own.write_text("notebooks:\n  a_square:\n    parameters: {x: 5}\n")
    assert main(["run", str(own), "--no-progress", "--root", str(project)]) == 0
    assert json.loads((project / "results" / "own" / "a_square" / "out.json").read_text())["y"] == 25
    # without a project in reach: one clear error, exit 2
    assert main(["run", str(own), "--no-progress"]) == 2
    assert main(["run", str(own), "--no-progress", "--root", str(tmp_path)]) == 2


def test_notebook_executions_print_no_kernel_noise_but_report_failures(project):
    write_notebook(project / "notebooks", "c_progress", "n = 5", """
        from tqdm import tqdm
        import os
        from pctlib.progress import progress_bar
        total = sum(i for i in tqdm(range(n), desc="loop"))
        total += sum(i for i in progress_bar(range(n), desc="library loop", enabled=True))  # a bar asked for
        print("total", total, "cwd", os.getcwd())
        """)
    (project / "params" / "q.yaml").write_text(
        "notebooks:\n  c_progress: {}\n  b_fail:\n    parameters: {fail: true}\n")
    proc = subprocess.run([str(PCTLIB), "run", str(project / "params" / "q.yaml"), "--no-progress"],
                          capture_output=True, text=True, cwd=project)
    assert proc.returncode == 1, proc.stderr
    assert "running over TCP" not in proc.stderr and "KeyboardInterrupt" not in proc.stderr
    assert "IPKernelApp" not in proc.stderr
    assert re.search(r"failed\s+b_fail/main", proc.stdout) and "asked to fail" in proc.stdout
    nb = json.loads((project / "runs" / "q" / "c_progress" / "main" / "notebook.ipynb").read_text())
    streams = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
               if o["output_type"] == "stream"]
    assert not [o for o in streams if o["name"] == "stderr"], "progress bars reached the executed notebook"
    text = "".join("".join(o["text"]) for o in streams)
    assert "total 20" in text and f"cwd {project.resolve()}" in text
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    src = "".join(injected[0]["source"])
    assert 'results_dir = "results/q/c_progress"' in src and str(project) not in src


def test_the_book_folds_parameter_cells_and_drops_paths_and_progress_bars():
    def code(outputs, tags=()):
        return {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": "", "outputs": outputs}

    nb = {"cells": [
        code([], ["parameters"]),
        code([], ["injected-parameters"]),
        code([{"output_type": "execute_result", "data": {"text/plain": "PosixPath('results/x/t.csv')"}}]),
        code([{"output_type": "stream", "name": "stderr", "text": "simulate:  40%|####      | 4/10 [00:01<00:01]"}]),
        code([{"output_type": "stream", "name": "stderr", "text": "TqdmWarning: IProgress not found."}]),
        code([{"output_type": "stream", "name": "stderr", "text": "UserWarning: a real warning"},
              {"output_type": "stream", "name": "stderr", "text": "\n"}]),
        code([{"output_type": "execute_result", "data": {"text/plain": "   a\n0  1", "text/html": "<table/>"}}]),
        {"cell_type": "markdown", "metadata": {}, "source": "text"},
    ]}
    out = for_reader(nb)
    assert "hide-cell" in out["cells"][0]["metadata"]["tags"]
    assert "hide-cell" in out["cells"][1]["metadata"]["tags"]
    assert out["cells"][2]["outputs"] == [] and out["cells"][3]["outputs"] == [] and out["cells"][4]["outputs"] == []
    assert out["cells"][5]["outputs"] == nb["cells"][5]["outputs"][:1]  # the real warning stays, a bare newline not
    assert out["cells"][6]["outputs"] == nb["cells"][6]["outputs"]
    assert "hide-cell" not in out["cells"][6]["metadata"]["tags"]
    assert nb["cells"][0]["metadata"]["tags"] == ["parameters"]  # the executed notebook itself is untouched


def test_chapters_are_paired_with_ipynb(tmp_path):
    toml = (ROOT / "jupytext.toml").read_text()
    assert 'formats = "ipynb,py:percent"' in toml
    for src in sorted((ROOT / "notebooks").glob("*.py")):
        assert "#     formats: ipynb,py:percent" in src.read_text(), src.name
    work = tmp_path / "nb"
    work.mkdir()
    shutil.copy(ROOT / "notebooks" / "00_overview.py", work / "00_overview.py")
    shutil.copy(ROOT / "jupytext.toml", tmp_path / "jupytext.toml")
    exe = Path(sys.executable).parent / "jupytext"
    subprocess.run([str(exe), "--sync", str(work / "00_overview.py")], check=True, capture_output=True,
                   env={**os.environ, "HOME": str(tmp_path)})
    assert (work / "00_overview.ipynb").is_file()
    assert "git-ignored" in toml and "*.ipynb" in (ROOT / ".gitignore").read_text()
