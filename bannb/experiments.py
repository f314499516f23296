"""The book's experiments: the run configs and grids its chapters train, written once.

Chapters share runs by asking for the same configs (`train_run` loads a finished run instead of
retraining), so chapter 4 gets chapter 3's teachers, and the summary chapter asks, through the same
functions, for exactly the runs the chapters trained.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd
import torch

from .data import load_dataset, make_dataloaders
from .generations import born_again, chain_configs, teacher_config
from .plan import train_all
from .models import densenet_compression_variant, densenet_depth_variant
from .models.registry import resolve
from .paper import paper_table
from .profiles import get_profile
from .report import compare, ensemble_records, paper_support, run_records
from .config import RunConfig, build_model
from .store import Run
from .training import seed_everything, train_run

# BAN+L mixes the label loss and the teacher loss; the paper does not give the weight.
BAN_L_PARAMS = dict(label_weight=0.5)


def chapter_seeds(profile: str, seeds: Sequence[int] | None, secondary: bool = False) -> list[int]:
    """A chapter's `seeds` parameter: None means the profile's default (`Profile.seeds`, or for a comparison the
    budget allows fewer seeds, `Profile.secondary_seeds`)."""
    if seeds is not None:
        return list(seeds)
    chosen = get_profile(profile)
    return list(chosen.secondary_seeds if secondary else chosen.seeds)


def book_config(profile: str, seed: int = 0, device: str = "cpu", **overrides) -> RunConfig:
    """A teacher's config for a chapter: the profile's defaults, the chapter's parameters that are not None,
    and the book's extra shrinking at the profile (`Profile.book_overrides`) unless a parameter says otherwise."""
    return teacher_config(get_profile(profile).book_config(device=device, seed=seed, **overrides))


def teachers(profile: str, seeds: Sequence[int], device: str = "cpu", progress: bool = False,
             runs_dir: Path | None = None, **overrides) -> list[Run]:
    """One teacher (trained on the labels) per seed."""
    configs = [book_config(profile, seed, device, **overrides) for seed in seeds]
    train_all(configs, runs_dir, device)
    return [train_run(book_config(profile, seed, device, **overrides), runs_dir, device, progress) for seed in seeds]


def sequences(profile: str, seeds: Sequence[int], generations: int, loss: str = "ban", loss_params: dict | None = None,
              student_arch: str | None = None, device: str = "cpu", progress: bool = False,
              runs_dir: Path | None = None, **overrides) -> dict[int, list[Run]]:
    """Per seed, [teacher, BAN-1, …, BAN-k] (`born_again`); the teacher is the same run `teachers` gives.
    The runs not yet finished train first, on parallel workers (`plan.train_all`)."""
    train_all([config for seed in seeds for config in chain_configs(book_config(profile, seed, device, **overrides),
                                                                     generations, loss, loss_params, student_arch)],
              runs_dir, device)
    return {seed: born_again(book_config(profile, seed, device, **overrides), generations, loss, loss_params,
                             student_arch, runs_dir, device, progress)
            for seed in seeds}


def students(profile: str, seeds: Sequence[int], loss: str = "ban", loss_params: dict | None = None,
             student_arch: str | None = None, device: str = "cpu", progress: bool = False,
             runs_dir: Path | None = None, **overrides) -> list[Run]:
    """One first-generation student per seed, taught by that seed's teacher with `loss`."""
    return [runs[1] for runs in sequences(profile, seeds, 1, loss, loss_params, student_arch, device, progress,
                                          runs_dir, **overrides).values()]


def generation_records(chains: dict[int, list[Run]]) -> pd.DataFrame:
    """Tidy records of born-again sequences ({seed: [teacher, BAN-1, …]}), labelled Teacher, BAN-1, …"""
    length = min(len(runs) for runs in chains.values())
    return pd.concat([run_records([runs[k] for runs in chains.values()], model="Teacher" if k == 0 else f"BAN-{k}")
                      for k in range(length)], ignore_index=True)


def extra_teacher_seeds(seeds: Sequence[int], count: int | None = None) -> list[int]:
    """`count` (default: as many as `seeds`) new seeds after the largest of `seeds`."""
    count = len(seeds) if count is None else count
    return list(range(max(seeds) + 1, max(seeds) + 1 + count))


def disjoint_groups(runs: Sequence[Run], size: int) -> list[list[Run]]:
    """Consecutive groups of `size` runs that share no member; an incomplete last group is dropped."""
    return [list(runs[start:start + size]) for start in range(0, len(runs) - size + 1, size)]


def initial_test_logits(config: RunConfig, device: str = "cpu") -> torch.Tensor:
    """The test-set logits of the network `config` describes at its initial weights, before any training step.

    The model is built as `train_run` builds it (same seed, same order of random draws), so these are the
    outputs the run starts from; BatchNorm normalises with each batch's statistics, as in a training step.
    The rows are in the order of `Run.test_labels()`.
    """
    dls = make_dataloaders(load_dataset(config.dataset), config.batch_size, config.valid_size, config.split_seed,
                           config.train_size, config.test_size, config.augment, seed=config.seed, device=device)
    seed_everything(config.seed)
    model = build_model(config, dls.in_channels, dls.num_classes).to(device).train()
    with torch.no_grad():
        return torch.cat([model(images).float().cpu() for images, _ in dls.test])


# ---------------------------------------------------------------- chapters 3-7: one architecture, many objectives

def ban_records(profile: str, seeds: Sequence[int], generations: int, extra_teachers: int | None = None,
                label_weight: float = BAN_L_PARAMS["label_weight"], device: str = "cpu", progress: bool = False,
                runs_dir: Path | None = None, **overrides) -> pd.DataFrame:
    """Every model of chapters 3-7 as one tidy table (test error %, one row per run or ensemble), labelled
    with the paper's Table 2 column names: Teacher, BAN-1…BAN-k, BAN+L, CWTM, DKPP, Ens*2…Ens*k (the mean
    of BAN-1…BAN-j), and Teachers×j (independently trained teachers, disjoint groups of j)."""
    chains = sequences(profile, seeds, generations, device=device, progress=progress, runs_dir=runs_dir, **overrides)
    frames = [generation_records(chains)]
    for label, loss, params in (("BAN+L", "ban+l", dict(label_weight=label_weight)), ("CWTM", "cwtm", None),
                                ("DKPP", "dkpp", None)):
        frames.append(run_records(students(profile, seeds, loss, params, device=device, progress=progress,
                                           runs_dir=runs_dir, **overrides), model=label))
    for size in range(2, generations + 1):
        frames.append(ensemble_records({s: chains[s][1:size + 1] for s in seeds}, model=f"Ens*{size}"))
    pool = teachers(profile, list(seeds) + extra_teacher_seeds(seeds, extra_teachers), device, progress, runs_dir,
                    **overrides)
    for size in range(2, generations + 1):
        frames.append(ensemble_records(disjoint_groups(pool, size), model=f"Teachers×{size}"))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------- chapter 8: across architectures

def transfer_grid(profile: str, **overrides) -> dict:
    """Chapter 8's grid at `profile` (`Profile.transfer`), with every override that is not None; `seeds`
    resolved (None: the profile's `secondary_seeds`)."""
    grid = dict(get_profile(profile).transfer, seeds=None)
    grid.update({key: value for key, value in overrides.items() if value is not None})
    grid["seeds"] = chapter_seeds(profile, grid["seeds"], secondary=True)
    return grid


def densenet_variants(densenet: str, depth_factors: Sequence[float], compression_factors: Sequence[float]) -> dict:
    """Table 4's students of a DenseNet-BC teacher: {"2×Depth": arch name, …, "0.5×Compr": arch name, …}."""
    arguments = resolve(densenet).arguments
    depth, growth = arguments["depth"], arguments["growth"]
    variants = {f"{factor:g}×Depth": densenet_depth_variant(depth, growth, factor) for factor in depth_factors}
    variants.update({f"{factor:g}×Compr": densenet_compression_variant(depth, growth, factor)
                     for factor in compression_factors})
    return variants


def _grid_overrides(grid: dict, overrides: dict) -> dict:
    return dict(overrides, train_size=grid["train_size"], valid_size=grid["valid_size"])


def wrn_to_densenet_records(profile: str, grid: dict, device: str = "cpu", progress: bool = False,
                            runs_dir: Path | None = None, **overrides) -> pd.DataFrame:
    """Table 3's analogue: each Wide-ResNet teacher, its same-architecture BAN, and a DenseNet student of it;
    plus the DenseNet trained on the labels (not in the paper's table, but the baseline the student needs)."""
    data = _grid_overrides(grid, overrides)
    frames = []
    for wrn in grid["wrn_archs"]:
        chains = sequences(profile, grid["seeds"], 1, arch=wrn, device=device, progress=progress, runs_dir=runs_dir,
                           **data)
        frames.append(run_records([chain[0] for chain in chains.values()], teacher=wrn, model="Teacher"))
        frames.append(run_records([chain[1] for chain in chains.values()], teacher=wrn, model="BAN"))
        frames.append(run_records(students(profile, grid["seeds"], student_arch=grid["densenet"], arch=wrn,
                                           device=device, progress=progress, runs_dir=runs_dir, **data),
                                  teacher=wrn, model="DenseNet student"))
    frames.append(run_records(teachers(profile, grid["seeds"], device, progress, runs_dir, arch=grid["densenet"],
                                       **data), teacher="(labels)", model="DenseNet baseline"))
    return pd.concat(frames, ignore_index=True)


def densenet_variant_records(profile: str, grid: dict, device: str = "cpu", progress: bool = False,
                             runs_dir: Path | None = None, **overrides) -> pd.DataFrame:
    """Table 4's analogue: the DenseNet teacher and its BAN students of other depth or compression."""
    data = _grid_overrides(grid, overrides)
    frames = [run_records(teachers(profile, grid["seeds"], device, progress, runs_dir, arch=grid["densenet"], **data),
                          model="Teacher")]
    for label, arch in densenet_variants(grid["densenet"], grid["depth_factors"], grid["compression_factors"]).items():
        frames.append(run_records(students(profile, grid["seeds"], student_arch=arch, arch=grid["densenet"],
                                           device=device, progress=progress, runs_dir=runs_dir, **data), model=label))
    return pd.concat(frames, ignore_index=True)


def residual_student_records(profile: str, grid: dict, device: str = "cpu", progress: bool = False,
                             runs_dir: Path | None = None, **overrides) -> pd.DataFrame:
    """Table 5's analogue: each residual student trained on the labels (Baseline) and from the DenseNet teacher (BAN)."""
    data = _grid_overrides(grid, overrides)
    frames = []
    for arch in grid["res_students"]:
        frames.append(run_records(teachers(profile, grid["seeds"], device, progress, runs_dir, arch=arch, **data),
                                  student=arch, model="Baseline"))
        frames.append(run_records(students(profile, grid["seeds"], student_arch=arch, arch=grid["densenet"],
                                           device=device, progress=progress, runs_dir=runs_dir, **data),
                                  student=arch, model="BAN"))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------- the book's plan: every run of every chapter

# The regime study of chapter 3: the profile's teacher, changed one way at a time. The profile's own regime is
# one of the candidates (its seed-0 teacher, reused); the others show why the profile is what it is.
REGIME_CANDIDATES = {
    "the profile's regime": {},
    "+ pad-crop-flip augmentation": dict(augment=True),
    "step schedule instead of one-cycle": dict(schedule="step"),
    "both (the paper's recipe)": dict(augment=True, schedule="step"),
    "5,000 images, 15 epochs": dict(train_size=5000, epochs=15),
    "weight decay 5e-5": dict(weight_decay=5e-5),
    "WRN-16-2 (twice the width)": dict(arch="wrn-16-2"),
}
LONG_TEACHER_FACTOR = 2  # the equal-compute control: a teacher trained as long as teacher + student together
EXTRA_TEACHERS = 4  # chapter 7's independent teachers beyond the central seeds: 9 in all, 4 pairs and 3 triples


def regime_configs(profile: str, device: str = "cpu", **overrides) -> dict[str, RunConfig]:
    """The regime study's teacher per candidate (seed 0). At a profile for tests (`numbers_mean_nothing`) a
    candidate trains no more images or epochs than the profile's own teacher, so that the study costs seconds."""
    chosen = get_profile(profile)
    own = book_config(profile, 0, device, **overrides)

    def capped(change: dict) -> dict:
        if not chosen.numbers_mean_nothing:
            return change
        return {k: min(v, getattr(own, k)) if k in ("train_size", "epochs") else v for k, v in change.items()}

    return {label: book_config(profile, 0, device, **{**overrides, **capped(change)})
            for label, change in REGIME_CANDIDATES.items()}


def regime_records(profile: str, device: str = "cpu", runs_dir: Path | None = None, progress: bool = False,
                   **overrides) -> pd.DataFrame:
    """The regime study, one row per candidate (its seed-0 teacher): what it changes, how well the teacher fits
    (`convergence.fit_record`), its test error and its training time."""
    from .convergence import fit_record
    configs = regime_configs(profile, device, **overrides)
    train_all(list(configs.values()), runs_dir, device)
    rows = []
    for label, config in configs.items():
        run = train_run(config, runs_dir, device, progress)
        rows.append(dict(candidate=label, **fit_record(run), test_error=100 * run.final["test_error"],
                         train_size=config.train_size, epochs=config.epochs, arch=config.arch,
                         train_minutes=run.final["train_seconds"] / 60))
    return pd.DataFrame(rows)


def long_teacher_config(profile: str, seed: int, device: str = "cpu", **overrides) -> RunConfig:
    epochs = overrides.pop("epochs", None) or get_profile(profile).book_config(device=device).epochs
    return book_config(profile, seed, device, epochs=LONG_TEACHER_FACTOR * epochs, **overrides)


def chapter_plan(chapter: str, profile: str, device: str = "cpu", **overrides) -> list[RunConfig]:
    """Every run `chapter` asks for at `profile`, teachers before students; chapters ask for nothing else
    (a test checks it), so the book's cost is the cost of its plans."""
    chosen = get_profile(profile)
    seeds, secondary = list(chosen.seeds), list(chosen.secondary_seeds)
    base = {seed: book_config(profile, seed, device, **overrides) for seed in range(max(seeds) + 1 + EXTRA_TEACHERS)}
    if chapter == "03_teachers":
        return [*regime_configs(profile, device, **overrides).values(), *(base[s] for s in seeds)]
    if chapter == "04_born_again":
        return ([c for s in seeds for c in chain_configs(base[s], 2)]
                + [chain_configs(base[s], 3)[3] for s in secondary]
                + [long_teacher_config(profile, s, device, **overrides) for s in secondary])
    if chapter == "05_cwtm":
        return [chain_configs(base[s], 1, loss, params)[1] for s in seeds
                for loss, params in (("ban+l", BAN_L_PARAMS), ("cwtm", None))]
    if chapter == "06_dkpp":
        return [chain_configs(base[s], 1, "dkpp")[1] for s in seeds]
    if chapter == "07_ensembles":
        return [base[s] for s in extra_teacher_seeds(seeds, EXTRA_TEACHERS)]
    if chapter == "08_densenet_resnet":
        grid = transfer_grid(profile)
        data = {k: v for k, v in _grid_overrides(grid, overrides).items() if v is not None}
        plan = []
        for s in grid["seeds"]:
            for wrn in grid["wrn_archs"]:
                wrn_base = book_config(profile, s, device, **{**data, "arch": wrn})
                plan += chain_configs(wrn_base, 1) + chain_configs(wrn_base, 1, student_arch=grid["densenet"])[1:]
            dense_base = book_config(profile, s, device, **{**data, "arch": grid["densenet"]})
            plan.append(dense_base)
            for arch in densenet_variants(grid["densenet"], grid["depth_factors"], grid["compression_factors"]).values():
                plan += chain_configs(dense_base, 1, student_arch=arch)[1:]
            for arch in grid["res_students"]:
                plan.append(book_config(profile, s, device, **{**data, "arch": arch}))
                plan += chain_configs(dense_base, 1, student_arch=arch)[1:]
            plan.append(book_config(profile, s, device, **{**data, "arch": grid["linear"]}))
        return plan
    return []


BOOK_PLAN_CHAPTERS = ("03_teachers", "04_born_again", "05_cwtm", "06_dkpp", "07_ensembles", "08_densenet_resnet")


# ---------------------------------------------------------------- every chapter's records, for its claims

CENTRAL_GENERATIONS = 2  # BAN-1 and BAN-2 on the central seeds; BAN-3 on the secondary ones (chapter_plan)


def chapter_records(chapter: str, profile: str, seeds: Sequence[int] | None = None,
                    secondary_seeds: Sequence[int] | None = None, device: str = "cpu", runs_dir: Path | None = None,
                    progress: bool = False, **overrides) -> pd.DataFrame:
    """Every model `chapter` compares, as one tidy table (`report.run_records`: one row per run or ensemble, its
    base `seed`, test error in %), labelled as `bannb.claims` names them; the runs are `chapter_plan`'s (trained
    first where missing). The summary concatenates every chapter's table and evaluates every claim on it.

    03_teachers: Teacher. 04_born_again: Teacher, BAN-1, BAN-2 on the central seeds, BAN-3 and "Teacher (2×
    epochs)" on the secondary ones. 05_cwtm: Teacher, BAN-1, BAN+L, CWTM. 06_dkpp: Teacher, BAN-1, DKPP.
    07_ensembles: Teacher, BAN-1…BAN-3, Ens*2 (central seeds), Ens*3 (secondary), Teachers×2 and Teachers×3
    (disjoint groups of independently trained teachers). 08_densenet_resnet: WRN teacher, WRN BAN, DenseNet
    student, DenseNet baseline, each Table 4 student by its column name, ResNet baseline, ResNet student, Linear.
    """
    chosen = get_profile(profile)
    seeds = list(chosen.seeds if seeds is None else seeds)
    secondary = list(chosen.secondary_seeds if secondary_seeds is None else secondary_seeds)
    common = dict(device=device, progress=progress, runs_dir=runs_dir, **overrides)
    if chapter == "08_densenet_resnet":
        return _transfer_records(profile, transfer_grid(profile, seeds=secondary_seeds), device, progress, runs_dir,
                                 **overrides)
    if chapter == "03_teachers":
        return run_records(teachers(profile, seeds, device, progress, runs_dir, **overrides), model="Teacher")
    chains = sequences(profile, seeds, CENTRAL_GENERATIONS, **common)
    frames = [generation_records(chains)]
    if chapter in ("04_born_again", "07_ensembles"):
        longer = sequences(profile, secondary, CENTRAL_GENERATIONS + 1, **common)
        frames.append(run_records([longer[s][-1] for s in secondary], model=f"BAN-{CENTRAL_GENERATIONS + 1}"))
    if chapter == "04_born_again":
        configs = [long_teacher_config(profile, s, device, **overrides) for s in secondary]
        train_all(configs, runs_dir, device)
        frames.append(run_records([train_run(c, runs_dir, device, progress) for c in configs],
                                  model="Teacher (2× epochs)"))
    elif chapter == "05_cwtm":
        for label, loss, params in (("BAN+L", "ban+l", BAN_L_PARAMS), ("CWTM", "cwtm", None)):
            frames.append(run_records(students(profile, seeds, loss, params, **common), model=label))
    elif chapter == "06_dkpp":
        frames.append(run_records(students(profile, seeds, "dkpp", **common), model="DKPP"))
    elif chapter == "07_ensembles":
        frames.append(ensemble_records({s: chains[s][1:3] for s in seeds}, model="Ens*2"))
        frames.append(ensemble_records({s: longer[s][1:4] for s in secondary}, model="Ens*3"))
        pool = teachers(profile, seeds + extra_teacher_seeds(seeds, EXTRA_TEACHERS), device, progress, runs_dir,
                        **overrides)
        for size in (2, 3):
            frames.append(ensemble_records(disjoint_groups(pool, size), model=f"Teachers×{size}"))
    elif chapter != "04_born_again":
        raise ValueError(f"no records for chapter {chapter!r}; chapters with runs: {', '.join(BOOK_PLAN_CHAPTERS)}")
    return pd.concat(frames, ignore_index=True)


def _transfer_records(profile: str, grid: dict, device: str, progress: bool, runs_dir: Path | None,
                      **overrides) -> pd.DataFrame:
    """Chapter 8's table: per Wide-ResNet teacher (column `wrn`) its BAN and its DenseNet student; the DenseNet
    trained on the labels and its Table 4 students; per residual student (column `res`) its baseline and its
    BAN from the DenseNet; the linear classifier every model must beat."""
    data = _grid_overrides(grid, overrides)
    seeds = grid["seeds"]
    common = dict(device=device, progress=progress, runs_dir=runs_dir)
    frames = []
    for wrn in grid["wrn_archs"]:
        chains = sequences(profile, seeds, 1, arch=wrn, **common, **data)
        frames += [run_records([c[0] for c in chains.values()], model="WRN teacher", wrn=wrn),
                   run_records([c[1] for c in chains.values()], model="WRN BAN", wrn=wrn),
                   run_records(students(profile, seeds, student_arch=grid["densenet"], arch=wrn, **common, **data),
                               model="DenseNet student", wrn=wrn)]
    frames.append(run_records(teachers(profile, seeds, device, progress, runs_dir, arch=grid["densenet"], **data),
                              model="DenseNet baseline"))
    for label, arch in densenet_variants(grid["densenet"], grid["depth_factors"], grid["compression_factors"]).items():
        frames.append(run_records(students(profile, seeds, student_arch=arch, arch=grid["densenet"], **common, **data),
                                  model=label))
    for arch in grid["res_students"]:
        frames += [run_records(teachers(profile, seeds, device, progress, runs_dir, arch=arch, **data),
                               model="ResNet baseline", res=arch),
                   run_records(students(profile, seeds, student_arch=arch, arch=grid["densenet"], **common, **data),
                               model="ResNet student", res=arch)]
    frames.append(run_records(teachers(profile, seeds, device, progress, runs_dir, arch=grid["linear"], **data),
                              model="Linear"))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------- verdicts on the paper's claims

def table2_verdicts(frame: pd.DataFrame, generations: int) -> list[dict]:
    """Table 2's claims tested on `ban_records`' table: one `compare` row each, with the paper's own support.
    Comparisons with ensembles of independent teachers, which the paper does not make, come last, without verdict."""
    table = paper_table(2)
    # (claim, paper's column a, paper's column b, our model a, our model b, the paper's direction)
    claims = [
        ("A BAN student beats its teacher", "Teacher", "BAN", "Teacher", "BAN-1", "lower"),
        ("BAN+L is worse than BAN", "BAN", "BAN+L", "BAN-1", "BAN+L", "higher"),
        ("BAN+L beats the teacher", "Teacher", "BAN+L", "Teacher", "BAN+L", "lower"),
        ("A CWTM student beats its teacher", "Teacher", "CWTM", "Teacher", "CWTM", "lower"),
        ("A CWTM student is worse than a BAN student", "BAN", "CWTM", "BAN-1", "CWTM", "higher"),
        ("A DKPP student beats its teacher", "Teacher", "DKPP", "Teacher", "DKPP", "lower"),
        ("A DKPP student is worse than a BAN student", "BAN", "DKPP", "BAN-1", "DKPP", "higher"),
    ]
    claims += [(f"BAN-{g} beats BAN-{g - 1}", f"BAN-{g - 1}", f"BAN-{g}", f"BAN-{g - 1}", f"BAN-{g}", "lower")
               for g in range(2, generations + 1)]
    claims += [(f"Ens*{k} beats BAN-{k}", f"BAN-{k}", f"Ens*{k}", f"BAN-{k}", f"Ens*{k}", "lower")
               for k in range(2, generations + 1)]
    rows = [compare(frame, ours_a, ours_b, expected=expected, claim=claim,
                    paper=paper_support(table, a, b, expected) if {a, b} <= set(table.columns) else None)
            for claim, a, b, ours_a, ours_b, expected in claims]
    rows += [compare(frame, f"Teachers×{k}", f"Ens*{k}", claim=f"Ens*{k} against {k} independent teachers")
             for k in range(2, generations + 1)]
    return rows


def table3_verdicts(frame: pd.DataFrame, grid: dict) -> list[dict]:
    """Table 3's claims on `wrn_to_densenet_records`' table, per Wide-ResNet teacher, and the DenseNet student
    against the DenseNet baseline (not in the paper: no verdict)."""
    table = paper_table(3)
    rows = []
    for wrn in grid["wrn_archs"]:
        runs = frame[(frame["teacher"] == wrn) | (frame["model"] == "DenseNet baseline")]
        rows += [
            compare(runs, "Teacher", "DenseNet student", expected="lower", claim=f"A DenseNet student beats its {wrn} teacher",
                    paper=paper_support(table, "Teacher err", "DenseNet-90-60 student")),
            compare(runs, "Teacher", "BAN", expected="lower", claim=f"A {wrn} BAN student beats its teacher",
                    paper=paper_support(table, "Teacher err", "BAN")),
            compare(runs, "DenseNet baseline", "DenseNet student",
                    claim=f"The DenseNet student of {wrn} against the DenseNet trained on the labels"),
        ]
    return rows


def table4_verdicts(frame: pd.DataFrame) -> list[dict]:
    """Each student of `densenet_variant_records`' table against the teacher, in the direction Table 4 shows for
    the student of the same name (no verdict for a student Table 4 does not have)."""
    table = paper_table(4)
    teacher_error = table.loc["Error", "Teacher"]
    rows = []
    for label in frame.loc[frame["model"] != "Teacher", "model"].unique():
        if label in table.columns:
            paper_error = table.loc["Error", label]
            expected = "lower" if paper_error < teacher_error else "higher"
            rows.append(compare(frame, "Teacher", label, expected=expected,
                                claim=f"A {label} student has {expected} error than its teacher",
                                paper=f"{paper_error} vs {teacher_error}"))
        else:
            rows.append(compare(frame, "Teacher", label, claim=f"A {label} student against its teacher"))
    return rows


def table5_verdicts(frame: pd.DataFrame, grid: dict) -> list[dict]:
    """Table 5's claim on `residual_student_records`' table: each residual student is better taught than trained
    on the labels."""
    table = paper_table(5)
    return [compare(frame[frame["student"] == student], "Baseline", "BAN", expected="lower",
                    claim=f"{student} taught by {grid['densenet']} beats {student} trained on the labels",
                    paper=paper_support(table, "Baseline", "BAN"))
            for student in grid["res_students"]]
