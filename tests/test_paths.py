"""Project paths: one module, and every other module takes its paths from it."""
from pathlib import Path

from bannb import paths
from bannb.book.timings import timings_file
from bannb.data import arrays, data_roots
from bannb.study.paper import TABLES_FILE


def test_paths_of_a_checkout():
    assert (paths.PROJECT_ROOT / "_toc.yml").exists() and (paths.PROJECT_ROOT / "bannb" / "paths.py").exists()
    assert paths.DATA_DIR == paths.PROJECT_ROOT / "data" and paths.BOOK_DIR == paths.PROJECT_ROOT / "book"
    assert paths.RESULTS_DIR == paths.BOOK_DIR / "results" and paths.results_dir(Path("/x")) == Path("/x/book/results")
    assert TABLES_FILE.parent == paths.DATA_DIR and arrays.PROJECT_ROOT == paths.PROJECT_ROOT
    assert timings_file(Path("/x")) == Path("/x/book/results/book-timings-cpu.json")


def test_runs_dir_follows_the_environment_at_every_call(monkeypatch, tmp_path):
    monkeypatch.delenv("BANNB_RUNS", raising=False)
    assert paths.default_runs_dir() == paths.DATA_DIR / "runs"
    monkeypatch.setenv("BANNB_RUNS", str(tmp_path))
    assert paths.default_runs_dir() == tmp_path


def test_data_roots_end_with_the_project_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("BANNB_DATA", str(tmp_path))
    assert data_roots("/explicit") == [Path("/explicit"), tmp_path, paths.DATA_DIR]


def test_the_timed_profile_is_the_committed_one():
    from bannb.book.timings import COMMITTED_PROFILE
    from bannb.study.profiles import DEFAULT_PROFILE
    assert COMMITTED_PROFILE == DEFAULT_PROFILE
