"""Params files: validation errors and grid expansion."""

from __future__ import annotations

from pathlib import Path

import pytest

from pctlib.cli import main
from pctlib.runner.notebook_params import parse_parameters_cell
from pctlib.runner.param_set import ParamsError, expand, load_param_set


def write_params(project: Path, text: str, name: str = "p") -> Path:
    path = project / "params" / f"{name}.yaml"
    path.write_text(text)
    return path


def test_parameters_cell_parsing():
    specs = parse_parameters_cell('a = 1\nb = 2.5  # a comment\nmode = "x"  # one of: x, y\nlst = [1, 2]\n')
    assert list(specs) == ["a", "b", "mode", "lst"]
    assert specs["a"].default == 1 and specs["a"].choices is None
    assert specs["mode"].choices == ("x", "y")
    assert specs["b"].check(3) is None  # int is fine where a float is expected
    assert "expected int" in specs["a"].check(1.5)
    assert "expected int" in specs["a"].check(True)
    assert "allowed values: 'x', 'y'" in specs["mode"].check("z")


def test_grid_is_cartesian_product_in_file_order(project):
    path = write_params(project, """
notebooks:
  a_square:
    parameters:
      x: [1, 2, 3]
      mode: [ptt, pat]
      scale: 2.0
""")
    ps = load_param_set(path, project / "notebooks")
    ex = expand(ps, project / "notebooks")
    assert len(ex) == 6
    assert [e.key for e in ex[:3]] == ["x-1_mode-ptt", "x-1_mode-pat", "x-2_mode-ptt"]
    assert {(e.parameters["x"], e.parameters["mode"]) for e in ex} == {(x, m) for x in (1, 2, 3) for m in ("ptt", "pat")}
    assert all(e.parameters["scale"] == 2.0 for e in ex)
    assert len({e.params_hash() for e in ex}) == 6


def test_list_valued_parameter_is_a_value_unless_list_of_lists(project):
    path = write_params(project, """
notebooks:
  a_square:
    parameters:
      sizes: [50, 100, 150]
""")
    ex = expand(load_param_set(path, project / "notebooks"), project / "notebooks")
    assert len(ex) == 1 and ex[0].parameters["sizes"] == [50, 100, 150] and ex[0].key == "main"
    path = write_params(project, """
notebooks:
  a_square:
    parameters:
      sizes: [[50], [100, 150]]
""")
    ex = expand(load_param_set(path, project / "notebooks"), project / "notebooks")
    assert [e.parameters["sizes"] for e in ex] == [[50], [100, 150]]


def test_notebooks_run_in_name_order_and_only_selects(project):
    path = write_params(project, "notebooks:\n  b_fail: {}\n  a_square: {}\n")
    ps = load_param_set(path, project / "notebooks")
    assert [e.notebook for e in expand(ps, project / "notebooks")] == ["a_square", "b_fail"]
    assert [e.notebook for e in expand(ps, project / "notebooks", only="b_fail")] == ["b_fail"]
    with pytest.raises(ParamsError, match="--only 'zzz'.*allowed notebooks: a_square, b_fail"):
        expand(ps, project / "notebooks", only="zzz")


BAD = [
    ("notebooks:\n  nope: {}\n", r"unknown notebook 'nope'; allowed notebooks: a_square, b_fail"),
    ("notebooks:\n  a_square:\n    parameters: {y: 1}\n",
     r"a_square\.parameters\.y: unknown parameter; allowed parameters: x, scale, mode, sizes"),
    ("notebooks:\n  a_square:\n    parameters: {x: 'one'}\n", r"parameters\.x: 'one' has type str, expected int"),
    ("notebooks:\n  a_square:\n    parameters: {x: [1, 2.5]}\n", r"parameters\.x: 2\.5 has type float, expected int"),
    ("notebooks:\n  a_square:\n    parameters: {mode: [ptt, tpp]}\n",
     r"parameters\.mode: 'tpp' is not allowed; allowed values: 'ptt', 'pat'"),
    ("notebooks:\n  a_square:\n    parameters: {x: []}\n", r"parameters\.x: empty grid axis"),
    ("notebooks:\n  a_square:\n    parameters: {results_dir: 'x'}\n", r"'results_dir' is set by the runner"),
    ("notebooks:\n  a_square:\n    paramters: {x: 1}\n", r"unknown key 'paramters'; allowed keys: parameters, resources"),
    ("notebook:\n  a_square: {}\n", r"unknown key 'notebook'; allowed keys: description, resources, notebooks"),
    ("notebooks: {}\n", r"'notebooks' must map at least one notebook"),
    ("resources: {num_gpu: 1}\nnotebooks:\n  a_square: {}\n", r"resources\.num_gpu: unknown resource"),
    ("notebooks: [a\n", r"not valid YAML"),
]


@pytest.mark.parametrize("text,message", BAD, ids=[m[:40] for _, m in BAD])
def test_bad_params_raise_a_named_error(project, text, message):
    path = write_params(project, text)
    with pytest.raises(ParamsError, match=message):
        ps = load_param_set(path, project / "notebooks")
        expand(ps, project / "notebooks")


@pytest.mark.parametrize("text,message", BAD[:6], ids=[m[:40] for _, m in BAD[:6]])
def test_cli_bad_params_exit_2_one_line_nothing_executed(project, capsys, text, message):
    path = write_params(project, text)
    code = main(["run", str(path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("pctlib run: error:")
    assert not (project / "runs").exists()


def test_missing_params_file_is_exit_2(project, capsys):
    assert main(["run", str(project / "params" / "missing.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_repository_params_sets_are_valid():
    root = Path(__file__).resolve().parents[1]
    for name in ("smoke", "default", "paper", "zoo"):  # params/datasets.yaml and params/geometry/ are other formats
        path = root / "params" / f"{name}.yaml"
        ps = load_param_set(path, root / "notebooks")
        assert expand(ps, root / "notebooks"), path
    # the reference zoo: the paper's 20 models (PTT and PAT lambda = 25 / 50 / 75 x 5 seeds), each exactly once,
    # with one recipe and at least 10x the default zoo's frames per model
    from pctlib.zoo import expand_models

    zoo = load_param_set(root / "params" / "zoo.yaml", root / "notebooks")
    default = load_param_set(root / "params" / "default.yaml", root / "notebooks")
    models = [m for case in zoo.notebook_cases["04_train_run"] for m in expand_models(case["models"])]
    assert sorted(models) == sorted((mode, lam, s) for mode, lam in (("ptt", 50.0), ("pat", 25.0), ("pat", 50.0),
                                                                       ("pat", 75.0)) for s in range(5))
    z, d = zoo.notebooks["04_train_run"], default.notebooks["04_train_run"]
    assert z["steps"] * z["batch_frames"] >= 10 * d["steps"] * d["batch_frames"]


def test_the_default_chapters_analyse_the_reference_zoo_and_the_paper_chapters_their_own():
    """Under default params chapters 05-10 read the committed reference zoo while 04_train_run still trains a small
    zoo from scratch; under paper params every chapter analyses the zoo the params set trains (the protocol)."""
    root = Path(__file__).resolve().parents[1]
    chapters = ["05_benchmarks", "06_loss_surfaces", "07_similarity", "08_mode_connectivity",
                "09_noise_and_learned_graphs", "10_downstream"]
    default = load_param_set(root / "params" / "default.yaml", root / "notebooks")
    paper = load_param_set(root / "params" / "paper.yaml", root / "notebooks")
    for nb in chapters:
        assert default.notebooks[nb].get("zoo_source") == "reference", nb
        assert paper.notebooks.get(nb, {}).get("zoo_source", "trained") == "trained", nb
    assert default.notebooks["04_train_run"]["models"] and default.notebooks["04_train_run"]["steps"] > 0


def test_cases_combine_with_axes_and_are_validated(project):
    path = write_params(project, """
notebooks:
  a_square:
    cases:
      - {mode: ptt}
      - {mode: pat, scale: 2.0}
    parameters:
      x: [1, 2]
""")
    ex = expand(load_param_set(path, project / "notebooks"), project / "notebooks")
    assert [e.key for e in ex] == ["mode-ptt_x-1", "mode-ptt_x-2", "mode-pat_scale-2.0_x-1", "mode-pat_scale-2.0_x-2"]
    assert ex[2].parameters == {"mode": "pat", "scale": 2.0, "x": 1}
    for bad, msg in [("cases: [{mode: tpp}]", r"cases\[0\]\.mode: 'tpp' is not allowed"),
                     ("cases: [{x: [1, 2]}]", r"cases\[0\]\.x: a case holds single values"),
                     ("cases: []", "cases must be a non-empty list")]:
        path = write_params(project, f"notebooks:\n  a_square:\n    {bad}\n")
        with pytest.raises(ParamsError, match=msg):
            load_param_set(path, project / "notebooks")


@pytest.fixture
def free(project):
    from conftest import write_notebook

    write_notebook(project / "notebooks", "c_free", 'label = "a"\nn = 1\nf = 1.0', "print(label, n, f)")
    return project


@pytest.mark.parametrize("axis,values", [
    ("n", "[40, -40]"),                          # the slug once dropped the minus sign
    ("f", "[-0.5, 0.5]"),
    ("label", "['a/b', 'a b', 'a_b', 'a-b']"),   # punctuation and spaces
    ("label", "['', 'x', '-']"),
])
def test_grid_keys_are_injective(free, axis, values):
    path = free / "params" / "k.yaml"
    path.write_text(f"notebooks:\n  c_free:\n    parameters:\n      {axis}: {values}\n")
    ex = expand(load_param_set(path, free / "notebooks"), free / "notebooks")
    keys = [e.key for e in ex]
    assert len(keys) == len(set(keys)) == len(ex), keys
    assert all("/" not in k and " " not in k and k for k in keys)


def test_plain_values_keep_their_readable_keys_and_a_duplicate_point_is_refused(free):
    path = free / "params" / "k.yaml"
    path.write_text("notebooks:\n  c_free:\n    parameters:\n      n: [40, -40]\n      f: [2.5]\n")
    ex = expand(load_param_set(path, free / "notebooks"), free / "notebooks")
    assert [e.key for e in ex] == ["n-40_f-2.5", "n--40_f-2.5"]
    path.write_text("notebooks:\n  c_free:\n    parameters:\n      n: [3, 3]\n")
    with pytest.raises(ParamsError, match="same point twice"):
        expand(load_param_set(path, free / "notebooks"), free / "notebooks")


def test_colliding_slugs_of_different_points_get_distinct_keys():
    from pctlib.runner.param_set import Execution, _unique_keys

    a = Execution("nb", Path("nb.py"), "v-1", {"v": 1}, ("v",), {})
    b = Execution("nb", Path("nb.py"), "v-1", {"v": "1"}, ("v",), {})
    keys = [e.key for e in _unique_keys("nb", [a, b])]
    assert len(set(keys)) == 2 and all(k.startswith("v-1~") for k in keys)


def test_a_case_given_twice_is_refused(project):
    for second in ("{scale: 2.0, mode: pat}", "{mode: pat, scale: 2}"):  # keys in another order; 2 == 2.0
        path = write_params(project, f"notebooks:\n  a_square:\n    cases: [{{mode: pat, scale: 2.0}}, {second}]\n")
        with pytest.raises(ParamsError, match=r"cases\[1\] repeats cases\[0\]"):
            load_param_set(path, project / "notebooks")


def test_run_with_root_finds_a_relative_params_path_there(project, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path = write_params(project, "notebooks:\n  a_square:\n    parameters: {x: 2}\n")
    rel = path.relative_to(project)
    assert main(["prepare", str(rel), "--root", str(project), "--out", str(tmp_path / "out")]) == 0
    assert list((tmp_path / "out").glob("a_square__*.ipynb"))


def test_every_notebook_parameter_choice_list_is_clean_and_holds_its_default():
    """A '# one of: a, b' comment lists values only (an explanation after them would become part of the last
    value and refuse it), and the parameter's default is one of them."""
    from pctlib.runner.notebook_params import parse_parameters_cell

    root = Path(__file__).resolve().parents[1]
    for nb in sorted((root / "notebooks").glob("*.py")):
        text = nb.read_text()
        cell = text.split('# %% tags=["parameters"]', 1)[1].split("\n# %%", 1)[0]
        for name, spec in parse_parameters_cell(cell, str(nb)).items():
            if spec.choices:
                assert all(not isinstance(c, str) or (c.strip() == c and " " not in c and ";" not in c)
                           for c in spec.choices), (nb.name, name, spec.choices)
                assert spec.default in spec.choices, (nb.name, name, spec.default, spec.choices)
