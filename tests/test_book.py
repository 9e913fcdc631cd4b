"""The book: staged from executed notebooks, refused when an execution is missing or failed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from pctlib.cli import main
from pctlib.runner.book import BookError, build, stage

ROOT = Path(__file__).resolve().parents[1]


def add_book(project: Path, chapters: list[str]) -> None:
    book = project / "book"
    book.mkdir()
    shutil.copy(ROOT / "book" / "_config.yml", book / "_config.yml")
    (book / "intro.md").write_text("# Test book\n\n```{tableofcontents}\n```\n")
    toc = {"format": "jb-book", "root": "intro", "chapters": [{"file": f"notebooks/{c}"} for c in chapters]}
    (book / "_toc.yml").write_text(yaml.safe_dump(toc))


def run(project: Path, text: str) -> int:
    (project / "params" / "bk.yaml").write_text(text)
    return main(["run", str(project / "params" / "bk.yaml"), "--no-progress"])


def test_grid_chapter_becomes_sections_and_missing_chapter_is_refused(project):
    add_book(project, ["a_square", "b_fail"])
    assert run(project, "notebooks:\n  a_square:\n    parameters: {x: [1, 2]}\n") == 0
    with pytest.raises(BookError, match="b_fail: not a notebook of params set"):
        stage(project, "bk")
    assert run(project, "notebooks:\n  a_square:\n    parameters: {x: [1, 2]}\n  b_fail: {}\n") == 0
    src = stage(project, "bk")
    toc = yaml.safe_load((src / "_toc.yml").read_text())
    assert toc["chapters"][0] == {"file": "notebooks/a_square/x-1", "sections": [{"file": "notebooks/a_square/x-2"}]}
    assert toc["chapters"][1] == {"file": "notebooks/b_fail"}
    assert (src / "notebooks" / "a_square" / "x-2.ipynb").is_file()
    executed = json.loads((src / "notebooks" / "b_fail.ipynb").read_text())
    assert any("fine" in "".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))


def test_failed_execution_is_refused(project):
    add_book(project, ["b_fail"])
    assert run(project, "notebooks:\n  b_fail:\n    parameters: {fail: true}\n") == 1
    with pytest.raises(BookError, match="b_fail/main: execution failed"):
        stage(project, "bk")
    assert main(["book", str(project / "params" / "bk.yaml")]) == 2  # a usage error, like every other


def test_strict_build_renders_html(project):
    add_book(project, ["a_square"])
    assert run(project, "notebooks:\n  a_square: {}\n") == 0
    html = build(project, "bk")
    page = (html / "notebooks" / "a_square.html").read_text()
    assert "results_dir" in page  # the injected-parameters cell is rendered
    assert (html / "index.html").is_file()


def test_the_book_stages_exactly_the_executions_of_the_params_file_and_refuses_stale_ones(project):
    add_book(project, ["a_square"])
    assert run(project, "notebooks:\n  a_square:\n    parameters: {x: [1, 2, 3]}\n") == 0
    # x = 3 removed from the grid: its folder is still on disk, but no longer a section
    (project / "params" / "bk.yaml").write_text("notebooks:\n  a_square:\n    parameters: {x: [1, 2]}\n")
    src = stage(project, "bk")
    toc = yaml.safe_load((src / "_toc.yml").read_text())
    assert toc["chapters"][0] == {"file": "notebooks/a_square/x-1", "sections": [{"file": "notebooks/a_square/x-2"}]}
    assert not (src / "notebooks" / "a_square" / "x-3.ipynb").exists()
    # the notebook's code changed after it ran: stale, refused until rerun
    nb = project / "notebooks" / "a_square.py"
    nb.write_text(nb.read_text() + "\nprint('changed')\n")
    with pytest.raises(BookError, match=r"a_square/x-1: stale"):
        stage(project, "bk")
    assert run(project, "notebooks:\n  a_square:\n    parameters: {x: [1, 2]}\n") == 0
    stage(project, "bk")


def test_the_api_page_is_generated_from_the_docstrings_and_builds_strictly(project):
    """A table of contents listing ``api`` gets the API page, written from the installed package's docstrings;
    the strict build (warnings are errors) renders it."""
    import inspect

    from pctlib.assign.losses import hamming_loss
    from pctlib.landscape.similarity import linear_cka

    add_book(project, ["a_square"])
    toc = yaml.safe_load((project / "book" / "_toc.yml").read_text())
    toc["chapters"].append({"file": "api"})
    (project / "book" / "_toc.yml").write_text(yaml.safe_dump(toc))
    assert run(project, "notebooks:\n  a_square: {}\n") == 0
    html = build(project, "bk")
    page = (html / "api.html").read_text()
    for fn in (hamming_loss, linear_cka):
        assert f"{fn.__module__}" in page and fn.__name__ in page
        first_line = inspect.cleandoc(fn.__doc__).splitlines()[0]
        assert first_line.split("(")[0].strip()[:30] in page
    # without the entry there is no page
    shutil.rmtree(project / "book" / "_build")
    add_book_toc = yaml.safe_load((project / "book" / "_toc.yml").read_text())
    add_book_toc["chapters"] = add_book_toc["chapters"][:-1]
    (project / "book" / "_toc.yml").write_text(yaml.safe_dump(add_book_toc))
    assert not (stage(project, "bk") / "api.md").exists()


def test_the_project_is_citable_and_its_book_lists_the_api_page():
    """CITATION.cff names the paper, the thesis and this software at the version of pyproject.toml."""
    import tomllib

    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["message"] and cff["authors"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert cff["version"] == version
    paper = cff["preferred-citation"]
    assert "Loss Landscape Perspective" in paper["title"] and paper["year"] == 2024
    assert [a["family-names"] for a in paper["authors"]] == ["Kortus", "Keidel", "Gauger"]
    assert any(r["type"] == "thesis" and r["authors"][0]["family-names"] == "Jeendgar" for r in cff["references"])
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    assert {"file": "api"} in toc["chapters"]
