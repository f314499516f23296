"""Each chapter's runs, declared once: a chapter is a list of `Entry`s (a label as `bannb.study.claims` names it,
the configs of its runs, one per replicate, or the groups of runs it averages, and the columns its records carry).

Both what the book trains before a chapter runs (`chapter_plan`) and what the chapter reads back
(`chapter_records`, its tidy table) are derived from that one declaration, so they cannot drift apart. A chapter
is registered by name in `CHAPTERS` (one function per chapter, taking the profile and the chapter's seeds).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from bannb.errors import ConfigError, unknown_choice
from bannb.models import densenet_variants
from bannb.report.records import ensemble_records, lm_run_records, record_runs, run_records
from bannb.runs.kinds import kind_of
from bannb.runs.lifecycle import train
from bannb.runs.plan import train_all
from bannb.study.claims import CLAIMS, evaluate_book, evaluate_chapter
from bannb.study.convergence import lm_fit_record, unfinished_lm_teachers
from bannb.study.experiments import (
    BAN_L_PARAMS,
    CENTRAL_GENERATIONS,
    LM_CHAPTER,
    LM_MODELS,
    LONG_TEACHER_FACTOR,
    _grid_overrides,
    book_config,
    chapter_seeds,
    disjoint_groups,
    independent_teacher_seeds,
    lm_chain_configs,
    long_teacher_config,
    regime_configs,
    transfer_grid,
)
from bannb.study.generations import chain_configs
from bannb.study.profiles import Profile, check_seeds, get_profile
from bannb.study.regimes import LONGER, MAP_STUDENTS, SMOOTHED, STUDENT, TEACHER, rung_student, rung_teacher

RECORDS = {"image": run_records, "lm": lm_run_records}  # a kind of run (`bannb.runs.kinds`) -> its tidy records


@dataclass(frozen=True)
class Entry:
    """One model a chapter shows: `label` (e.g. "BAN-1"), its runs (`configs`, one per replicate) or the ensembles
    it averages (`groups`: (replicate, configs) pairs, Eq. 4), and extra columns of its records (chapter 8's `wrn`,
    `res`). An entry that is not `shown` is trained by the chapter's plan and read apart (chapter 3's regimes)."""

    label: str
    configs: tuple = ()
    groups: tuple = ()
    columns: dict = field(default_factory=dict)
    shown: bool = True

    def all_configs(self) -> list:
        return [*self.configs, *(config for _, members in self.groups for config in members)]


@dataclass(frozen=True)
class Seeds:
    """A chapter's seeds: the central ones its claims average over, the secondary ones the budget allows fewer of
    (BAN-3, the long teacher, chapter 8's grid), and the language models' replicates."""

    central: list
    secondary: list
    lm: list
    map: list = field(default_factory=list)  # the map of regimes' (`Profile.map_seeds`)


def _chains(profile, seeds, generations, device, overrides, **chain) -> dict:
    return {s: chain_configs(book_config(profile, s, device, **overrides), generations, **chain) for s in seeds}


def generation_labels(generations: int) -> list[str]:
    """The labels of a born-again sequence's models: ["Teacher", "BAN-1", …, "BAN-`generations`"]."""
    return ["Teacher", *(f"BAN-{k}" for k in range(1, generations + 1))]


def _generations(chains: dict) -> list[Entry]:
    """Teacher, BAN-1, … of born-again sequences ({seed: [teacher, BAN-1, …]})."""
    length = min(len(configs) for configs in chains.values())
    return [Entry(label, tuple(configs[k] for configs in chains.values()))
            for k, label in enumerate(generation_labels(length - 1))]


def _students(profile, seeds, device, overrides, **chain) -> tuple:
    return tuple(configs[1] for configs in _chains(profile, seeds, 1, device, overrides, **chain).values())


def gradient_chapter(profile, seeds: Seeds, device, **overrides) -> list[Entry]:
    """02_gradient: the first central seed's teacher and its BAN-1 (chapter 4's runs), whose logits check Eq. 2."""
    return _generations(_chains(profile, seeds.central[:1], 1, device, overrides))


def teachers_chapter(profile, seeds: Seeds, device, **overrides) -> list[Entry]:
    """03_teachers: the teachers, and the regime study (shown apart, `experiments.regime_records`)."""
    return [Entry("Teacher", tuple(book_config(profile, s, device, **overrides) for s in seeds.central)),
            *(Entry(label, (config,), shown=False)
              for label, config in regime_configs(profile, device, **overrides).items())]


def born_again_chapter(profile, seeds: Seeds, device, **overrides) -> list[Entry]:
    """04_born_again: Teacher, BAN-1, BAN-2 on the central seeds; BAN-3 and "Teacher (2× epochs)" (the
    equal-compute control) on the secondary ones."""
    longer = _chains(profile, seeds.secondary, CENTRAL_GENERATIONS + 1, device, overrides)
    return [*_generations(_chains(profile, seeds.central, CENTRAL_GENERATIONS, device, overrides)),
            Entry(f"BAN-{CENTRAL_GENERATIONS + 1}", tuple(configs[-1] for configs in longer.values())),
            Entry("Teacher (2× epochs)", tuple(long_teacher_config(profile, s, device, **overrides)
                                               for s in seeds.secondary))]


def cwtm_chapter(profile, seeds: Seeds, device, **overrides) -> list[Entry]:
    """05_cwtm: Teacher, BAN-1, BAN-2, and the students of the same teachers with BAN+L and CWTM."""
    return [*_generations(_chains(profile, seeds.central, CENTRAL_GENERATIONS, device, overrides)),
            Entry("BAN+L", _students(profile, seeds.central, device, overrides, loss="ban+l", loss_params=BAN_L_PARAMS)),
            Entry("CWTM", _students(profile, seeds.central, device, overrides, loss="cwtm"))]


def dkpp_chapter(profile, seeds: Seeds, device, **overrides) -> list[Entry]:
    """06_dkpp: Teacher, BAN-1, BAN-2, and the DKPP students of the same teachers."""
    return [*_generations(_chains(profile, seeds.central, CENTRAL_GENERATIONS, device, overrides)),
            Entry("DKPP", _students(profile, seeds.central, device, overrides, loss="dkpp"))]


INDEPENDENT = "Independent teachers"  # chapter 7's pool of teachers in no born-again chain (read apart, not shown)


def ensembles_chapter(profile, seeds: Seeds, device, **overrides) -> list[Entry]:
    """07_ensembles: Teacher, BAN-1…BAN-3, the ensembles of generations Ens*2 (central seeds) and Ens*3 (secondary),
    and Teachers×2, Teachers×3: disjoint groups of the pool of independently trained teachers (our control; the pool
    itself is read apart, `INDEPENDENT`)."""
    chains = _chains(profile, seeds.central, CENTRAL_GENERATIONS, device, overrides)
    longer = _chains(profile, seeds.secondary, CENTRAL_GENERATIONS + 1, device, overrides)
    pool = [book_config(profile, s, device, **overrides)
            for s in independent_teacher_seeds(get_profile(profile).independent_teachers, seeds.central, seeds.secondary)]
    return [*_generations(chains), Entry(INDEPENDENT, tuple(pool), shown=False),
            Entry(f"BAN-{CENTRAL_GENERATIONS + 1}", tuple(configs[-1] for configs in longer.values())),
            Entry("Ens*2", groups=tuple((s, tuple(configs[1:3])) for s, configs in chains.items())),
            Entry("Ens*3", groups=tuple((s, tuple(configs[1:4])) for s, configs in longer.items())),
            *(Entry(f"Teachers×{size}", groups=tuple(enumerate(map(tuple, disjoint_groups(pool, size)))))
              for size in (2, 3))]


def transfer_chapter(profile, seeds: Seeds, device, **overrides) -> list[Entry]:
    """08_densenet_resnet, on the secondary seeds: per Wide-ResNet teacher (column `wrn`) its BAN and its DenseNet
    student; the DenseNet trained on the labels and its Table 4 students; per residual student (column `res`) its
    baseline and its BAN from the DenseNet; the linear classifier every model must beat. None at a profile
    without a grid (`Profile.transfer`)."""
    if not get_profile(profile).transfer:
        return []
    grid = transfer_grid(profile, seeds=seeds.secondary)
    data = _grid_overrides(grid, overrides)

    def base(arch):
        return {s: book_config(profile, s, device, **data, arch=arch) for s in grid["seeds"]}

    def students_of(teachers: dict, arch):
        return tuple(chain_configs(config, 1, student_arch=arch)[1] for config in teachers.values())

    entries = []
    for wrn in grid["wrn_archs"]:
        wrns = base(wrn)
        entries += [Entry("WRN teacher", tuple(wrns.values()), columns=dict(wrn=wrn)),
                    Entry("WRN BAN", students_of(wrns, None), columns=dict(wrn=wrn)),
                    Entry("DenseNet student", students_of(wrns, grid["densenet"]), columns=dict(wrn=wrn))]
    dense = base(grid["densenet"])
    entries.append(Entry("DenseNet baseline", tuple(dense.values())))
    for label, arch in densenet_variants(grid["densenet"], grid["depth_factors"], grid["compression_factors"]).items():
        entries.append(Entry(label, students_of(dense, arch)))
    for arch in grid["res_students"]:
        entries += [Entry("ResNet baseline", tuple(base(arch).values()), columns=dict(res=arch)),
                    Entry("ResNet student", students_of(dense, arch), columns=dict(res=arch))]
    entries.append(Entry("Linear", tuple(base(grid["linear"]).values())))
    return entries


def language_models_chapter(profile, seeds: Seeds, device, **overrides) -> list[Entry]:
    """09_language_models, on the language models' replicates: Teacher, BAN and BAN+L (perplexities)."""
    chains = [lm_chain_configs(profile, s, **overrides) for s in seeds.lm]
    return [Entry(label, tuple(chain[position] for chain in chains)) for position, label in enumerate(LM_MODELS.values())]


def regime_map_chapter(profile, seeds: Seeds, device, **overrides) -> list[Entry]:
    """10_regime_map: in every cell of the profile's map (`Profile.regime_map`, column `cell`) on its seeds
    (`Profile.map_seeds`): the teacher, its BAN-1, a label-smoothing student of the same teacher (smoothed by the
    teacher's mass outside its top class, our control), a teacher of twice the epochs (whether the teacher was
    converged), the profile's other students of the same teacher (`Profile.map_students`) and the cell's ladder of
    longer teachers with their BAN-1 (`Profile.map_ladder`, `_ladder`). Column `epochs`: the teacher's length (a
    student's, its teacher's: as long as its own). None at a profile without a map."""
    chosen = get_profile(profile)
    unknown = [name for name in chosen.map_students if name not in MAP_STUDENTS]
    if unknown:
        raise unknown_choice(f"profile {chosen.name}: map student", unknown[0], MAP_STUDENTS)
    entries, regimes = [], {}
    for cell, changes in chosen.regime_map.items():
        cell_overrides = {**changes, **{key: value for key, value in overrides.items() if value is not None}}
        probe = book_config(profile, 0, device, **cell_overrides)
        regime, epochs = probe.run_id, probe.epochs
        if regime in regimes:  # two names for one regime would count its runs twice
            raise ConfigError(f"profile {chosen.name}: cells {regimes[regime]!r} and {cell!r} of its "
                              f"regime map train the same runs; give each cell its own regime")
        regimes[regime] = cell
        teachers = {s: book_config(profile, s, device, **cell_overrides) for s in seeds.map}
        columns = dict(cell=cell, epochs=epochs)

        def students(loss="ban", loss_params=None):
            return tuple(chain_configs(config, 1, loss=loss, loss_params=loss_params)[1] for config in teachers.values())

        entries += [Entry(TEACHER, tuple(teachers.values()), columns=columns),
                    Entry(STUDENT, students(), columns=columns),
                    Entry(SMOOTHED, students(loss="ls"), columns=columns),
                    Entry(LONGER, tuple(long_teacher_config(profile, s, device, **cell_overrides) for s in seeds.map),
                          columns=dict(cell=cell, epochs=LONG_TEACHER_FACTOR * epochs)),
                    *(Entry(MAP_STUDENTS[name].label, students(MAP_STUDENTS[name].loss, MAP_STUDENTS[name].params),
                            columns=columns) for name in chosen.map_students),
                    *_ladder(profile, seeds.map, device, cell, cell_overrides, epochs)]
    return entries


def _ladder(profile, seeds, device, cell: str, cell_overrides: dict, epochs: int) -> list[Entry]:
    """The cell's ladder (`Profile.map_ladder`): per rung its teachers and, below the last rung, their BAN-1 of the
    same length; a rung at the cell's `epochs` or twice them is the cell's teacher or 2× teacher (the same runs),
    declared once, above."""
    rungs = get_profile(profile).map_ladder.get(cell, ())
    entries = []
    for position, rung in enumerate(rungs):
        teachers = tuple(book_config(profile, s, device, **{**cell_overrides, "epochs": rung}) for s in seeds)
        columns = dict(cell=cell, epochs=rung)
        if rung not in (epochs, LONG_TEACHER_FACTOR * epochs):
            entries.append(Entry(rung_teacher(rung), teachers, columns=columns))
        if rung != epochs and position < len(rungs) - 1:
            entries.append(Entry(rung_student(rung), tuple(chain_configs(config, 1)[1] for config in teachers),
                                 columns=columns))
    return entries


# The chapters that train runs, in the book's order: each declared once, above.
CHAPTERS: dict[str, Callable] = {
    "02_gradient": gradient_chapter,
    "03_teachers": teachers_chapter,
    "04_born_again": born_again_chapter,
    "05_cwtm": cwtm_chapter,
    "06_dkpp": dkpp_chapter,
    "07_ensembles": ensembles_chapter,
    "08_densenet_resnet": transfer_chapter,
    "09_language_models": language_models_chapter,
    "10_regime_map": regime_map_chapter,
}
BOOK_PLAN_CHAPTERS = tuple(CHAPTERS)
GRADIENT_CHAPTER = "02_gradient"  # checks Eq. 2 on one teacher and student of chapter 4's, and tests no claim
RECORD_CHAPTERS = tuple(name for name in CHAPTERS if name != GRADIENT_CHAPTER)  # the chapters the summary reads


SUMMARY_CHAPTER = "11_summary"  # trains nothing of its own: it reads every chapter's records (`book_records`)
MAP_CHAPTER = "10_regime_map"
OWN_SEEDS_CHAPTERS = (LM_CHAPTER, MAP_CHAPTER)  # chapters on their own replicates (`Profile.lm_seeds`, `map_seeds`)


def chapters_read(notebook: str | None) -> tuple[str, ...]:
    """The chapters whose runs the notebook `notebook` (e.g. "04_born_again") reads: its own where it has runs,
    every chapter's for the summary, none for the others (and for None)."""
    if notebook == SUMMARY_CHAPTER:
        return RECORD_CHAPTERS
    return (notebook,) if notebook in CHAPTERS else ()


_PAIRINGS: dict[tuple[str, str], tuple] = {}  # (chapter, profile) -> its seed_pairings, derived once per process


def seed_pairings(chapter: str, profile: str | Profile) -> tuple[tuple[str, str], ...]:
    """The models `chapter`'s paired claims compare seed by seed across its two lists of seeds, as (model of the
    secondary seeds, model of the central seeds) pairs (chapter 4: BAN-3 against BAN-2, its teacher): read from
    its declaration, built on two probe seeds, central 0 and secondary 1."""
    chosen = get_profile(profile)
    key = (chapter, chosen.name)
    if key not in _PAIRINGS:
        seeds: dict[str, set] = {}
        for entry in CHAPTERS[chapter](chosen, Seeds(central=[0], secondary=[1], lm=[0]), "cpu"):
            seeds.setdefault(entry.label, set()).update(config.base_seed for config in entry.all_configs())
        paired = [(claim.a, claim.b) for claim in CLAIMS if claim.chapter == chapter and claim.paired]
        _PAIRINGS[key] = tuple((b, a) if seeds.get(a) == {0} else (a, b) for a, b in paired
                               if {frozenset(seeds.get(a, ())), frozenset(seeds.get(b, ()))} == {
                                   frozenset({0}), frozenset({1})})
    return _PAIRINGS[key]


def check_chapter_seeds(chapter: str, profile: str | Profile, seeds: Sequence[int],
                        secondary_seeds: Sequence[int]) -> None:
    """Refuse, as one ConfigError, seeds that would fail later in `chapter` at `profile`: a repeated seed, no seed,
    one outside 0-999 (`profiles.check_seeds`), and where the chapter compares a model of its secondary seeds
    with one of its central seeds seed by seed (`seed_pairings`), a secondary seed that is not a central one."""
    check_seeds("seeds", seeds)
    check_seeds("secondary_seeds", secondary_seeds)
    pairings = seed_pairings(chapter, profile)
    missing = [seed for seed in secondary_seeds if seed not in seeds]
    if pairings and missing:
        secondary_model, central_model = pairings[0]
        kept = [seed for seed in secondary_seeds if seed in seeds] or list(seeds)[:1]
        raise ConfigError(f"chapter {chapter}: secondary seeds {list(secondary_seeds)} are not all among the seeds "
                          f"{list(seeds)} (missing: {', '.join(map(str, missing))}), yet it compares "
                          f"{secondary_model} of each secondary seed with {central_model} of the same seed, which "
                          f"only the seeds train; give secondary seeds among the seeds (e.g. `-y 'secondary_seeds: "
                          f"{kept}'`) or add {', '.join(map(str, missing))} to the seeds")


def chapter_entries(chapter: str, profile: str, seeds: Sequence[int] | None = None,
                    secondary_seeds: Sequence[int] | None = None, device: str = "cpu", **overrides) -> list[Entry]:
    """`chapter`'s declaration at `profile` (seeds None: the profile's `seeds`, `secondary_seeds` and, for the
    language models' replicates, `lm_seeds`), its seeds checked first (`check_chapter_seeds`)."""
    if chapter not in CHAPTERS:
        raise ConfigError(f"chapter {chapter!r} trains no runs; the chapters with runs are: {', '.join(CHAPTERS)}")
    chosen = get_profile(profile)  # resolved once, passed down as the object
    chosen_seeds = Seeds(central=chapter_seeds(chosen, seeds),
                         secondary=chapter_seeds(chosen, secondary_seeds, secondary=True),
                         lm=chosen.lm_seed_list(seeds), map=list(chosen.map_seeds if seeds is None else seeds))
    check_chapter_seeds(chapter, chosen, chosen_seeds.central, chosen_seeds.secondary)
    check_seeds("seeds", chosen_seeds.lm)
    return CHAPTERS[chapter](chosen, chosen_seeds, device, **overrides)


def chapter_plan(chapter: str, profile: str, device: str = "cpu", **overrides) -> list:
    """Every run `chapter` asks for at `profile`, each once, a replicate's runs together, teachers before their
    students: what the book trains before the chapter runs (nothing for a chapter without runs)."""
    if chapter not in CHAPTERS:
        return []
    configs = {config.run_id: config for entry in chapter_entries(chapter, profile, device=device, **overrides)
               for config in entry.all_configs()}
    replicates = list(dict.fromkeys(config.base_seed for config in configs.values()))
    return [config for replicate in replicates for config in configs.values() if config.base_seed == replicate]


def chapter_records(chapter: str, profile: str, seeds: Sequence[int] | None = None,
                    secondary_seeds: Sequence[int] | None = None, device: str = "cpu", runs_dir: Path | None = None,
                    progress: bool = False, **overrides) -> pd.DataFrame:
    """Every model `chapter` shows, as one tidy table (one row per run or ensemble, its base `seed`; test error in
    % for images, perplexities for language models), labelled as `bannb.study.claims` names them. What is not
    finished trains first, on parallel workers (`plan.train_all`). The summary concatenates every chapter's table
    and evaluates every claim on it."""
    frames = []
    for entry, runs in _entry_runs(chapter, profile, seeds, secondary_seeds, device, runs_dir, progress, overrides):
        if entry.groups:
            frames.append(ensemble_records(dict(runs), model=entry.label, **entry.columns))
        else:
            records = RECORDS[kind_of(entry.configs[0]).name]
            frames.append(records(runs, model=entry.label, **entry.columns))
    return pd.concat(frames, ignore_index=True)


def chapter_runs(chapter: str, profile: str, seeds: Sequence[int] | None = None,
                 secondary_seeds: Sequence[int] | None = None, device: str = "cpu", runs_dir: Path | None = None,
                 progress: bool = False, **overrides) -> dict[str, list]:
    """The finished runs (`store.Run`) of every model `chapter` declares, shown or read apart, by label, in replicate
    order (trained first where missing); an entry of ensembles gives its members, group after group. What a notebook
    reads of its runs beyond its records, it reads from here."""
    found = {}
    for entry, runs in _entry_runs(chapter, profile, seeds, secondary_seeds, device, runs_dir, progress, overrides,
                                   shown_only=False):
        members = [run for _, group in runs for run in group] if entry.groups else runs
        found.setdefault(entry.label, []).extend(members)
    return found


def _entry_runs(chapter, profile, seeds, secondary_seeds, device, runs_dir, progress, overrides, shown_only=True):
    """(entry, its runs) for every entry the chapter shows (`shown_only`) or declares: a list of runs, or of
    (replicate, runs) for ensembles."""
    entries = [entry for entry in chapter_entries(chapter, profile, seeds, secondary_seeds, device, **overrides)
               if entry.shown or not shown_only]
    train_all([config for entry in entries for config in entry.all_configs()], runs_dir, device)

    def runs(configs):
        return [train(config, runs_dir, device, progress) for config in configs]

    return [(entry, [(replicate, runs(members)) for replicate, members in entry.groups] if entry.groups
             else runs(entry.configs)) for entry in entries]


def seed_chains(runs_by_label: dict[str, list], labels: Sequence[str]) -> dict[int, list]:
    """Per base seed, the runs of `labels` in that order ({seed: [teacher, BAN-1, …]}, from `chapter_runs`): a seed's
    chain ends where a label has no run of that seed (BAN-3 only on the secondary seeds). Seeds in the order of the
    first label's runs."""
    chains: dict[int, list] = {}
    for position, label in enumerate(labels):
        for run in runs_by_label.get(label, []):
            chain = chains.setdefault(run.config.base_seed, [])
            if len(chain) == position:
                chain.append(run)
    return chains


def book_records(profile: str, seeds: Sequence[int] | None = None, secondary_seeds: Sequence[int] | None = None,
                 device: str = "cpu", runs_dir: Path | None = None, progress: bool = False,
                 chapters: Sequence[str] = RECORD_CHAPTERS, **overrides) -> dict[str, pd.DataFrame]:
    """Every chapter's records (`chapter_records`; `chapters`: those of the book, by default every chapter with
    runs), by chapter: what `claims.evaluate_book` takes. Kept apart, since chapters label different things alike.
    The language-model chapter and the map keep their own replicates."""
    return {name: chapter_records(name, profile, None if name in OWN_SEEDS_CHAPTERS else seeds, secondary_seeds,
                                  device, runs_dir, progress, **overrides)
            for name in chapters if name in RECORD_CHAPTERS}


def unfinished_chapters(records_by_chapter: dict[str, pd.DataFrame], runs_dir: Path | None = None) -> dict[str, str]:
    """The chapters whose claims the summary shows but keeps out of its tally, with why (`claims.evaluate_book`'s
    `unfinished`): the language models', where some of its teachers are still improving at their end
    (`convergence.unfinished_lm_teachers`). The image chapters' teachers are judged where they are trained."""
    frame = records_by_chapter.get(LM_CHAPTER)
    if frame is None or frame.empty:
        return {}
    teachers = record_runs(frame[frame["model"] == "Teacher"], runs_dir)
    reason = unfinished_lm_teachers([lm_fit_record(run) for run in teachers])
    return {LM_CHAPTER: reason} if reason else {}


def judged_claims(records_by_chapter: dict[str, pd.DataFrame], chapter: str | None = None,
                  runs_dir: Path | None = None) -> pd.DataFrame:
    """Every claim of the book judged once, on every chapter's records (`book_records`): `claims.evaluate_book`, one
    Holm family for the whole book, the chapters whose teachers are not finished kept out of its tally
    (`unfinished_chapters`). The summary shows this table; with `chapter`, that chapter's rows of it
    (`claims.evaluate_chapter`, its own family's reading beside the verdict): the one place a verdict comes from."""
    unfinished = unfinished_chapters(records_by_chapter, runs_dir)
    if chapter is None:
        return evaluate_book(records_by_chapter, unfinished=unfinished)
    return evaluate_chapter(records_by_chapter, chapter, unfinished=unfinished)


SEED_CHAPTERS = ("03_teachers", "04_born_again", "05_cwtm", "06_dkpp")  # the chapters whose runs are per central seed


def runs_per_seed(profile: str, chapters: Sequence[str] = SEED_CHAPTERS) -> int:
    """How many runs one more central seed adds to `chapters`' plans at `profile` (a teacher and its students),
    counted on a central seed that is not also a secondary one, so that BAN-3 and the long teacher are not in it."""
    chosen = get_profile(profile)
    seed = max(set(chosen.seeds) - set(chosen.secondary_seeds) or chosen.seeds)
    return len({config.run_id for chapter in chapters for config in chapter_plan(chapter, profile)
                if config.base_seed == seed and config.run_id not in
                {c.run_id for c in regime_configs(profile).values()}})
