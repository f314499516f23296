"""The book's experiments: the run configs and grids its chapters train, written once.

Chapters share runs by declaring the same configs (`bannb.study.chapters`; a finished run is loaded instead of
retrained), so chapter 4 gets chapter 3's teachers, and the summary chapter reads, through the same declarations,
exactly the runs the chapters trained.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd
import torch

from bannb.data import load_dataset, test_indices
from bannb.image.config import RunConfig, build_model
from bannb.image.training import run_dataloaders, seed_everything
from bannb.lm.config import LMRunConfig
from bannb.report.records import final_fields
from bannb.runs.store import Run
from bannb.study.claims import GRID_COLUMNS
from bannb.study.convergence import fit_record
from bannb.study.generations import generation_seed, teacher_config
from bannb.study.profiles import Profile, get_profile

# BAN+L mixes the label loss and the teacher loss; the paper does not give the weight.
BAN_L_PARAMS = dict(label_weight=0.5)
LM_CHAPTER = "09_language_models"  # Table 6: perplexities of language models, where the other chapters have errors


def chapter_seeds(profile: str | Profile, seeds: Sequence[int] | None, secondary: bool = False) -> list[int]:
    """A chapter's `seeds` parameter: None means the profile's default (`Profile.seeds`, or for a comparison the
    budget allows fewer seeds, `Profile.secondary_seeds`)."""
    if seeds is not None:
        return list(seeds)
    chosen = get_profile(profile)
    return list(chosen.secondary_seeds if secondary else chosen.seeds)


def book_config(profile: str | Profile, seed: int = 0, device: str = "cpu", **overrides) -> RunConfig:
    """A teacher's config for a chapter: the profile's defaults, the chapter's parameters that are not None,
    and the book's extra shrinking at the profile (`Profile.book_overrides`) unless a parameter says otherwise."""
    return teacher_config(get_profile(profile).book_config(device=device, seed=seed, **overrides))


def extra_teacher_seeds(seeds: Sequence[int], count: int | None = None) -> list[int]:
    """`count` (default: as many as `seeds`) new seeds after the largest of `seeds`."""
    count = len(seeds) if count is None else count
    return list(range(max(seeds) + 1, max(seeds) + 1 + count))


def independent_teacher_seeds(count: int, *chain_seeds: Sequence[int]) -> list[int]:
    """Chapter 7's pool of independently trained teachers: `count` seeds (`Profile.independent_teachers`) after every seed that
    starts a born-again chain (`chain_seeds`: the central and the secondary seeds). A chain's own teacher in the
    pool would make an ensemble of independent teachers share a member with the born-again ensemble it is
    compared with, and Welch's interval assumes the two share nothing."""
    return extra_teacher_seeds(sorted({seed for seeds in chain_seeds for seed in seeds}), count)


def disjoint_groups(runs: Sequence[Run], size: int) -> list[list[Run]]:
    """Consecutive groups of `size` runs that share no member; an incomplete last group is dropped."""
    return [list(runs[start:start + size]) for start in range(0, len(runs) - size + 1, size)]


def initial_test_logits(config: RunConfig, device: str = "cpu") -> torch.Tensor:
    """The test-set logits of the network `config` describes at its initial weights, before any training step.

    The model is built as training builds it (`image.training.ImageTraining.prepare`) (same seed, same order of random draws), so these are the
    outputs the run starts from; BatchNorm normalises with each batch's statistics, as in a training step.
    The rows are in the order of `Run.test_labels()`.
    """
    dls = run_dataloaders(config, device)
    seed_everything(config.seed)
    model = build_model(config, dls.in_channels, dls.num_classes).to(device).train()
    with torch.no_grad():
        return torch.cat([model(images).float().cpu() for images, _ in dls.test])


def test_images(config: RunConfig) -> torch.Tensor:
    """The uint8 test images (N×C×H×W) `config`'s run was evaluated on, in the order of `Run.test_labels()`."""
    dataset = load_dataset(config.dataset)
    return dataset.test_images[test_indices(len(dataset.test_images), config.test_size, config.split_seed)]


# ---------------------------------------------------------------- chapter 8: across architectures

def transfer_grid(profile: str | Profile, **overrides) -> dict:
    """Chapter 8's grid at `profile` (`Profile.transfer`), with every override that is not None; `seeds`
    resolved (None: the profile's `secondary_seeds`)."""
    grid = dict(get_profile(profile).transfer, seeds=None)
    grid.update({key: value for key, value in overrides.items() if value is not None})
    grid["seeds"] = chapter_seeds(profile, grid["seeds"], secondary=True)
    return grid


def _grid_overrides(grid: dict, overrides: dict) -> dict:
    return dict(overrides, train_size=grid["train_size"], valid_size=grid["valid_size"])


# ---------------------------------------------------------------- chapter 3: the regime study; chapter 4: the control

# The regime study of chapter 3: the profile's teacher, changed one way at a time. The profile's own regime is
# one of the candidates (its seed-0 teacher, reused); the others show why the profile is what it is.
REGIME_CANDIDATES = {
    "the profile's regime": {},
    "one-cycle annealed to the end (no hold)": dict(schedule="one-cycle"),
    "the step schedule": dict(schedule="step"),
    "+ pad-crop-flip augmentation": dict(augment=True),
    "both (the paper's recipe)": dict(augment=True, schedule="step"),
    "batch 128 (half the steps)": dict(batch_size=128),
}
LONG_TEACHER_FACTOR = 2  # the equal-compute control: a teacher trained as long as teacher + student together


def regime_configs(profile: str | Profile, device: str = "cpu", **overrides) -> dict[str, RunConfig]:
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


def regime_table(runs_by_label: Mapping[str, list[Run]]) -> pd.DataFrame:
    """The regime study, one row per candidate of `REGIME_CANDIDATES` (its seed-0 teacher, from chapter 3's
    `chapters.chapter_runs`): what it changes, how well the teacher fits (`convergence.fit_record`), its test error
    and its training time."""
    rows = []
    for label in REGIME_CANDIDATES:
        run = runs_by_label[label][0]
        rows.append(dict(candidate=label, **fit_record(run), test_error=100 * run.final["test_error"],
                         train_size=run.config.train_size, epochs=run.config.epochs, arch=run.config.arch,
                         train_minutes=run.final["train_seconds"] / 60))
    return pd.DataFrame(rows)


def long_teacher_config(profile: str | Profile, seed: int, device: str = "cpu", **overrides) -> RunConfig:
    epochs = overrides.pop("epochs", None) or get_profile(profile).book_config(device=device).epochs
    return book_config(profile, seed, device, epochs=LONG_TEACHER_FACTOR * epochs, **overrides)


# ---------------------------------------------------------------- chapter 9: born-again language models

LM_MODELS = {"ce": "Teacher", "ban": "BAN", "ban+l": "BAN+L"}  # a run's loss -> its label in the records


def lm_chain_configs(profile: str | Profile, seed: int, **overrides) -> list[LMRunConfig]:
    """[teacher, BAN, BAN+L] of the replicate `seed` at `profile` (its LM profile, `Profile.lm_name`): the teacher
    on the labels, then two students of it with the same new seed (`generation_seed`), so that they differ in
    their objective alone: BAN on the teacher's outputs alone, BAN+L on labels and teacher (weight
    `BAN_L_PARAMS`, as for the images)."""
    teacher = get_profile(profile).lm_config(seed=seed, **overrides)
    return [teacher, *(dataclasses.replace(teacher, loss=loss, loss_params=dict(params), teacher=teacher.run_id,
                                           generation=1, seed=generation_seed(seed, 1), base_seed=seed)
                       for loss, params in (("ban", {}), ("ban+l", BAN_L_PARAMS)))]


# ---------------------------------------------------------------- every chapter's records, for its claims

CENTRAL_GENERATIONS = 2  # BAN-1 and BAN-2 on the central seeds; BAN-3 on the secondary ones (`study.chapters`)


def pooled_records(records_by_chapter: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The chapters' records in one table with a `chapter` column, each (run_id, model) once (the first chapter
    that has it): chapters 4-7 all show chapter 3's teachers as "Teacher". For looking at the runs, never for
    evaluating claims (`claims.evaluate_book` keeps the chapters apart)."""
    frames = [frame.assign(chapter=name) for name, frame in records_by_chapter.items() if len(frame)]
    if not frames:
        return pd.DataFrame(columns=["chapter", "model", "seed", "test_error", "run_id"])
    return pd.concat(frames, ignore_index=True).drop_duplicates(["run_id", "model"], ignore_index=True)


FIT_FIELDS = ("train_accuracy", "train_loss", "teacher_train_targets_wrong", "test_agreement_with_teacher")


def run_fit(frame: pd.DataFrame, runs_dir: Path | None = None) -> pd.DataFrame:
    """`frame` with what each run's `final.json` records of its fit (`FIT_FIELDS`; accuracies and shares in %) and
    its teacher's run id (`teacher`): NaN for an ensemble (several runs) and for a field a run does not have (only
    students have a teacher)."""
    fit = final_fields(frame, (*FIT_FIELDS, "teacher"), runs_dir)
    for name in FIT_FIELDS:
        fit[name] = fit[name].astype(float) * (1 if name == "train_loss" else 100)
    return fit


def taught_others(runs: Sequence[Run]) -> list[bool]:
    """Per run, whether another of `runs` is its student: chapter 8's teachers are the Wide-ResNets (Table 3) and,
    where Tables 4-5 are trained, the DenseNet trained on the labels."""
    teachers_of = {run.config.teacher for run in runs}
    return [run.run_id in teachers_of for run in runs]


def grid_networks(frame: pd.DataFrame) -> pd.Series:
    """Per row of chapter 8's records, the network of a grid it belongs to (its `wrn` teacher or `res` student,
    `claims.GRID_COLUMNS`), None where it belongs to none."""
    networks = pd.Series(None, index=frame.index, dtype=object)
    for column in GRID_COLUMNS:
        if column in frame:
            networks = networks.where(networks.notna(), frame[column])
    return networks


def transfer_labels(frame: pd.DataFrame) -> pd.Series:
    """Chapter 8's records labelled for figures and tables: the model, and for a model of one network of a grid
    (`grid_networks`) that network in brackets, as `claims.split_claims` names its claims."""
    networks = grid_networks(frame)
    labels = frame["model"].astype(str)
    return labels.where(networks.isna(), labels + " [" + networks.astype(str) + "]")


def transfer_tables(frame: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """Our analogues of the paper's Tables 3, 4 and 5 from chapter 8's records (`chapter_records`), laid out as the
    paper prints them (`paper.paper_table`), mean test error (%) over the seeds: Table 3 one row per Wide-ResNet
    teacher, with our DenseNet trained on the labels beside its student (the paper has no such column); Table 4
    the DenseNet teacher and its students of other depth or compression, errors and parameters (M); Table 5 one
    row per residual student, its parameters (M), trained on the labels and from the DenseNet."""
    mean = frame.groupby(transfer_labels(frame))["test_error"].mean()
    first = frame.groupby(transfer_labels(frame))[["arch", "params"]].first()
    dense = frame.loc[frame["model"] == "DenseNet baseline", "arch"].iloc[0]
    table3 = pd.DataFrame([{"Teacher": f"{wrn} → {dense}", "Teacher err": mean[f"WRN teacher [{wrn}]"],
                            "BAN": mean[f"WRN BAN [{wrn}]"], "DenseNet-90-60 student": mean[f"DenseNet student [{wrn}]"],
                            "DenseNet baseline": mean["DenseNet baseline"]}
                           for wrn in dict.fromkeys(frame["wrn"].dropna())]).set_index("Teacher")
    variants = [m for m in dict.fromkeys(frame["model"]) if m.endswith(("×Depth", "×Compr"))]
    columns = {"Teacher": "DenseNet baseline", **{label: label for label in variants}}
    table4 = pd.DataFrame({column: {"Error": mean[label], "Params (M)": first.loc[label, "params"] / 1e6}
                           for column, label in columns.items()})
    table4.index.name = None
    residual = dict.fromkeys(frame["res"].dropna()) if "res" in frame else {}  # none where a profile trains none
    table5 = pd.DataFrame([{"Student": res, "Params (M)": first.loc[f"ResNet student [{res}]", "params"] / 1e6,
                            "Baseline": mean[f"ResNet baseline [{res}]"], "BAN": mean[f"ResNet student [{res}]"]}
                           for res in residual], columns=["Student", "Params (M)", "Baseline", "BAN"]).set_index("Student")
    return {3: table3, 4: table4, 5: table5}
