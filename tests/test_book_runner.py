"""The book runner: chapters in order, a failing chapter reported by name and cell, finished ones kept."""
import json

import nbformat
import pytest

from bannb.book import check_parameters
from bannb.book.runner import run_book
from bannb.book.timings import book_wall_seconds, timings_file
from bannb.errors import ConfigError


def notebook(path, *cells, parameters=None):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if parameters:
        nb.cells.append(nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, path)


@pytest.fixture
def book(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/index\nchapters:\n"
        "- file: book/01_good\n- file: book/02_bad\n- file: book/03_params\n")
    (tmp_path / "book" / "index.md").write_text("# index\n")
    notebook(tmp_path / "book" / "01_good.ipynb", "print('chapter one ran')")
    notebook(tmp_path / "book" / "02_bad.ipynb", "x = 1", "1 / 0")
    notebook(tmp_path / "book" / "03_params.ipynb",
             "from bannb.book import check_parameters\ncheck_parameters(profile=profile, epochs=epochs)",
             parameters="profile = 'cpu'\nepochs = 2")
    return tmp_path


def outputs(path):
    found = [out for cell in json.loads(path.read_text())["cells"] for out in cell.get("outputs", [])]
    return [{**out, "text": "".join(out.get("text", ""))} for out in found]


def test_failing_chapter_is_named_with_its_cell_and_the_others_run(book):
    lines = []
    failures = run_book("cpu", root=book, log=lines.append)
    assert len(failures) == 1
    assert failures[0].startswith("02_bad: cell 1") and "ZeroDivisionError" in failures[0]
    assert outputs(book / "book" / "01_good.ipynb")[0]["text"] == "chapter one ran\n"
    assert outputs(book / "book" / "02_bad.ipynb") == [], "a failed chapter never replaces the committed notebook"
    assert outputs(book / "book" / "03_params.ipynb") is not None
    # the cpu run records each finished chapter's wall time, and only those; the bench sums them
    timings = json.loads(timings_file(book).read_text())
    assert sorted(timings) == ["01_good", "03_params"]
    assert all(entry["seconds"] > 0 and entry["runs_trained"] == 0 for entry in timings.values())
    assert book_wall_seconds(book) == pytest.approx(sum(entry["seconds"] for entry in timings.values()))
    # rerun: finished chapters are kept, the failed one runs again
    lines.clear()
    failures = run_book("cpu", root=book, log=lines.append)
    assert "[book] 01_good: unchanged since it last finished; kept" in lines
    assert "[book] 02_bad: running at profile cpu" in lines and len(failures) == 1


def test_a_rerun_that_reuses_runs_keeps_the_time_of_the_one_that_trained(tmp_path):
    from bannb.book.timings import record_timing
    record_timing(tmp_path, "04_born_again", 2682.2, runs_trained=11)
    record_timing(tmp_path, "04_born_again", 31.0, runs_trained=0)
    record_timing(tmp_path, "09_summary", 10.0, runs_trained=0)
    record_timing(tmp_path, "09_summary", 9.0, runs_trained=0)
    assert json.loads(timings_file(tmp_path).read_text()) == {
        "04_born_again": {"seconds": 2682.2, "runs_trained": 11}, "09_summary": {"seconds": 9.0, "runs_trained": 0}}
    assert book_wall_seconds(tmp_path) == pytest.approx(2691.2)


def test_seconds_per_run_is_a_chapters_training_time_over_the_runs_it_trained(tmp_path):
    from bannb.book.timings import add_training_time, record_timing, seconds_per_run
    assert seconds_per_run("04_born_again", tmp_path) is None  # nothing measured yet
    add_training_time(tmp_path, "04_born_again", 300.0, runs=2)
    add_training_time(tmp_path, "04_born_again", 100.0, runs=2)  # a plan trained over two sessions adds up
    record_timing(tmp_path, "04_born_again", 20.0, runs_trained=0)  # the notebook's own time is not a run's
    assert seconds_per_run("04_born_again", tmp_path) == pytest.approx(100.0)
    # executing the notebook keeps the machines that trained its plan
    machines = json.loads(timings_file(tmp_path).read_text())["04_born_again"]["machines"]
    assert len(machines) == 1 and machines[0].endswith("cores")
    record_timing(tmp_path, "01_introduction", 5.0, runs_trained=0)
    assert seconds_per_run("01_introduction", tmp_path) is None  # a chapter that trains nothing
    add_training_time(tmp_path, "03_teachers", 300.0, runs=1)
    # several chapters pool their training: (400 + 300) s over 5 runs
    assert seconds_per_run(["03_teachers", "04_born_again", "01_introduction"], tmp_path) == pytest.approx(140.0)


def test_machines_and_durations_for_prose(tmp_path, monkeypatch):
    from bannb.book import timings
    from bannb.book.timings import add_training_time, duration_text, machines
    assert machines(tmp_path) == []
    cpus = iter([dict(model="CPU A", isa="avx2", cores=2), dict(model="CPU B", isa="avx512", cores=4),
                 dict(model="CPU A", isa="avx2", cores=2)])
    monkeypatch.setattr(timings, "cpu_info", lambda: next(cpus))
    add_training_time(tmp_path, "03_teachers", 10.0)
    add_training_time(tmp_path, "04_born_again", 10.0)
    add_training_time(tmp_path, "04_born_again", 10.0)
    assert machines(tmp_path) == ["CPU A (avx2), 2 cores", "CPU B (avx512), 4 cores"]
    assert [duration_text(s) for s in (None, 40, 720, 8640)] == ["not measured yet", "40 s", "12 min", "2.4 h"]


def test_papermill_parameter_of_the_wrong_type(book):
    # refused before any chapter trains or runs
    with pytest.raises(ConfigError, match=r"parameter epochs must be a positive integer, got 'five' \(str\)"):
        run_book("cpu", chapters=["03"], root=book, parameters={"epochs": "five"})
    assert outputs(book / "book" / "03_params.ipynb") == []


def test_a_chapters_seeds_are_checked_before_its_plan_trains(book, monkeypatch):
    import bannb.book.runner as runner
    trained = []
    monkeypatch.setattr(runner, "train_chapter", lambda chapter, *args, **kwargs: trained.append(chapter))
    (book / "book" / "04_born_again.ipynb").write_text((book / "book" / "01_good.ipynb").read_text())
    with open(book / "_toc.yml", "a") as toc:
        toc.write("- file: book/04_born_again\n")
    failures = run_book("cpu", chapters=["04"], root=book, parameters={"seeds": [1]}, log=lambda line: None)
    assert trained == [] and len(failures) == 1
    assert failures[0].startswith("04_born_again: chapter 04_born_again: secondary seeds")


def test_every_plan_trains_before_any_chapter_runs(book, monkeypatch):
    import bannb.book.runner as runner
    events = []
    monkeypatch.setattr(runner, "train_chapter", lambda chapter, *args, **kwargs: events.append(("train", chapter)))
    monkeypatch.setattr(runner, "execute", lambda notebook, *args: events.append(("run", notebook.stem)))
    failures = run_book("cpu", root=book, log=lambda line: None)
    assert failures == []
    chapters = ["01_good", "02_bad", "03_params"]
    assert events == [("train", name) for name in chapters] + [("run", name) for name in chapters]


def test_other_profiles_write_elsewhere(book):
    assert run_book("smoke", chapters=["01"], root=book) == []
    assert not timings_file(book).exists(), "only the cpu profile's times are the book's wall time"
    assert outputs(book / "book" / "01_good.ipynb") == []
    assert outputs(book / "_build" / "executed" / "smoke" / "01_good.ipynb")[0]["text"] == "chapter one ran\n"


@pytest.mark.parametrize("parameters, message", [
    (dict(profile="laptop"), "valid profiles are: cpu, cpu-next, gpu, paper, smoke"),
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(generations=2.5), "generations must be a positive integer"),
    (dict(seeds=[0, "1"]), "seeds must be a non-empty list of integers"),
    (dict(seeds=[]), "seeds must be a non-empty list of integers"),
    (dict(seeds=[3, 1, 3]), r"seeds \[3, 1, 3\] name 3 more than once"),
    (dict(secondary_seeds=[0, "1"]), "secondary_seeds must be a non-empty list of integers"),
    (dict(seeds=[1000]), "seeds must lie between 0 and 999"),
    (dict(precision="fp64"), "unknown precision 'fp64'"),
    (dict(dropout=-0.1), "dropout must be a number from 0 up to"),
    (dict(dataset="mnist"), "valid datasets are"),
    (dict(arch=3), "arch must be a string"),
])
def test_check_parameters(parameters, message):
    with pytest.raises(ConfigError, match=message):
        check_parameters(**parameters)


def test_unknown_profile_in_the_runner(book):
    with pytest.raises(ConfigError, match="valid profiles"):
        run_book("laptop", root=book)


@pytest.mark.parametrize("parameters, message", [
    (dict(seeds=[1]), "chapter 04_born_again: secondary seeds [0] are not all among the seeds [1]"),
])
def test_seeds_that_would_fail_late_stop_the_chapters_first_cell(tmp_path, parameters, message):
    """`papermill … -y "seeds: [1]"` trained ~130 s, then failed in a late cell ("no seed in common"); now the
    chapter's set-up cell refuses it, before any cell trains (and the runner, for a chapter it knows, before its
    plan trains: `test_a_chapters_seeds_are_checked_before_its_plan_trains`)."""
    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/04_pairs\n")
    notebook(tmp_path / "book" / "04_pairs.ipynb",
             "from bannb.book import chapter\n"
             "ctx = chapter(profile, seeds, secondary_seeds, show_note=False, name='04_born_again')",
             "raise AssertionError('a cell after the set-up ran')",
             parameters="profile = None\nseeds = None\nsecondary_seeds = None")
    failures = run_book("smoke", root=tmp_path, parameters=parameters)
    assert len(failures) == 1 and failures[0].startswith("04_pairs: cell 2 ")  # 0: parameters, 1: injected ones
    assert f"raised ConfigError: {message}" in failures[0]
    with pytest.raises(ConfigError, match=r"parameter seeds \[0, 0\] name 0 more than once"):  # before any chapter
        run_book("smoke", root=tmp_path, parameters=dict(seeds=[0, 0]))


def test_a_gpu_profile_is_refused_by_the_runner_without_cuda_before_anything_trains(book, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    trained = []
    monkeypatch.setattr("bannb.book.runner.train_chapter", lambda *args: trained.append(args))
    with pytest.raises(ConfigError, match="profile gpu needs a GPU, and no CUDA device is visible here .*--device cpu"):
        run_book("gpu", chapters=["01"], root=book)
    assert trained == []
    assert run_book("gpu", chapters=["01"], root=book, device="cpu") == []  # the CPU asked for explicitly
    assert trained == [("01_good", "gpu", book, print, "cpu")]


def rendered_book(root, figures_on_page, figure_bytes, table=""):
    """A one-chapter book as `jupyter-book build` leaves it: the notebook with one figure output, its page (with
    `table`, HTML, after the figures)."""
    import base64
    (root / "book").mkdir()
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/01_figure\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter with a figure"), nbformat.v4.new_code_cell("plot()")]
    png = base64.b64encode(figure_bytes).decode()
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={"image/png": png})]
    nbformat.write(nb, root / "book" / "01_figure.ipynb")
    html = root / "_build" / "html"
    (html / "book").mkdir(parents=True)
    (html / "_images").mkdir()
    (html / "_images" / "figure.png").write_bytes(figure_bytes)
    images = '<img src="../_images/figure.png">' * figures_on_page
    (html / "book" / "01_figure.html").write_text(
        f"<html><body><h1>A chapter with a figure</h1>{images}{table}</body></html>")


@pytest.fixture
def png_bytes():
    import io

    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "steelblue").save(buffer, format="PNG")
    return buffer.getvalue()


def test_check_html_needs_a_browser(tmp_path, png_bytes):
    from bannb.book.runner import check_html
    from bannb.errors import BannbError
    rendered_book(tmp_path, 1, png_bytes)
    with pytest.raises(BannbError, match="no 'no-such-browser' on this machine: install Debian's chromium"):
        check_html(tmp_path, browser="no-such-browser")


@pytest.mark.skipif(__import__("shutil").which("chromium") is None, reason="needs Debian's chromium")
@pytest.mark.parametrize("figures_on_page, corrupt, problem", [
    (1, False, None),
    (0, False, "01_figure: 0 figures on the page, 1 in the notebook"),
    (1, True, "01_figure: figure ../_images/figure.png does not decode"),
])
def test_check_html_in_chromium(tmp_path, png_bytes, figures_on_page, corrupt, problem):
    from bannb.book.runner import check_html
    rendered_book(tmp_path, figures_on_page, png_bytes[:40] if corrupt else png_bytes)
    problems = check_html(tmp_path, screenshots=tmp_path / "shots", log=lambda line: None)
    if problem is None:
        assert problems == [] and (tmp_path / "shots" / "01_figure.png").stat().st_size > 0
    else:
        assert len(problems) == 1 and problems[0].startswith(problem)


def table_of(cells: int, text: str) -> str:
    return "<table><tr>" + f"<td>{text}</td>" * cells + "</tr></table>"


@pytest.mark.skipif(__import__("shutil").which("chromium") is None, reason="needs Debian's chromium")
def test_check_html_measures_every_table_against_its_column_at_1280_px(tmp_path, png_bytes):
    from bannb.book.runner import WINDOW_WIDTH, check_html, table_problems, table_widths
    assert WINDOW_WIDTH == 1280
    # words that cannot wrap, 12 × 9 of them side by side: far wider than the page; then a table that wraps to fit
    wide, narrow = table_of(12, "unbreakable" * 9), table_of(12, "words that wrap " * 9)
    rendered_book(tmp_path, 1, png_bytes, table=wide + narrow)
    page = tmp_path / "_build" / "html" / "book" / "01_figure.html"
    _, widths = table_widths(page, "chromium")
    assert widths["tables"] == 2 and [table["table"] for table in widths["overflowing"]] == [1]
    assert widths["overflowing"][0]["width"] > WINDOW_WIDTH and not list(page.parent.glob(".table-widths-*"))
    problems = check_html(tmp_path, screenshots=tmp_path / "shots", log=lambda line: None)
    assert len(problems) == 1 and problems[0].startswith("01_figure: table 1 (first cell 'unbreakableunbreakable")
    assert problems[0].endswith(" px at 1280 px: shorten its labels or let its cells wrap")
    assert table_problems("index", None) == ["index: the tables' widths could not be measured (the page's script did "
                                             "not run)"]


def test_glue_value_gives_myst_nb_python_numbers(monkeypatch):
    """numpy 2 writes np.float64(3.08) as its repr, which myst-nb cannot format into the prose."""
    import myst_nb
    import numpy as np

    from bannb.book import glue_value
    glued = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: glued.append((name, value, display)))
    glue_value("gain", np.float64(3.08))
    glue_value("runs", np.int64(9))
    glue_value("verdict", "holds")
    assert glued == [("gain", 3.08, False), ("runs", 9, False), ("verdict", "holds", False)]
    assert [type(value) for _, value, _ in glued] == [float, int, str]


def test_cost_text_counts_runs_at_the_measured_rate_or_says_it_was_not_measured(tmp_path):
    from bannb.book.timings import add_training_time, cost_text
    assert cost_text("05_cwtm", 10, tmp_path).startswith("a cost not measured yet")
    add_training_time(tmp_path, "05_cwtm", 1200.0, runs=10)  # 2 minutes per run
    text = cost_text("05_cwtm", 10, tmp_path)
    assert text.startswith("about 20 minutes on ") and "(2.0 minutes per run" in text
    assert cost_text("05_cwtm", 90, tmp_path).startswith("about 3.0 hours on ")
