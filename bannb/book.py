"""The book runner: execute the chapters with papermill at a profile, in order, then render the HTML.

    python -m bannb.book --profile cpu [--chapters 03 04] [--no-build]

At the `cpu` profile the chapters are executed in place, so the committed notebooks carry the outputs
of a real run; at any other profile they are written to `_build/executed/<profile>/`, leaving the
committed ones alone. Finished runs are reused across chapters, so a rerun costs only what is new.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import yaml

from .data.arrays import PROJECT_ROOT
from .errors import BannbError, ConfigError
from .profiles import PROFILES


def chapter_notebooks(root: Path = PROJECT_ROOT) -> list[Path]:
    """The notebooks `_toc.yml` lists, in reading order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]
    for entry in toc.get("chapters", []) or []:
        files.append(entry["file"])
    for part in toc.get("parts", []) or []:
        files += [entry["file"] for entry in part.get("chapters", [])]
    return [root / (name + ".ipynb") for name in files if (root / (name + ".ipynb")).exists()]


def select(notebooks: list[Path], wanted: list[str] | None) -> list[Path]:
    if not wanted:
        return notebooks
    chosen = [nb for nb in notebooks if any(nb.stem.startswith(prefix) for prefix in wanted)]
    if len(chosen) == 0:
        raise ConfigError(f"no chapter matches {wanted}; chapters are: {', '.join(nb.stem for nb in notebooks)}")
    return chosen


def execute(notebook: Path, output: Path, profile: str, parameters: dict) -> None:
    import papermill
    output.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(str(notebook), str(output), parameters=dict(profile=profile, **parameters),
                               cwd=str(notebook.parent), kernel_name="python3", progress_bar=False)


def build_html(root: Path = PROJECT_ROOT) -> None:
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jupyter_book), "build", str(root), "--warningiserror", "--keep-going"], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bannb.book", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu", help=f"one of {', '.join(PROFILES)}")
    parser.add_argument("--chapters", nargs="*", help="chapter number prefixes (e.g. 03 04); default: all")
    parser.add_argument("--no-build", action="store_true", help="execute only, do not render the HTML")
    args = parser.parse_args(argv)
    try:
        if args.profile not in PROFILES:
            raise ConfigError(f"unknown profile {args.profile!r}; valid profiles are: {', '.join(sorted(PROFILES))}")
        notebooks = select(chapter_notebooks(), args.chapters)
        failures = []
        for notebook in notebooks:
            output = notebook if args.profile == "cpu" else PROJECT_ROOT / "_build" / "executed" / args.profile / notebook.name
            started = time.perf_counter()
            print(f"[book] {notebook.stem}: running at profile {args.profile}", flush=True)
            try:
                execute(notebook, output, args.profile, {})
            except Exception as err:  # papermill's error names the cell; the other chapters still run
                failures.append(f"{notebook.stem}: {type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}")
                print(f"[book] {notebook.stem}: FAILED ({failures[-1]})", flush=True)
                continue
            print(f"[book] {notebook.stem}: done in {time.perf_counter() - started:.0f} s", flush=True)
        if failures:
            raise BannbError("chapters failed:\n  " + "\n  ".join(failures))
        if not args.no_build:
            build_html()
    except BannbError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
