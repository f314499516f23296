"""The book runner: execute the chapters with papermill at a profile, in order, then render the HTML.

    python -m bannb.book --profile cpu [--chapters 03 04] [--force] [--no-build]

At the `cpu` profile the chapters are executed in place, so the committed notebooks carry the outputs
of a real run; at any other profile they are written to `_build/executed/<profile>/`, leaving the
committed ones alone. A notebook is replaced only once it has run to the end, and a chapter whose
cells have not changed since it last finished is not run again. Finished runs are reused across
chapters, so a rerun after an interruption costs only what was cut off.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from html import unescape
from pathlib import Path

import papermill
from papermill.exceptions import PapermillExecutionError
from PIL import Image

from bannb.book import chapter_notebooks, check_parameters
from bannb.book.timings import add_training_time, record_timing, timings_file  # noqa: F401  (timings_file: the runner's file, re-exported)
from bannb.errors import BannbError, ConfigError
from bannb.paths import PROJECT_ROOT, default_runs_dir
from bannb.runs.plan import default_workers, train_all
from bannb.runs.store import Run, finished_problem
from bannb.study.chapters import CHAPTERS, chapter_plan, check_chapter_seeds
from bannb.study.profiles import DEFAULT_PROFILE, PROFILES, get_profile, resolve_device

# ---------------------------------------------------------------- the chapters



def select(notebooks: list[Path], wanted: list[str] | None) -> list[Path]:
    if not wanted:
        return notebooks
    chosen = [nb for nb in notebooks if any(nb.stem.startswith(prefix) for prefix in wanted)]
    if not chosen:
        raise ConfigError(f"no chapter matches {wanted}; chapters are: {', '.join(nb.stem for nb in notebooks)}")
    return chosen


def source_hash(notebook: Path, parameters: dict) -> str:
    """What a chapter's results depend on: its cells' code (not their outputs) and the parameters."""
    cells = json.loads(notebook.read_text())["cells"]
    sources = ["".join(cell["source"]) for cell in cells
               if "injected-parameters" not in cell.get("metadata", {}).get("tags", [])]
    return hashlib.sha256(json.dumps([sources, parameters], sort_keys=True).encode()).hexdigest()


class ChapterFailed(BannbError):
    pass


def execute(notebook: Path, output: Path, parameters: dict) -> None:
    """Run a notebook with papermill into a temporary file, then put it in place: a chapter cut off halfway
    never replaces a finished one."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.stem}.partial.ipynb")
    try:
        papermill.execute_notebook(str(notebook), str(partial), parameters=parameters, cwd=str(notebook.parent),
                                   kernel_name="python3", progress_bar=False)
    except PapermillExecutionError as err:
        raise ChapterFailed(f"{notebook.stem}: cell {err.cell_index} (execution count {err.exec_count}) raised "
                            f"{err.ename}: {err.evalue}; the partial output is in {partial}") from err
    os.replace(partial, output)


def finished_runs() -> int:
    return sum(1 for _ in default_runs_dir().glob("*/done.json"))


def train_chapter(chapter: str, profile: str, root: Path = PROJECT_ROOT, log=print, device: str = "cpu") -> None:
    """Train the runs `chapter` asks for (`experiments.chapter_plan`) on `device` (on the CPU, on parallel
    workers), before its notebook runs; at the committed profile the wall time goes into the chapter's timings
    after every finished run."""
    chosen = get_profile(profile)
    timed = chosen.committed or chosen.staging_for is not None  # the committed book, or its next one being trained
    plan = chapter_plan(chapter, profile, device)
    if not plan:
        return
    # what the chapter trains now: the runs of its plan not yet recorded. A recorded run trained again for its
    # weights (a teacher of one of them, on a clone that has the records alone) is no part of a cold book's cost
    new = {config.run_id for config in plan if finished_problem(default_runs_dir() / config.run_id) is not None}
    last = [time.perf_counter()]

    workers = default_workers()

    def finished(result):
        now = time.perf_counter()
        seconds = now - last[0]
        if result["run_id"] not in new:  # a restore of weights: its time is not the book's
            last[0] = now
            return
        # a run resumed after an interruption did part of its epochs in an earlier process, whose wall time was
        # never recorded: add those epochs' own seconds, shared between the workers that trained side by side
        run = Run(default_runs_dir() / result["run_id"])
        resumed = run.final.get("resumed_from_epoch") or 0
        if resumed:
            seconds += run.metrics().query("epoch <= @resumed")["seconds"].sum() / workers
        if timed:
            add_training_time(root, chapter, seconds, profile=chosen.name)
        last[0] = now

    log(f"[book] {chapter}: training its plan ({len(plan)} runs, finished ones reused)")
    train_all(plan, device=device, log=log, on_finished=finished)


def run_book(profile: str = DEFAULT_PROFILE, chapters: list[str] | None = None, root: Path = PROJECT_ROOT,
             force: bool = False, parameters: dict | None = None, log=print, train_only: bool = False,
             device: str | None = None) -> list[str]:
    """Train every chosen chapter's plan, in the book's order, then execute the chapters whose plans trained, in
    order; returns the failures (one line each). A failed chapter does not stop the others, and leaves the results
    of every other chapter as they were. `train_only`: train the plans and execute nothing. `device`: where the plans train and the chapters
    run (None: cuda where there is one, else the CPU; a profile that needs a GPU is refused without one unless
    "cpu" is given, before anything trains: `profiles.resolve_device`)."""
    chosen = get_profile(profile)
    committed = chosen.committed
    trained_on = resolve_device(profile, device, "--device cpu")
    # The committed chapters default to the committed profile; inject only what differs, so they stay clean.
    parameters = dict(parameters or {}, **({} if committed else {"profile": profile}),
                      **({} if device is None else {"device": device}))
    check_parameters(**parameters)  # every value, before any chapter trains (one line: ConfigError)
    state_file = root / "_build" / "book-state" / f"{profile}.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    failures, notebooks, trained = [], select(chapter_notebooks(root), chapters), []
    # Every plan first, in the book's order, then the notebooks: a chapter that reads other chapters' records (the
    # summary, verdicts adjusted across the book's claims) finds them finished, and never trains them itself.
    for notebook in notebooks:
        try:
            if notebook.stem in CHAPTERS:  # its seeds, against what it compares, before its plan trains
                check_chapter_seeds(notebook.stem, chosen, parameters.get("seeds") or chosen.seeds,
                                    parameters.get("secondary_seeds") or chosen.secondary_seeds)
            train_chapter(notebook.stem, profile, root, log, trained_on)
        except BannbError as err:
            failures.append(f"{notebook.stem}: {err}")
            log(f"[book] FAILED {notebook.stem}: {err}")
            continue
        trained.append(notebook)
    for notebook in [] if train_only else trained:
        output = notebook if committed else root / "_build" / "executed" / profile / notebook.name
        fingerprint = source_hash(notebook, parameters)
        if not force and output.exists() and state.get(notebook.stem) == fingerprint:
            log(f"[book] {notebook.stem}: unchanged since it last finished; kept")
            continue
        log(f"[book] {notebook.stem}: running at profile {profile}")
        started, runs_before = time.perf_counter(), finished_runs()
        try:
            execute(notebook, output, parameters)
        except ChapterFailed as err:
            failures.append(str(err))
            log(f"[book] FAILED {err}")
            continue
        state[notebook.stem] = source_hash(output, parameters)
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(json.dumps(state, indent=2))
        seconds = time.perf_counter() - started
        if committed:
            record_timing(root, notebook.stem, seconds, finished_runs() - runs_before)
        log(f"[book] {notebook.stem}: done in {seconds:.0f} s")
    return failures


def build_html(root: Path = PROJECT_ROOT) -> None:
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jupyter_book), "build", str(root), "--warningiserror", "--keep-going"], check=True)


# ---------------------------------------------------------------- the rendered pages in a real browser

BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--no-first-run", "--hide-scrollbars"]


# Run in the page once it has loaded: every table of the page's text column, and whether it is wider than the box it
# sits in (so that part of it is hidden behind a sideways scroll) or ends past the column's right edge, at the
# window's width. The answer is written into the DOM, where `--dump-dom` hands it back.
TABLE_WIDTHS_ID = "bannb-table-widths"
TABLE_WIDTHS_SCRIPT = """<script>
window.addEventListener("load", () => {
  const column = document.querySelector("article.bd-article") || document.body;
  const edge = column.getBoundingClientRect().right;
  const tables = [...document.querySelectorAll("table")].filter(table => column.contains(table));
  const overflowing = [];
  tables.forEach((table, position) => {
    const box = table.getBoundingClientRect();
    const room = Math.min(table.parentElement.clientWidth, edge - box.left);
    if (box.width > room + 1) {
      const header = (table.querySelector("th, td") || table).textContent.trim().replace(/\\s+/g, " ");
      overflowing.push({table: position + 1, header: header.slice(0, 40), width: Math.round(box.width),
                        room: Math.round(room)});
    }
  });
  const answer = document.createElement("pre");
  answer.id = "%s";
  answer.textContent = JSON.stringify({tables: tables.length, overflowing: overflowing});
  document.body.appendChild(answer);
});
</script>""" % TABLE_WIDTHS_ID
WINDOW_WIDTH = 1280  # the width at which every table must fit its column (and the screenshots' width)


def table_widths(page: Path, browser: str,
                 width: int = WINDOW_WIDTH) -> tuple[subprocess.CompletedProcess, dict | None]:
    """Load `page` at `width` pixels with `TABLE_WIDTHS_SCRIPT` added (a copy beside it, so that its relative links
    resolve, removed afterwards): the browser's process (its stdout: the DOM after loading), and the script's answer
    (None where it did not run)."""
    probe = page.with_name(f".table-widths-{page.name}")
    html = page.read_text()
    probe.write_text(html.replace("</body>", TABLE_WIDTHS_SCRIPT + "</body>", 1) if "</body>" in html
                     else html + TABLE_WIDTHS_SCRIPT)
    try:
        loaded = subprocess.run([browser, *BROWSER_FLAGS, f"--window-size={width},2400", "--virtual-time-budget=5000",
                                 "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink(missing_ok=True)
    found = re.search(rf'<pre id="{TABLE_WIDTHS_ID}"[^>]*>(.*?)</pre>', loaded.stdout, re.S)
    return loaded, json.loads(unescape(found.group(1))) if found else None


def table_problems(name: str, widths: dict | None, width: int = WINDOW_WIDTH) -> list[str]:
    """One line per table of page `name` wider than its column at `width` pixels (`table_widths`' answer)."""
    if widths is None:
        return [f"{name}: the tables' widths could not be measured (the page's script did not run)"]
    return [f"{name}: table {table['table']} (first cell {table['header']!r}) is {table['width']} px wide in a column "
            f"of {table['room']} px at {width} px: shorten its labels or let its cells wrap"
            for table in widths["overflowing"]]


def image_outputs(cells: list[dict]) -> int:
    """How many figures a chapter's outputs hold (the images its page must show)."""
    return sum(1 for cell in cells for output in cell.get("outputs", [])
               if any(key.startswith("image/") for key in output.get("data", {})))


def check_html(root: Path = PROJECT_ROOT, browser: str = "chromium", screenshots: Path | None = None,
               log=print) -> list[str]:
    """Load every chapter's page, and the landing page, in a headless browser; returns the problems found (one line
    each).

    A page counts as shown when the browser's DOM after loading holds the chapter's title, one <img> per
    figure in the notebook's outputs, each image's file decodes to a non-empty picture, and no table runs past the
    right edge of the text column in a window `WINDOW_WIDTH` pixels wide (`table_widths`)."""
    if shutil.which(browser) is None:
        raise BannbError(f"no {browser!r} on this machine: install Debian's chromium (apt-get install chromium) "
                         f"or pass --browser with another Chromium-based browser")
    html_root = root / "_build" / "html"
    problems = []
    for notebook in chapter_notebooks(root):
        page = html_root / notebook.relative_to(root).with_suffix(".html")
        if not page.exists():
            problems.append(f"{notebook.stem}: no page {page} (run `jupyter-book build .`)")
            continue
        loaded, widths = table_widths(page, browser)
        dom = loaded.stdout
        cells = json.loads(notebook.read_text())["cells"]
        title = next((line.lstrip("# ").strip() for cell in cells
                      if cell["cell_type"] == "markdown" for line in "".join(cell["source"]).splitlines()
                      if line.startswith("# ")), None)
        if loaded.returncode or "<body" not in dom:
            problems.append(f"{notebook.stem}: the browser did not load {page} ({loaded.stderr.strip()[-200:]})")
            continue
        # Sphinx's smartquotes turns ' and " into typographic quotes
        page_text = unescape(re.sub(r"<[^>]+>", "", dom)).translate(str.maketrans("‘’“”", "''\"\""))
        if title and title not in page_text:
            problems.append(f"{notebook.stem}: the page does not show the title {title!r}")
        sources = [unescape(src) for src in re.findall(r'<img[^>]*?src="([^"]+)"', dom)]
        figures = [src for src in sources if "_images/" in src or src.startswith("data:image")]
        expected = image_outputs(cells)
        if len(figures) < expected:
            problems.append(f"{notebook.stem}: {len(figures)} figures on the page, {expected} in the notebook")
        for src in figures:
            if src.startswith("data:"):
                continue
            image_file = (page.parent / src).resolve()
            try:
                with Image.open(image_file) as image:
                    image.load()
                    if min(image.size) < 10:
                        problems.append(f"{notebook.stem}: {src} is only {image.size}")
            except (OSError, ValueError) as err:
                problems.append(f"{notebook.stem}: figure {src} does not decode ({err})")
        problems += table_problems(notebook.stem, widths)
        screenshot(page, browser, screenshots)
        log(f"[html] {notebook.stem}: loaded, {len(figures)} figures (notebook: {expected}), "
            f"{widths['tables'] if widths else '?'} tables")
    index = html_root / "book" / "index.html"  # the landing page: its headline figure is glued from the summary
    if index.exists():
        problems += table_problems("index", table_widths(index, browser)[1])
        screenshot(index, browser, screenshots)
    return problems


def screenshot(page: Path, browser: str, folder: Path | None, width: int = WINDOW_WIDTH) -> None:
    """A picture of `page` at `width` pixels in `folder` (None: none taken), named after the page."""
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([browser, *BROWSER_FLAGS, f"--window-size={width},2400",
                    f"--screenshot={folder / (page.stem + '.png')}", page.as_uri()], capture_output=True, timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bannb.book", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=DEFAULT_PROFILE, help=f"one of {', '.join(PROFILES)}")
    parser.add_argument("--chapters", nargs="*", help="chapter number prefixes (e.g. 03 04); default: all")
    parser.add_argument("--force", action="store_true", help="run chapters even if unchanged since they finished")
    parser.add_argument("--no-build", action="store_true", help="execute only, do not render the HTML")
    parser.add_argument("--train-only", action="store_true",
                        help="only train every chosen chapter's runs (resumable), execute nothing")
    parser.add_argument("--check-html", action="store_true",
                        help="only load the rendered pages in headless chromium and check every figure shows and "
                             "every table fits its column")
    parser.add_argument("--browser", default="chromium", help="with --check-html: a Chromium-based browser")
    parser.add_argument("--screenshots", type=Path, help="with --check-html: save a screenshot of each page here")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda, cuda:1 … (default: cuda if available; a profile that needs a GPU is "
                             "refused without one unless --device cpu is given)")
    args = parser.parse_args(argv)
    try:
        if args.check_html:
            problems = check_html(browser=args.browser, screenshots=args.screenshots)
            if problems:
                raise BannbError("the rendered book has problems:\n  " + "\n  ".join(problems))
            return 0
        failures = run_book(args.profile, args.chapters, force=args.force, train_only=args.train_only,
                            device=args.device)
        if failures:
            raise BannbError("chapters failed (the others' results are kept):\n  " + "\n  ".join(failures))
        if not args.no_build and not args.train_only:
            build_html()
    except BannbError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as err:
        print(f"error: the HTML build failed ({err}); see the messages above", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
