"""Profiles: everything a named scale of the book means, declared once.

A `Profile` holds the run defaults (the recipe, the data, the network, the precision of record), the
seeds a chapter averages over, how the book shrinks it further, chapter 8's transfer grid, and the note
a chapter prints, computed from all that (parameter counts of the real networks, the dataset's sizes).
A profile sets defaults; every run parameter can still be given (`make_config(profile, **overrides)`).
To add a profile, add one `Profile` to `PROFILES`.
"""
from __future__ import annotations

import dataclasses

from dataclasses import dataclass, field

import pandas as pd
import torch

from bannb.data import dataset_shape, load_dataset
from bannb.data.text import load_corpus
from bannb.errors import ConfigError, unknown_choice
from bannb.image.config import PRECISIONS, RunConfig
from bannb.image.distributed import world_size
from bannb.image.precision import auto_settings, resolve_precision
from bannb.lm.config import LMRunConfig
from bannb.models import densenet_variants, model_family, parameter_count
from bannb.runs.plan import schedule_seconds
from bannb.study.generations import SEED_STRIDE

# The language models' named defaults (chapter 9); each `Profile` names the one it trains (`lm_name`).
LM_PROFILES = {
    # Seconds per run on a slice of the corpus: exercises every code path; its numbers mean nothing.
    "smoke": dict(arch="lstm-1x32", max_vocab=2000, epochs=2, train_tokens=20_000, eval_tokens=5_000,
                  probe_tokens=5_000),
    # Sized so that a teacher, BAN and BAN+L students × 3 seeds (9 runs) take about 32 minutes of two CPU cores
    # running two runs at a time (measured on a contended machine: ≈ 29 CPU-seconds per teacher epoch, ≈ 47 per
    # student epoch, one thread each), and the teacher's validation perplexity flattens by the last epoch
    # (measured: 190, 145, 132, 123, 118, 116, 112, 112 over epochs 1-8 at lr 20): a 1×128 LSTM (0.78M
    # parameters), 5,000 words, the first 200k training tokens; the lr falls once an epoch gains < 1 perplexity.
    "cpu": dict(arch="lstm-1x128", max_vocab=5000, epochs=10, train_tokens=200_000, dropout=0.5,
                plateau_threshold=1.0),
    # The paper's Table 6 LSTM: 1×1500 units, tied, dropout 0.65, batch 32, 40 epochs, 10k words (PTB's size).
    "paper": dict(arch="lstm-1x1500", max_vocab=10_000, epochs=40, batch_size=32, dropout=0.65),
}
# What one epoch cost at the cpu profile, in seconds of one single-threaded worker, two side by side on a 2-core
# machine busy with other runs too: the measurements the cpu profile was sized from (see LM_PROFILES["cpu"]).
CPU_EPOCH_SECONDS = {"teacher": 29.0, "student": 47.0}
CPU_CHAPTER_BUDGET_MINUTES = 45  # issue 12: the whole language-model chapter at the cpu profile, on a 2-core machine

# The networks of the paper's Table 1 the `gpu` profile trains (its arch default is the last one).
GPU_TABLE1_ARCHS = ("wrn-28-1", "wrn-28-2")


@dataclass(frozen=True)
class Profile:
    """One scale of the book. The run defaults default to the Wide-ResNet reference recipe the paper says it
    follows (an assumption: the paper gives no epochs, lr or batch): SGD, momentum 0.9, lr 0.1 ×0.2 at 30%, 60%,
    80% of training, weight decay 5e-4, batch 128, pad-4 crop + flip."""

    name: str
    purpose: str  # what the profile is for, in words; the numbers of the note are computed, never typed here
    dataset: str
    arch: str
    epochs: int
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "step"
    milestones: tuple = (0.3, 0.6, 0.8)
    gamma: float = 0.2
    augment: bool = True
    train_size: int | None = None
    # how the splits are drawn (`RunConfig.subset`) and the held-out pool every run is evaluated on
    subset: str = "class-balanced"
    pool_size: int = 0
    valid_size: int = 5000
    test_size: int | None = None
    # The precision of record: the book's runs are the same runs on every machine, whichever precision `auto`
    # finds fastest there. None: the machine's `auto`.
    precision: str | None = "bf16"
    wrn_dropout: float = 0.0  # dropout of Wide-ResNets (and only of them)
    seeds: tuple = (0, 1, 2)  # a chapter's central comparisons average over these
    secondary_seeds: tuple = (0, 1, 2)  # comparisons the budget allows fewer seeds (chapter 8's grid)
    # chapter 7's pool of teachers on seeds in no born-again chain: 10 make 5 disjoint pairs (the verdict rule's
    # n >= 5) and 3 triples
    independent_teachers: int = 10
    book_overrides: dict = field(default_factory=dict)  # what the book's chapters change beyond the run defaults
    # chapter 8's grid: wrn_archs, densenet, depth_factors, …, and `linear`, the pixel-level linear classifier every
    # network of the chapter must beat
    transfer: dict = field(default_factory=dict)
    # the language models of chapter 9: the LM profile (`LM_PROFILES`) and its replicates (a teacher, its BAN and
    # its BAN+L student each)
    lm_name: str = "paper"
    lm_seeds: tuple = (0, 1, 2)
    # the map of regimes (chapter 10): cell name -> what the cell changes in the book's run config; each cell trains
    # a teacher, its BAN-1, a label-smoothing student and a teacher of twice the epochs on `map_seeds`
    regime_map: dict = field(default_factory=dict)
    map_seeds: tuple = (0, 1, 2, 3, 4)
    # how finished a cell's teacher is: cell -> its teachers' lengths in epochs, each twice the last (e.g. 30, 60,
    # 120, 240); every rung but the last trains a teacher and a BAN-1 as long, the last only a teacher (the 2× check
    # of the rung below). Rungs at the cell's epochs and twice them are its teacher and its 2× teacher, reused
    map_ladder: dict = field(default_factory=dict)
    # students of every cell's teacher beyond BAN-1 and label smoothing, by name (`regimes.MAP_STUDENTS`)
    map_students: tuple = ()
    numbers_mean_nothing: bool = False  # a profile for tests: the note says not to read its results
    committed: bool = False  # the committed chapters carry this profile's outputs (executed in place, timed)
    # the committed profile whose next cold book this one is: its plan trains (records only, timed apart in its own
    # timings file) until every run is recorded, then it replaces that profile
    staging_for: str | None = None
    # sized for a GPU: refused on a machine without CUDA unless the CPU is asked for explicitly (`resolve_device`)
    needs_gpu: bool = False

    RUN_FIELDS = ("dataset", "arch", "epochs", "batch_size", "lr", "momentum", "weight_decay", "schedule",
                  "milestones", "gamma", "augment", "train_size", "valid_size", "test_size", "subset", "pool_size")

    def __post_init__(self):
        if self.precision is not None and self.precision not in PRECISIONS:
            raise ConfigError(f"profile {self.name}: unknown precision {self.precision!r}; "
                              f"valid: {', '.join(PRECISIONS)} or None")
        if self.lm_name not in LM_PROFILES:
            raise unknown_choice(f"profile {self.name}: language-model profile", self.lm_name, LM_PROFILES)
        for kind in ("seeds", "secondary_seeds", "lm_seeds", "map_seeds"):
            check_seeds(f"profile {self.name}: {kind}", list(getattr(self, kind)))
        self._check_ladders()
        missing = [seed for seed in self.secondary_seeds if seed not in self.seeds]
        if missing:  # else a chapter at its defaults would compare BAN-3 with a BAN-2 the profile never trains
            raise ConfigError(f"profile {self.name}: its secondary_seeds {self.secondary_seeds} must be among its "
                              f"seeds {self.seeds} (missing: {', '.join(map(str, missing))}): chapter 4 compares "
                              f"BAN-3 of each secondary seed with BAN-2 of the same seed, which only the seeds train")

    def _check_ladders(self) -> None:
        """Refuse a ladder of a cell the map does not have, or whose rungs are not each twice the last (the rung
        above a teacher is its 2× teacher: what says whether it is finished)."""
        for cell, rungs in self.map_ladder.items():
            if cell not in self.regime_map:
                raise unknown_choice(f"profile {self.name}: map_ladder's cell", cell, self.regime_map)
            if len(rungs) < 2 or any(not isinstance(e, int) or e < 1 for e in rungs) or any(
                    high != 2 * low for low, high in zip(rungs, rungs[1:])):
                raise ConfigError(f"profile {self.name}: map_ladder[{cell!r}] = {tuple(rungs)} must be two or more "
                                  f"positive epochs, each twice the last (e.g. (30, 60, 120, 240)): the rung above a "
                                  f"teacher is its 2× teacher")

    def run_defaults(self) -> dict:
        """The run parameters this profile sets (before the dropout rule and the precision are applied)."""
        return {name: getattr(self, name) for name in self.RUN_FIELDS}

    def config(self, device: str = "cpu", precision: str | None = None, **overrides) -> RunConfig:
        """A run config: the profile's defaults, then every override that is not None. The precision is the
        profile's precision of record unless one is given (`auto`: the fastest on `device`)."""
        values = self.run_defaults()
        values.update({key: value for key, value in overrides.items() if value is not None})
        if overrides.get("dropout") is None:
            values["dropout"] = self.wrn_dropout if model_family(values["arch"]) == "wide_resnet" else 0.0
        # the profile's precision of record unless one is given; `auto` is decided by timing this network here
        requested = precision or self.precision or "auto"
        if requested == "auto":  # measured on this machine for this network (bannb.image.precision), then cached
            image_shape, num_classes = dataset_shape(values["dataset"])
            chosen = auto_settings(device, values["arch"], image_shape, num_classes,
                                   values["batch_size"], distill=values.get("teacher") is not None)
            values["precision"] = chosen["precision"]
            values.setdefault("channels_last", chosen["channels_last"])  # an explicit layout wins
        else:
            values["precision"] = resolve_precision(requested, device)
        values.setdefault("processes", world_size())
        try:
            return RunConfig(**values)
        except TypeError as err:
            raise ConfigError(f"bad run parameter: {err}") from err

    def book_config(self, device: str = "cpu", precision: str | None = None, **overrides) -> RunConfig:
        """A chapter's run config: as `config`, with the book's shrinking (`book_overrides`) under the overrides."""
        given = {key: value for key, value in overrides.items() if value is not None}
        return self.config(device, precision, **{**self.book_overrides, **given})

    def transfer_note(self) -> str:
        """Which of chapter 8's tables this profile's plan leaves out (`transfer`: Table 4's DenseNet students, Table
        5's residual students), as a sentence for `note` (empty where it trains them all, or has no grid)."""
        if not self.transfer:
            return ""
        trained = {3: True, 4: bool(self.transfer.get("depth_factors") or self.transfer.get("compression_factors")),
                   5: bool(self.transfer.get("res_students"))}
        left_out = [str(table) for table, shown in trained.items() if not shown]
        if not left_out:
            return ""
        kept = [str(table) for table, shown in trained.items() if shown]
        students = " and ".join(f"Table {table}'s" for table in left_out)
        return (f" Chapter 8 trains the networks of Table{'s' * (len(kept) > 1)} {' and '.join(kept)}; {students} "
                f"students are not in this profile's plan.")

    def transfer_archs(self) -> list[str]:
        """Every network chapter 8's grid trains at this profile."""
        grid = self.transfer
        if not grid:
            return []
        variants = densenet_variants(grid["densenet"], grid["depth_factors"], grid["compression_factors"])
        return [*grid["wrn_archs"], grid["densenet"], *variants.values(), *grid["res_students"], grid["linear"]]

    def lm_config(self, **overrides) -> LMRunConfig:
        """A language-model run config: the profile's LM defaults (`LM_PROFILES[lm_name]`), then every override
        that is not None."""
        values = dict(LM_PROFILES[self.lm_name], **{k: v for k, v in overrides.items() if v is not None})
        try:
            return LMRunConfig(**values)
        except TypeError as err:
            raise ConfigError(f"bad LM run parameter: {err}") from err

    def lm_seed_list(self, seeds=None) -> list[int]:
        """A language-model chapter's seeds: `seeds`, or the profile's `lm_seeds` for None."""
        return list(self.lm_seeds if seeds is None else seeds)

    def lm_note(self, seeds=None, **overrides) -> str:
        """What a language-model chapter's numbers are worth at this profile (with `seeds`, None: the profile's),
        in one paragraph of Markdown: the corpus and how much of it is read, the network and its parameters, the
        training; computed from the configs."""
        config = self.lm_config(**overrides)
        corpus = load_corpus(config.corpus, max_vocab=config.max_vocab)
        sizes = corpus.describe()["splits"]
        train = min(config.train_tokens or sizes["train"]["tokens"], sizes["train"]["tokens"])
        evaluated = "" if config.eval_tokens is None else f" (the first {config.eval_tokens:,} of each evaluated)"
        params = parameter_count(config.arch, num_classes=corpus.vocab_size)
        facts = (f"the `{config.corpus}` corpus with a {corpus.vocab_size:,}-token vocabulary, training on "
                 f"{train:,} of its {sizes['train']['tokens']:,} training tokens, validation and test splits of "
                 f"{sizes['valid']['tokens']:,} and {sizes['test']['tokens']:,} tokens{evaluated}; {config.arch} "
                 f"({params / 1e6:.2f}M parameters, tied, dropout {config.dropout:g}); {config.epochs} epochs of SGD "
                 f"from lr {config.lr:g} (batch {config.batch_size} × {config.bptt} steps, gradient norm clipped at "
                 f"{config.clip:g}, lr × {config.lr_decay:g} after an epoch that does not improve the best validation "
                 f"perplexity by more than {config.plateau_threshold:g}); {len(self.lm_seed_list(seeds))} seeds; "
                 f"in fp32.")
        if self.numbers_mean_nothing:
            return (f"**{self.name} profile: the numbers in this chapter mean nothing.** Seconds per run on a slice "
                    f"of the corpus, to show that every cell runs. Do not read any result or verdict below. LM "
                    f"profile `{self.lm_name}`: {facts}")
        return f"*{self.name} profile*, language-model profile `{self.lm_name}`: {facts}"

    def note(self, **overrides) -> str:
        """What a chapter's numbers are worth at this profile, in one paragraph of Markdown: the data and its
        splits, the networks and their parameter counts, the training, the precision of record; computed from
        the chapter's config (the profile's book config with `overrides`) and the real networks."""
        config = self.book_config(**overrides)
        dataset = load_dataset(config.dataset)
        train_images = config.train_size or len(dataset.train_images) - config.valid_size
        test_images = config.test_size or len(dataset.test_images)
        params = parameter_count(config.arch, dataset.image_shape[0], dataset.num_classes)
        largest = max([config.arch, *self.transfer_archs()],
                      key=lambda arch: parameter_count(arch, dataset.image_shape[0], dataset.num_classes))
        data = (f"{dataset.name} ({train_images:,} training, {config.valid_size:,} validation and {test_images:,} "
                f"test images)")
        nets = f"{config.arch} ({millions(params)} parameters)"
        if largest != config.arch:
            largest_params = parameter_count(largest, dataset.image_shape[0], dataset.num_classes)
            nets += f"; the largest network of the book at this profile is {largest} ({millions(largest_params)})"
        recipe = f"{config.epochs} epoch{'s' if config.epochs != 1 else ''}, {config.schedule} schedule from lr {config.lr:g}, batch {config.batch_size}"
        if overrides.get("precision") is not None:
            precision = f"in {config.precision}, set by the chapter (the profile's precision of record is {self.precision})"
        elif self.precision is not None:
            precision = (f"in {config.precision}, the profile's precision of record (the same runs on every "
                         f"machine, whichever precision is fastest there)")
        else:
            precision = f"in {config.precision}, the precision this machine runs fastest (`auto`)"
        facts = f"{data}; {nets}; {recipe}; {precision}.{self.transfer_note()}"
        if self.numbers_mean_nothing:
            return (f"**{self.name} profile: the numbers in this chapter mean nothing.** {self.purpose} "
                    f"Do not read any result or verdict below. {facts}")
        return f"*{self.name} profile*: {self.purpose} {facts}"


def check_seeds(name: str, seeds) -> list[int]:
    """`seeds` (a list of base seeds, named `name` in the message) as a list, or a ConfigError: each seed once (a
    repeated seed trains one replicate and counts it twice), at least one, each an integer from 0 to
    `SEED_STRIDE` - 1 (a student's seed is its base seed + SEED_STRIDE × its generation, `generation_seed`)."""
    if not isinstance(seeds, (list, tuple)) or not seeds or not all(
            isinstance(seed, int) and not isinstance(seed, bool) for seed in seeds):
        raise ConfigError(f"{name} must be a non-empty list of integers, got {seeds!r}; "
                          f"pass it as e.g. `-y '{name.split()[-1]}: [0, 1, 2]'`")
    repeated = sorted({seed for seed in seeds if list(seeds).count(seed) > 1})
    if repeated:
        raise ConfigError(f"{name} {list(seeds)} name {', '.join(map(str, repeated))} more than once: a repeated "
                          f"seed trains one replicate and would count it twice; give each seed once")
    outside = [seed for seed in seeds if not 0 <= seed < SEED_STRIDE]
    if outside:
        raise ConfigError(f"{name} must lie between 0 and {SEED_STRIDE - 1}, got {', '.join(map(str, outside))} "
                          f"(a student's seed is its base seed + {SEED_STRIDE} × its generation, so larger base seeds "
                          f"would share seeds with other runs' students)")
    return list(seeds)


def millions(count: int) -> str:
    return f"{count / 1e6:.2f}M" if count < 10e6 else f"{count / 1e6:.1f}M"


PROFILES = {profile.name: profile for profile in (
    Profile(
        name="smoke", purpose="Seconds per run on a small subset, to show that every cell runs.",
        dataset="fashion-mnist", arch="wrn-16-1", epochs=2, batch_size=64, train_size=2048, valid_size=500,
        test_size=1000, precision="fp32", seeds=(0, 1), secondary_seeds=(0,), numbers_mean_nothing=True,
        independent_teachers=4,  # 2 pairs and a triple: chapter 7's control runs, in 6 fewer runs than 10 would take
        # 2 language-model replicates, so that the chapter's paired statistics run
        lm_name="smoke", lm_seeds=(0, 1),
        # the chapters shrink further than the profile, so that nbval runs every chapter in seconds
        book_overrides=dict(train_size=512),
        # two cells, so that the map chapter's table, regression and decision run
        regime_map={"clean": dict(augment=False, train_size=256, test_size=200, epochs=1, pool_size=100),
                    "augmented": dict(augment=True, train_size=256, test_size=200, epochs=1, pool_size=100)},
        map_seeds=(0, 1),
        # a ladder and the extra students, so that nbval runs the map's patience and its other students
        map_ladder={"augmented": (1, 2, 4)}, map_students=("kd-t4", "ban+l"),
        transfer=dict(wrn_archs=["wrn-10-1"], densenet="densenet-bc-16-8", linear="linear-28", depth_factors=[2],
                      compression_factors=[0.5], res_students=["res-student-16-8-wide-1-1"], train_size=None,
                      valid_size=None)),
    Profile(
        name="cpu", committed=True,
        purpose="Real results on a CPU with small networks, in the regime chapter 3's study chose so that a teacher "
                "fits its training set and ends training flat; chapter 3 holds every teacher to that criterion. The "
                "paper's claims are tested for their pattern at this small scale, not for its CIFAR figures.",
        # The regime study (book/03_teachers) compares candidate regimes on their seed-0 teacher. The last one,
        # 20 epochs of fastai's one-cycle annealed to the very end, fit every teacher (≥ 99.5% clean training
        # accuracy) but left three of five still improving over the last fifth (its annealing is still paying
        # off there). `one-cycle-hold` runs the same cycle over the first 80% and then holds the step recipe's
        # final lr (0.1 × 0.2³), as the paper's step recipe ends. Measured on seeds 0 and 4 before the run: the
        # step recipe in 20 epochs does not fit (96%); the held cycle at batch 128 just fits (98.0% on seed 4),
        # weight decay 5e-5 no better (97.8%); batch 64, twice the steps at the same cost per epoch on this CPU,
        # fits with a margin.
        dataset="fashion-mnist", arch="wrn-16-1", epochs=20, batch_size=64, schedule="one-cycle-hold",
        augment=False, train_size=3000, valid_size=2000,
        # class-balanced splits, and a 10,000-image pool of training images no run trains or validates on, for
        # judging claims on test ∪ pool (the map's clean cell is this regime, so the two share their runs)
        subset="class-balanced", pool_size=10_000,
        # 3 language-model replicates: what 45 minutes of a 2-core machine allow (CPU_CHAPTER_BUDGET_MINUTES)
        lm_name="cpu", lm_seeds=(0, 1, 2),
        # The map of regimes, priced from one measurement on an AMD EPYC (AVX512-BF16, 2 cores), fp32,
        # two single-threaded runs side by side as the book trains (seconds per epoch, teacher / BAN student):
        # Fashion-MNIST 3,000 11.3 / 13.8, 1,000 4.8 / 4.7; CIFAR-10 JPEG 2,000 7.7 / 8.7, 5,000 15.4 / 19.5; about
        # 20 s a run for the final evaluations (test set, 10,000-image pool, training fit). Per seed a cell trains
        # a teacher, BAN-1, a label-smoothing student and a 2× teacher (≈ 5.3 teachers): with 5 seeds the three new
        # cells cost ≈ 2.6 h of the 2-core machine, the clean cell (the chapters' regime, whose teacher and BAN-1
        # chapter 4 trains) ≈ 0.4 h more. CIFAR-10 at 5,000 images (≈ 3.5 h for 5 seeds) does not fit beside
        # the chapters; Fashion-MNIST at 1,000 is the second size. Augmented cells train 30 epochs (the 2×
        # teachers say whether that is enough); every cell draws class-balanced splits and a 10,000-image pool.
        regime_map={
            "fashion-3k-clean": dict(subset="class-balanced", pool_size=10_000),
            "fashion-3k-augmented": dict(subset="class-balanced", pool_size=10_000, augment=True, epochs=30),
            "fashion-1k-augmented": dict(subset="class-balanced", pool_size=10_000, augment=True, epochs=30,
                                         train_size=1000),
            "cifar10-2k-augmented": dict(subset="class-balanced", pool_size=10_000, augment=True, epochs=30,
                                         dataset="cifar10-jpeg", train_size=2000),
        },
        map_seeds=(0, 1, 2, 3, 4),
        # fp32 is the precision of record: it is fast on every CPU type the project runs on (bf16 is emulated,
        # and many times slower, on CPUs without AVX512-BF16)
        precision="fp32",
        # 8 central seeds, sized on the last profile, where a paired difference's sd was 0.35 points (t(7) × 0.35 /
        # √8 = 0.29 ≤ the 0.3-point target). In this regime BAN-1 against its teacher spreads by 0.59 (mostly seed
        # to seed), so its half-width is 0.49; the seeds the target would take were priced against the cold book's
        # budget (`book.timings.COLD_BOOK_BUDGET_SECONDS`), and
        # chapter 11 says what they would cost
        seeds=tuple(range(8)), secondary_seeds=(0, 1, 2),
        # chapter 8 at cpu: Table 3, with the DenseNet trained on the labels beside its students; Table 4's DenseNet
        # variants (about 1,800 s) and Table 5's residual students (about 650 s) were left out of the cold book's
        # budget when it was smaller (`book.timings.COLD_BOOK_BUDGET_SECONDS`); `note` says which tables are out
        transfer=dict(wrn_archs=["wrn-16-1"], densenet="densenet-bc-22-12", linear="linear-28", depth_factors=[],
                      compression_factors=[], res_students=[],
                      train_size=None, valid_size=None)),
    Profile(
        name="paper", purpose="The paper's scale, for GPUs: CIFAR-100, the paper's networks and the Wide-ResNet "
                              "recipe, with dropout 0.3 in Wide-ResNets.",
        dataset="cifar100", arch="densenet-bc-90-60", epochs=200, valid_size=5000, precision="bf16",
        wrn_dropout=0.3, seeds=(0, 1, 2), secondary_seeds=(0, 1, 2), needs_gpu=True,
        # the paper's Tables 3-5
        transfer=dict(wrn_archs=["wrn-28-1", "wrn-28-2", "wrn-28-5", "wrn-28-10"], densenet="densenet-bc-90-60",
                      linear="linear-32",
                      depth_factors=[0.5, 2, 3, 4], compression_factors=[0.5, 0.75, 1.5],
                      res_students=["res-student-90-60-bottleneck-14-0.5", "res-student-90-60-bottleneck-14-1",
                                    "res-student-90-60-wide-1-1", "res-student-90-60-wide-2-1",
                                    "res-student-90-60-wide-4-0.5", "res-student-90-60-wide-4-1"],
                      train_size=None, valid_size=None)),
    # The paper's Table 1 (CIFAR-10, its Wide-ResNets) on one GPU in about 20 minutes, on CIFAR-10 re-encoded as
    # JPEG (`cifar10-jpeg`: absolute errors are not comparable with published CIFAR-10 figures). Run it on CUDA
    # (precision "auto" resolves to bf16 there), once per network of GPU_TABLE1_ARCHS, seeds 0-2, e.g.
    #   python -m bannb ban --profile gpu --device cuda --generations 1 --arch wrn-28-1 --seeds 0 1 2
    # Batch 512 with the lr scaled linearly (0.1 × 512/128), fastai's one-cycle to converge in few epochs, no
    # dropout (the paper's WRN dropout slows fitting the training set, which a short schedule cannot afford).
    # Sized without a GPU measurement (none was lent), from FLOPs: forward 0.43 GFLOP/image for WRN-28-2 and
    # 0.11 for WRN-28-1 (torch's FLOP counter, 2 per multiply-add); a training step is ~3 forwards, a BAN
    # student's step 4 (the teacher's forward on the same batch). Assumed throughput with bf16, channels-last,
    # the data resident on the GPU and batch 512 on one H100: WRN-28-2 20k images/s (≈ 26 TFLOP/s, 3% of the
    # bf16 peak: such narrow convolutions are memory- and launch-bound), WRN-28-1 40k images/s (4× fewer FLOPs
    # but no faster per byte moved); evaluation (5,000 valid + 1,000 probe images per epoch) at 3× those rates.
    # Seconds per epoch for one seed: WRN-28-2 teacher 45,000/20k + 0.1 = 2.35, its student 3.1; WRN-28-1
    # teacher 1.18, its student 1.55: 8.2 s, 24.5 s for three seeds. Fixed costs (decoding the archive once,
    # start-up, cuDNN autotuning, each run's final test and training-set evaluations) ≈ 100 s. 30 epochs:
    # 24.5 × 30 + 100 ≈ 840 s ≈ 14 min (18 min at 15k/30k images/s), leaving room within 20 minutes. Re-plan
    # from the first measured epoch: epochs ≈ (1200 s − 100 s) / (3 × the four runs' seconds per epoch).
    Profile(
        name="gpu", purpose="The paper's Table 1 (CIFAR-10, its Wide-ResNets) on one GPU in about 20 minutes, on "
                            "CIFAR-10 re-encoded as JPEG: absolute errors are not comparable with published "
                            "CIFAR-10 figures.",
        dataset="cifar10-jpeg", arch="wrn-28-2", epochs=30, batch_size=512, lr=0.4, schedule="one-cycle",
        valid_size=5000, precision="bf16", seeds=(0, 1, 2), secondary_seeds=(0, 1, 2), needs_gpu=True),
)}

# The next cold `cpu` book, trained in the background over several sessions (records only): the `cpu` profile with
# the seeds that decide the central claims (20 paired seeds: chapter 11's power computation for the most demanding
# central claim) and 5 secondary seeds (BAN-3, the equal-compute control, chapter 7's triples, the n >= 5 of the
# verdict rule). Its runs are the `cpu` profile's wherever their configs agree, so no recorded run is trained again.
PROFILES["cpu-next"] = dataclasses.replace(
    PROFILES["cpu"], name="cpu-next", committed=False, staging_for="cpu",
    purpose="The next cold cpu book, being trained: the cpu profile with 20 central and 5 secondary seeds.",
    seeds=tuple(range(20)), secondary_seeds=tuple(range(5)),
    independent_teachers=20,  # 10 disjoint pairs, 6 triples
    # what makes a born-again student win (chapter 10): how finished the teacher is, in the two augmented cells whose
    # 30-epoch teachers are unfinished (teachers of 30, 60 and 120 epochs, each with a BAN-1 as long; the 240-epoch
    # teachers check whether the 120-epoch ones are finished); softer targets without more mistakes (KD at T = 4)
    # and mistakes overruled by the labels (BAN+L), in every cell. The 30- and 60-epoch rungs are the map's teachers
    # and 2× teachers, already trained
    map_ladder={"fashion-1k-augmented": (30, 60, 120, 240), "cifar10-2k-augmented": (30, 60, 120, 240)},
    map_students=("kd-t4", "ban+l"))

# The profile of the committed book, the default of the chapters and of the command line.
DEFAULT_PROFILE = next(name for name, profile in PROFILES.items() if profile.committed)


def get_profile(profile: str | Profile) -> Profile:
    """A profile by name (a `Profile` is returned as it is)."""
    if isinstance(profile, Profile):
        return profile
    if profile not in PROFILES:
        raise unknown_choice("profile", profile, PROFILES)
    return PROFILES[profile]


DEVICE_TYPES = ("cpu", "cuda")


def resolve_device(profile: str | Profile, device: str | None, cpu_asked: str = "--device cpu") -> str:
    """The device `profile`'s runs train on: `device` if given (cpu, cuda or cuda:N, checked against the devices
    torch sees here), else cuda where torch sees one, else the CPU, unless the profile is sized for a GPU
    (`Profile.needs_gpu`): that one is refused on a machine without CUDA, since hours of training on the CPU are
    rarely what was meant, unless the CPU is asked for explicitly (`cpu_asked` says how, for the message)."""
    chosen = get_profile(profile)
    if device is None:
        if torch.cuda.is_available():
            return "cuda"
        if chosen.needs_gpu:
            others = ", ".join(name for name, p in PROFILES.items() if not p.needs_gpu)
            raise ConfigError(f"profile {chosen.name} needs a GPU, and no CUDA device is visible here "
                              f"(torch.cuda.is_available() is False); to train it on the CPU anyway, ask for the "
                              f"CPU explicitly ({cpu_asked}), or choose a CPU profile ({others})")
        return "cpu"
    try:
        parsed = torch.device(device) if isinstance(device, str) else None
    except RuntimeError:
        parsed = None
    if parsed is None or parsed.type not in DEVICE_TYPES:
        raise ConfigError(f"unknown device {device!r}; valid devices are cpu, cuda and cuda:N (the N-th GPU)")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} was asked for, but no CUDA device is visible here "
                              f"(torch.cuda.is_available() is False); ask for the CPU ({cpu_asked}) or leave the "
                              f"device unset")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ConfigError(f"device {device!r} was asked for, but only {torch.cuda.device_count()} CUDA "
                              f"device(s) are visible here (cuda:0 …)")
    return device


def make_config(profile: str | Profile = DEFAULT_PROFILE, device: str = "cpu", precision: str | None = None,
                **overrides) -> RunConfig:
    """A run config: the profile's defaults, then every override that is not None (`Profile.config`)."""
    return get_profile(profile).config(device, precision, **overrides)


def recipe_table():
    """The run defaults of every profile, one row each (a pandas DataFrame)."""
    return pd.DataFrame({name: {**profile.run_defaults(), "precision": profile.precision,
                                "seeds": list(profile.seeds)} for name, profile in PROFILES.items()}).T


# ---------------------------------------------------------------- the language models' side of a profile

def lm_config(profile: str | Profile = DEFAULT_PROFILE, **overrides) -> LMRunConfig:
    """A language-model run config at `profile` (`Profile.lm_config`)."""
    return get_profile(profile).lm_config(**overrides)


def expected_seconds(configs, epoch_seconds: dict = CPU_EPOCH_SECONDS, workers: int = 2) -> float:
    """The wall time `plan.train_all` would take to train the language-model `configs` from scratch on `workers`
    single-threaded workers, if a teacher's epoch took `epoch_seconds["teacher"]` and a student's
    `epoch_seconds["student"]` (a student also runs its teacher forward on every window)."""
    return schedule_seconds(configs, lambda c: c.epochs * epoch_seconds["teacher" if c.teacher is None else "student"],
                            workers)
