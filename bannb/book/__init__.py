"""What a chapter's notebook calls: its one set-up call (`chapter`: its papermill parameters validated, the profile
resolved, the note shown) and the glue helpers. The runner that executes the chapters and renders the HTML is
`bannb.book.runner` (`python -m bannb.book`); the chapters' training times, `bannb.book.timings`.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from bannb.data import DATASETS
from bannb.errors import ConfigError, unknown_choice
from bannb.facts import glue_facts
from bannb.image.config import PRECISIONS
from bannb.paths import PROJECT_ROOT
from bannb.study.chapters import RECORD_CHAPTERS, SUMMARY_CHAPTER, book_records, chapters_read, check_chapter_seeds
from bannb.study.profiles import DEFAULT_PROFILE, PROFILES, Profile, check_seeds, get_profile, resolve_device

# ---------------------------------------------------------------- the book's chapters

def chapter_notebooks(root: Path = PROJECT_ROOT) -> list[Path]:
    """The notebooks `_toc.yml` lists, in reading order: the book (a notebook in book/ but not listed, a chapter
    being written, is not part of it)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    entries = [toc["root"]] + [entry["file"] for entry in toc.get("chapters") or []]
    for part in toc.get("parts") or []:
        entries += [entry["file"] for entry in part.get("chapters", [])]
    return [root / (entry + ".ipynb") for entry in entries if (root / (entry + ".ipynb")).exists()]


def book_chapters(root: Path = PROJECT_ROOT) -> list[str]:
    """The names of the book's chapters (`chapter_notebooks`), e.g. "04_born_again": what the summary reads."""
    return [notebook.stem for notebook in chapter_notebooks(root)]


# ---------------------------------------------------------------- a chapter's parameters

_POSITIVE_INTS = ("epochs", "generations", "batch_size", "train_size", "test_size", "valid_size")


def check_parameters(**parameters) -> dict:
    """Validate a chapter's papermill parameters, so that a wrong one fails in the first cell with a message
    naming it, not deep inside training. None stands for "the profile's default" wherever it is allowed
    (every parameter but profile). Returns them unchanged."""
    for name, value in parameters.items():
        if name == "profile" and value not in PROFILES:
            raise unknown_choice("profile", value, PROFILES)
        elif name == "dataset" and value is not None and value not in DATASETS:  # None: the profile's
            raise unknown_choice("dataset", value, DATASETS)
        elif name in _POSITIVE_INTS and value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ConfigError(f"parameter {name} must be a positive integer, got {value!r} ({type(value).__name__}); "
                              f"pass it as e.g. `-p {name} 3`")
        elif name in ("seeds", "secondary_seeds") and value is not None:
            if not isinstance(value, list):
                raise ConfigError(f"parameter {name} must be a non-empty list of integers, got {value!r}; "
                                  f"pass it as e.g. `-y '{name}: [0, 1, 2]'`")
            check_seeds(f"parameter {name}", value)
        elif name in ("arch", "student_arch", "densenet", "device", "precision") and value is not None \
                and not isinstance(value, str):
            raise ConfigError(f"parameter {name} must be a string, got {value!r} ({type(value).__name__})")
        elif name == "precision" and value is not None and value not in PRECISIONS:
            raise unknown_choice("precision", value, PRECISIONS)
        elif name == "dropout" and value is not None and (
                not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1):
            raise ConfigError(f"parameter dropout must be a number from 0 up to (not including) 1, got {value!r}")
        elif name in ("archs", "wrn_archs", "res_students") and value is not None and (
                not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value)):
            raise ConfigError(f"parameter {name} must be a list of architecture names, got {value!r}")
        elif name in ("depth_factors", "compression_factors") and value is not None and (
                not isinstance(value, list) or not all(isinstance(f, (int, float)) and not isinstance(f, bool)
                                                       and f > 0 for f in value)):
            raise ConfigError(f"parameter {name} must be a list of positive numbers, got {value!r}")
        elif name == "extra_teachers" and value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ConfigError(f"parameter extra_teachers must be an integer >= 0, got {value!r}")
    return parameters


# Chapter parameters that are run parameters (a `RunConfig` field a profile sets); the others (generations,
# extra_teachers, chapter 8's grid…) are the chapter's own.
RUN_PARAMETERS = (*Profile.RUN_FIELDS, "dropout", "precision")
_NOTES_SHOWN: set = set()


@dataclass(frozen=True)
class Chapter:
    """A chapter's set-up, resolved: what its cells pass to `bannb.study.experiments`."""

    profile: Profile
    seeds: list  # the central comparisons' seeds
    secondary_seeds: list  # the seeds of the comparisons the budget allows fewer (chapter 8's grid)
    overrides: dict  # the run parameters the chapter sets (those not None), over the profile's defaults
    device: str
    parameters: dict  # every parameter as given (validated), the chapter's own ones included
    name: str | None = None  # the chapter's notebook, e.g. "04_born_again" (None: a notebook outside the book)

    def note(self) -> str:
        """What this chapter's numbers are worth (`Profile.note` of the chapter's config)."""
        return self.profile.note(**self.overrides)


# How a notebook's reader asks for the CPU explicitly (`resolve_device`'s message).
CPU_ASKED = 'device="cpu"; with papermill `-p device cpu`'


def chapter(profile: str | Profile | None = None, seeds: list | None = None, secondary_seeds: list | None = None,
            device: str | None = None, show_note: bool = True, name: str | None = None, **parameters) -> Chapter:
    """A chapter's one set-up call: validates its papermill parameters together, before anything trains
    (`check_parameters`; the seeds against what the chapter `name`, e.g. "04_born_again", compares, and for the
    summary what every chapter does, `chapters.check_chapter_seeds`), resolves the profile (None:
    `$BANNB_PROFILE`, else the committed profile), the device (`profiles.resolve_device`: a profile that needs a
    GPU is refused without CUDA unless device="cpu" is given), the seeds (None: the profile's) and the run
    overrides, and shows the profile's note once (the first time a chapter of this profile and these overrides
    asks, in this process). Each refusal is one ConfigError, raised in the chapter's first cell."""
    if profile is None:
        profile = os.environ.get("BANNB_PROFILE") or DEFAULT_PROFILE
    profile_name = profile.name if isinstance(profile, Profile) else profile
    check_parameters(profile=profile_name, seeds=seeds, secondary_seeds=secondary_seeds, device=device, **parameters)
    chosen = profile if isinstance(profile, Profile) else get_profile(profile)
    device = resolve_device(chosen, device, CPU_ASKED)
    central = list(seeds) if seeds is not None else list(chosen.seeds)
    secondary = list(secondary_seeds) if secondary_seeds is not None else list(chosen.secondary_seeds)
    for read in chapters_read(name):
        check_chapter_seeds(read, chosen, central, secondary)
    context = Chapter(profile=chosen, seeds=central, secondary_seeds=secondary,
                      overrides={k: v for k, v in parameters.items() if k in RUN_PARAMETERS and v is not None},
                      device=device, parameters=dict(parameters, profile=profile_name, seeds=seeds, device=device),
                      name=name)
    chosen.book_config(device, **context.overrides)  # the run overrides together (sizes, network, precision)
    key = (chosen.name, json.dumps(context.overrides, sort_keys=True, default=str))
    if show_note and key not in _NOTES_SHOWN:
        _NOTES_SHOWN.add(key)
        show_markdown(context.note())
    return context


def book_records_for(ctx: Chapter, own: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """The records `chapters.judged_claims` judges, by chapter: those of every chapter of the book (`book_chapters`).
    The summary reads every chapter at its seeds. Another chapter (`ctx.name`) reads the others as the book runs them
    (the profile's seeds and run parameters) and gives its own records as it asked for them (`own`, the frame it
    holds), so that at the book's parameters its verdicts are the summary's, and with other seeds it trains and
    judges only its own runs anew."""
    if ctx.name == SUMMARY_CHAPTER:
        return book_records(ctx.profile.name, ctx.seeds, ctx.secondary_seeds, ctx.device, chapters=book_chapters())
    if ctx.name in RECORD_CHAPTERS and own is None:
        raise ValueError(f"chapter {ctx.name} has records of its own: pass them (its `chapter_records` frame) as `own`")
    records = book_records(ctx.profile.name, device=ctx.device, chapters=[name for name in book_chapters()
                                                                           if name != ctx.name])
    return records | ({ctx.name: own} if own is not None else {})


def glue_value(name: str, value) -> None:
    """myst-nb's `glue(name, value, display=False)` for a value the prose cites (``{glue:text}`name:.2f` ``), as a
    plain Python value (`bannb.facts.plain`); a chapter's facts are glued at once with `bannb.facts.glue_facts`."""
    glue_facts({name: value})


def show_markdown(text: str) -> None:
    """Rendered Markdown in a notebook, the text itself elsewhere."""
    try:  # lazily: IPython is there in a notebook, and optional everywhere else
        from IPython import get_ipython  # lazily (see above)
        from IPython.display import Markdown, display  # lazily (see above)
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(Markdown(text))
    else:
        print(text)
