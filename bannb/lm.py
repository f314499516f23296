"""Born-again language models (the paper's Table 6): LSTM teachers and BAN / BAN+L students on a word corpus.

Runs are hashed, resumable run directories like the image runs, in the same store (`bannb.store`):
`config.json`, `metrics.csv` (one row per epoch), `checkpoint.pt` (after every epoch: model, optimiser, RNG
and the learning-rate schedule), then `model.pt`, `test_predictions.pt` (the log-probability of every test
token, float16, and the tokens), `final.json` and `done.json` (written last, with the checksums of the
others). A finished run is loaded instead of retrained; a killed one resumes after its last finished epoch
and ends as an uninterrupted run would. As for the image runs, the *record* (everything but `model.pt`) is
what the book reads and commits; a record without weights is a finished run, and a student whose teacher is
recorded without them first trains the teacher again for them (`bannb.training.restore_weights`).

Training is a plain loop rather than a fastai `Learner`: truncated BPTT carries the student's and the
teacher's LSTM states from one window to the next, and the learning rate falls on a validation plateau,
whose state must be checkpointed; both are a few lines here and would be three interacting callbacks there.
The recipe is Zaremba et al.'s as the PyTorch word-language-model example runs it: plain SGD on the mean
per-token loss, gradient norm clipped at 0.25, lr ÷ 4 whenever the validation loss does not improve (the
paper: "lr 1 ×0.25 on a plateau", with a loss summed over the 35 steps: the example's lr 20 on the mean is
the same step size to within a factor of 35/20).

Distillation is per token: the (batch, time, vocab) logits are flattened to (batch·time, vocab), so the
losses of `bannb.losses` apply unchanged (BAN: ∂L/∂z = (q − p)/N per token; BAN+L mixes it with q − y).
The teacher, in eval mode, reads the same windows with its own carried state, in the same step.
"""
from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from .data.text import check_corpus, load_corpus
from .errors import BannbError, ConfigError
from .losses import make_loss
from .models.lstm_lm import LSTMLanguageModel, create_language_model, detach_state, parse_name
from .config import HashedConfig
from .store import (CHECKPOINT, CONFIG, DONE, FINAL, METRICS, PREDICTIONS, WEIGHTS, atomic_torch_save,  # noqa: F401
                    atomic_write_bytes, atomic_write_json, default_runs_dir, finished_problem, mark_done,
                    weights_problem)

METRIC_COLUMNS = ["epoch", "train_loss", "train_ppl", "train_probe_ppl", "valid_loss", "valid_ppl", "lr",
                  "train_tokens", "seconds"]
EVAL_BATCH_SIZE = 10  # streams evaluated in parallel (the PyTorch example's); each stream's first token has no context
LM_LOSSES = ("ce", "ban", "ban+l")
LM_CONFIG_VERSION = 2  # 2: base_seed; the record's files are the image runs' (test_predictions.pt, weights optional)


@dataclass(frozen=True)
class LMRunConfig(HashedConfig):
    """Everything that determines a trained language model. Two equal configs give the same run."""

    arch: str = "lstm-2x200"
    corpus: str = "fortunes"
    max_vocab: int = 10_000
    loss: str = "ce"
    loss_params: dict = field(default_factory=dict)
    teacher: str | None = None  # the teacher's run id
    generation: int = 0
    seed: int = 0
    # The replicate the run belongs to: a teacher's own seed; its students keep it (their own seed differs).
    # None means the run's own seed (always so for a teacher).
    base_seed: int | None = None
    epochs: int = 40
    batch_size: int = 20
    bptt: int = 35
    lr: float = 20.0
    lr_decay: float = 0.25  # on a plateau: lr × lr_decay after an epoch whose validation loss is not a new best
    plateau_threshold: float = 0.0  # ... or beats the best validation perplexity by less than this (CNN-LSTM: 0.5)
    clip: float = 0.25
    dropout: float = 0.5
    train_tokens: int | None = None  # the first N tokens of the training stream (None: all)
    eval_tokens: int | None = None  # the first N tokens of the validation and test streams (smoke runs)
    probe_tokens: int = 20_000  # training tokens evaluated clean after every epoch: does the model fit its data?
    version: int = LM_CONFIG_VERSION

    def __post_init__(self):
        check_corpus(self.corpus)
        parse_name(self.arch)
        if self.loss not in LM_LOSSES:
            raise ConfigError(f"language models train with one of {', '.join(LM_LOSSES)}, got loss {self.loss!r}")
        make_loss(self.loss, **self.loss_params)
        if (self.teacher is None) != (self.loss == "ce"):
            raise ConfigError(f"the {self.loss!r} loss {'needs a teacher run' if self.teacher is None else 'takes no teacher'}"
                              f" (teacher={self.teacher!r}); a teacher trains with 'ce', a student with 'ban' or 'ban+l'")
        for name in ("max_vocab", "epochs", "batch_size", "bptt", "probe_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.max_vocab < 3:
            raise ConfigError(f"max_vocab must be at least 3 (<unk>, <eos> and one word), got {self.max_vocab}")
        for name in ("train_tokens", "eval_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 2):
                raise ConfigError(f"{name} must be an integer ≥ 2 or None, got {value!r}")
        for name in ("lr", "clip"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 < self.lr_decay <= 1:
            raise ConfigError(f"lr_decay must be in (0, 1], got {self.lr_decay}")
        if not self.plateau_threshold >= 0:
            raise ConfigError(f"plateau_threshold must be ≥ 0 (perplexity units), got {self.plateau_threshold}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("seed", "base_seed"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise ConfigError(f"{name} must be an integer, got {value!r}")
        if self.teacher is None or self.base_seed is None:
            object.__setattr__(self, "base_seed", self.seed)  # a teacher is its own replicate

    KIND = "LM run"

    @property
    def data_name(self) -> str:
        return self.corpus

    def data_key(self) -> tuple:
        """What fixes the token streams: a student must read the same data as its teacher."""
        return self.corpus, self.max_vocab, self.train_tokens, self.eval_tokens


# Named sets of defaults, as `bannb.profiles` has for the image runs.
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


def lm_config(profile: str = "cpu", **overrides) -> LMRunConfig:
    """An LM run config: the profile's defaults, then every override that is not None."""
    if profile not in LM_PROFILES:
        from .errors import unknown_choice
        raise unknown_choice("LM profile", profile, LM_PROFILES)
    values = dict(LM_PROFILES[profile], **{k: v for k, v in overrides.items() if v is not None})
    try:
        return LMRunConfig(**values)
    except TypeError as err:
        raise ConfigError(f"bad LM run parameter: {err}") from err


# The LM profile each of the book's profiles trains (the `gpu` profile has one GPU: the paper's LSTM fits it).
BOOK_LM_PROFILES = {"smoke": "smoke", "cpu": "cpu", "gpu": "paper", "paper": "paper"}
# Replicates per LM profile (each a teacher, its BAN and its BAN+L student): 3 at cpu, what 45 minutes of a
# 2-core machine allow; 2 at smoke, so that the chapter's paired statistics run.
LM_SEEDS = {"smoke": (0, 1), "cpu": (0, 1, 2), "paper": (0, 1, 2)}
# What one epoch cost at the cpu profile, in seconds of one single-threaded worker, two side by side on a 2-core
# machine busy with other runs too: the measurements the cpu profile was sized from (see LM_PROFILES["cpu"]).
CPU_EPOCH_SECONDS = {"teacher": 29.0, "student": 47.0}
CPU_CHAPTER_BUDGET_MINUTES = 45  # issue 12: the whole language-model chapter at the cpu profile, on a 2-core machine


def lm_profile(profile: str) -> str:
    """The LM profile the book's `profile` trains (an LM profile's own name is accepted too)."""
    name = getattr(profile, "name", profile)
    if name not in BOOK_LM_PROFILES:
        from .errors import unknown_choice
        raise unknown_choice("profile", name, BOOK_LM_PROFILES)
    return BOOK_LM_PROFILES[name]


def lm_seeds(profile: str, seeds=None) -> list[int]:
    """A language-model chapter's seeds: `seeds`, or the LM profile's (`LM_SEEDS`) for None."""
    return list(LM_SEEDS[lm_profile(profile)] if seeds is None else seeds)


def expected_seconds(configs, epoch_seconds: dict = CPU_EPOCH_SECONDS, workers: int = 2) -> float:
    """The wall time `plan.train_all` would take to train `configs` from scratch on `workers` single-threaded
    workers, if a teacher's epoch took `epoch_seconds["teacher"]` and a student's `epoch_seconds["student"]`
    (a student also runs its teacher forward on every window)."""
    from .plan import schedule_seconds
    return schedule_seconds(configs, lambda c: c.epochs * epoch_seconds["teacher" if c.teacher is None else "student"],
                            workers)


def parameter_count(arch: str, vocab_size: int) -> int:
    """The parameters of the LSTM language model `arch` for a vocabulary of `vocab_size` (tied: counted once),
    built on the meta device (nothing is allocated)."""
    with torch.device("meta"):
        return sum(p.numel() for p in create_language_model(arch, vocab_size).parameters())


def lm_note(profile: str, seeds=None, **overrides) -> str:
    """What a language-model chapter's numbers are worth at `profile` (with `seeds`, None: the profile's), in one
    paragraph of Markdown: the corpus and how much of it is read, the network and its parameters, the training;
    computed from the configs."""
    name = lm_profile(profile)
    config = lm_config(name, **overrides)
    corpus = load_corpus(config.corpus, max_vocab=config.max_vocab)
    sizes = corpus.describe()["splits"]
    train = min(config.train_tokens or sizes["train"]["tokens"], sizes["train"]["tokens"])
    evaluated = "" if config.eval_tokens is None else f" (the first {config.eval_tokens:,} of each evaluated)"
    facts = (f"the `{config.corpus}` corpus with a {corpus.vocab_size:,}-token vocabulary, training on "
             f"{train:,} of its {sizes['train']['tokens']:,} training tokens, validation and test splits of "
             f"{sizes['valid']['tokens']:,} and {sizes['test']['tokens']:,} tokens{evaluated}; {config.arch} "
             f"({parameter_count(config.arch, corpus.vocab_size) / 1e6:.2f}M parameters, tied, dropout "
             f"{config.dropout:g}); {config.epochs} epochs of SGD from lr {config.lr:g} (batch {config.batch_size} "
             f"× {config.bptt} steps, gradient norm clipped at {config.clip:g}, lr × {config.lr_decay:g} after an "
             f"epoch that does not improve the best validation perplexity by more than {config.plateau_threshold:g}); "
             f"{len(lm_seeds(profile, seeds))} seeds; in fp32.")
    if name == "smoke":
        return (f"**{profile} profile: the numbers in this chapter mean nothing.** Seconds per run on a slice of "
                f"the corpus, to show that every cell runs. Do not read any result or verdict below. LM profile "
                f"`{name}`: {facts}")
    return f"*{profile} profile*, language-model profile `{name}`: {facts}"


# ---------------------------------------------------------------- data

def batchify(ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The stream cut into `batch_size` contiguous rows (batch, length); the last len % batch_size tokens are dropped."""
    length = ids.numel() // batch_size
    if length < 2:
        raise ConfigError(f"a stream of {ids.numel()} tokens is too short for {batch_size} rows of at least 2 tokens; "
                          f"use a smaller batch or more tokens")
    return ids[:length * batch_size].view(batch_size, length)


def bptt_windows(rows: torch.Tensor, bptt: int):
    """(inputs, targets) windows of at most `bptt` steps along the rows; targets are the inputs shifted by one."""
    for start in range(0, rows.shape[1] - 1, bptt):
        steps = min(bptt, rows.shape[1] - 1 - start)
        yield rows[:, start:start + steps], rows[:, start + 1:start + 1 + steps]


def lm_streams(config: LMRunConfig) -> tuple[dict[str, torch.Tensor], int]:
    """The train/valid/test token streams the config reads, and the vocabulary size."""
    corpus = load_corpus(config.corpus, max_vocab=config.max_vocab)
    streams = {split: corpus.ids(split) for split in ("train", "valid", "test")}
    streams["train"] = streams["train"][:config.train_tokens]
    for split in ("valid", "test"):
        streams[split] = streams[split][:config.eval_tokens]
    return streams, corpus.vocab_size


# ---------------------------------------------------------------- evaluation

@torch.no_grad()
def token_log_probs(model: LSTMLanguageModel, ids: torch.Tensor, bptt: int = 35,
                    batch_size: int = EVAL_BATCH_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probability of each target, and the targets, as (batch_size, length − 1) tensors (eval mode)."""
    was_training = model.training
    model.eval()
    rows = batchify(ids, batch_size).to(model.embedding.weight.device)
    state, log_probs = None, []
    for inputs, targets in bptt_windows(rows, bptt):
        logits, state = model(inputs, state)
        log_probs.append(F.log_softmax(logits.float(), dim=-1).gather(-1, targets[..., None]).squeeze(-1))
    model.train(was_training)
    return torch.cat(log_probs, dim=1).cpu(), rows[:, 1:].cpu()


def perplexity(model: LSTMLanguageModel, ids: torch.Tensor, bptt: int = 35) -> tuple[float, float]:
    """(mean cross-entropy per token in nats, perplexity) of the stream."""
    log_probs, _ = token_log_probs(model, ids, bptt, batch_size=min(EVAL_BATCH_SIZE, max(1, ids.numel() // 2)))
    loss = -log_probs.double().mean().item()
    return loss, math.exp(loss)


# ---------------------------------------------------------------- runs on disk

def write_lm_metrics(path: Path, rows: list[dict]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=METRIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, text.getvalue().encode())


def read_lm_metrics(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: (int(v) if k in ("epoch", "train_tokens") else float(v)) for k, v in row.items()}
                for row in csv.DictReader(f)]


class LMRun:
    """A finished language-model run on disk."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.config = LMRunConfig.from_dict(json.loads((self.path / CONFIG).read_text()))
        self.final = json.loads((self.path / FINAL).read_text())

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def test_ppl(self) -> float:
        return self.final["test_ppl"]

    @property
    def valid_ppl(self) -> float:
        return self.final["valid_ppl"]

    def metrics(self):
        import pandas as pd
        return pd.read_csv(self.path / METRICS)

    @property
    def has_weights(self) -> bool:
        return weights_problem(self.path) is None

    def test_log_probs(self) -> dict:
        """`log_probs` (fp16) and `targets` of every test token, as (streams, length) tensors."""
        return torch.load(self.path / PREDICTIONS, weights_only=True)

    def load_model(self, device="cpu") -> LSTMLanguageModel:
        problem = weights_problem(self.path)
        if problem is not None:
            raise BannbError(f"run {self.run_id} has no usable weights: {problem}; "
                             f"`bannb.training.restore_weights` trains it again for them")
        model = create_language_model(self.config.arch, self.final["vocab_size"], self.config.dropout)
        try:
            model.load_state_dict(torch.load(self.path / WEIGHTS, map_location=device, weights_only=True))
        except (RuntimeError, OSError, EOFError, KeyError) as err:
            raise BannbError(f"checkpoint {self.path / WEIGHTS} does not fit {self.config.arch} "
                             f"({str(err).strip().splitlines()[0]}); retrain the run (delete {self.path})") from err
        return model.to(device).eval()

    def __repr__(self):
        return f"LMRun({self.run_id}, valid_ppl={self.valid_ppl:.2f}, test_ppl={self.test_ppl:.2f})"


def resolve_lm_teacher(teacher: str | None, runs_dir: Path) -> LMRun | None:
    """A teacher given by run id or run directory; it must be a finished language-model run."""
    if teacher is None:
        return None
    path = Path(teacher) if Path(teacher).is_dir() else runs_dir / teacher
    if not path.is_dir():
        raise ConfigError(f"teacher run {teacher!r} not found (looked for {path}); train it first, "
                          f"or give the directory of a finished run")
    problem = finished_problem(path)
    if problem:
        raise ConfigError(f"teacher run {path} is not finished: {problem}; train it first (the same call resumes it)")
    return LMRun(path)


# ---------------------------------------------------------------- training

def train_lm_run(config: LMRunConfig, runs_dir: Path | None = None, device: str = "cpu", log=print,
                 after_epoch=None, path: Path | None = None) -> LMRun:
    """Train the run (or load it if finished, or resume it if interrupted) and return it.

    `after_epoch(epoch)` is called once each epoch's checkpoint is on disk (tests use it to interrupt a run).
    `path` is where the run is written (by default `runs_dir / run_id`; teachers are looked up in `runs_dir`).
    A teacher recorded without its weights is first trained again for them (`restore_weights`).
    """
    runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    path = Path(path or runs_dir / config.run_id)
    if path.is_dir() and finished_problem(path) is None:
        return LMRun(path)
    teacher_run = resolve_lm_teacher(config.teacher, runs_dir)
    if teacher_run is not None and not teacher_run.has_weights:
        from .training import restore_weights  # lazily: training imports fastai
        teacher_run = restore_weights(teacher_run, runs_dir, device, log=log)
    if teacher_run is not None and teacher_run.config.data_key() != config.data_key():
        raise ConfigError(f"teacher {teacher_run.run_id} read other data (corpus, max_vocab, train_tokens, eval_tokens "
                          f"= {teacher_run.config.data_key()}) than this student ({config.data_key()}); "
                          f"make the student's data settings the teacher's")
    device = torch.device(device)
    streams, vocab_size = lm_streams(config)
    train_rows = batchify(streams["train"], config.batch_size).to(device)
    probe_ids = streams["train"][:config.probe_tokens]

    torch.manual_seed(config.seed)
    model = create_language_model(config.arch, vocab_size, config.dropout).to(device)
    teacher = teacher_run.load_model(device) if teacher_run else None
    objective = make_loss(config.loss, **config.loss_params)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    schedule = dict(lr=config.lr, best_valid_loss=math.inf)

    stored_config = path / CONFIG
    if stored_config.exists() and json.loads(stored_config.read_text()) != json.loads(json.dumps(config.to_dict())):
        raise BannbError(f"{stored_config} does not match the config hashed into its name; remove {path} and run again")
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_json(stored_config, config.to_dict())

    rows, start_epoch = [], 0
    if (path / CHECKPOINT).exists():
        try:
            checkpoint = torch.load(path / CHECKPOINT, map_location=device, weights_only=False)
        except Exception as err:  # atomic writes rule out a half-written file, not a damaged disk
            log(f"run {config.run_id}: checkpoint unreadable ({err}); starting over")
        else:
            start_epoch, schedule = checkpoint["epoch"], checkpoint["schedule"]
            model.load_state_dict(checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
            torch.set_rng_state(checkpoint["rng"])
            rows = [row for row in read_lm_metrics(path / METRICS) if row["epoch"] <= start_epoch]
            log(f"run {config.run_id}: resuming after epoch {start_epoch} of {config.epochs}")

    started = time.perf_counter()
    for epoch in range(start_epoch, config.epochs):
        epoch_start = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = schedule["lr"]
        train_loss, train_ce = _train_epoch(model, teacher, objective, optimizer, train_rows, config)
        valid_loss, valid_ppl = perplexity(model, streams["valid"], config.bptt)
        _, probe_ppl = perplexity(model, probe_ids, config.bptt)
        rows.append(dict(epoch=epoch + 1, train_loss=train_loss, train_ppl=math.exp(train_ce),
                         train_probe_ppl=probe_ppl, valid_loss=valid_loss, valid_ppl=valid_ppl, lr=schedule["lr"],
                         train_tokens=train_rows.numel(), seconds=round(time.perf_counter() - epoch_start, 3)))
        if not math.isfinite(train_loss):
            raise BannbError(f"run {config.run_id}: the training loss became {train_loss} in epoch {epoch + 1}; "
                             f"lower the learning rate (lr) and run again (delete {path})")
        # The plateau rule (Zaremba et al.; the paper's "×0.25 on a plateau"): a step down after every epoch
        # that does not improve on the best validation perplexity so far by more than plateau_threshold.
        if valid_ppl >= math.exp(schedule["best_valid_loss"]) - config.plateau_threshold:
            schedule = dict(schedule, lr=schedule["lr"] * config.lr_decay)
        schedule = dict(schedule, best_valid_loss=min(valid_loss, schedule["best_valid_loss"]))
        atomic_torch_save(path / CHECKPOINT, dict(epoch=epoch + 1, model=model.state_dict(),
                                                  optimizer=optimizer.state_dict(), schedule=schedule,
                                                  rng=torch.get_rng_state()))
        write_lm_metrics(path / METRICS, rows)
        log(f"run {config.run_id}: epoch {epoch + 1}/{config.epochs} train ppl {math.exp(train_ce):.1f} "
            f"valid ppl {valid_ppl:.1f} lr {rows[-1]['lr']:g} ({rows[-1]['seconds']:.0f} s)")
        if after_epoch is not None:
            after_epoch(epoch + 1)

    # The last epoch's model on the test set: the test set never picks an epoch.
    log_probs, targets = token_log_probs(model, streams["test"], config.bptt)
    test_loss = -log_probs.double().mean().item()
    train_loss_clean, train_ppl_clean = perplexity(model, streams["train"], config.bptt)
    last = rows[-1]
    final = dict(test_loss=test_loss, test_ppl=math.exp(test_loss), valid_loss=last["valid_loss"],
                 valid_ppl=last["valid_ppl"], train_ppl=train_ppl_clean, train_loss=train_loss_clean,
                 epochs=config.epochs, vocab_size=vocab_size, test_tokens=log_probs.numel(),
                 parameters=sum(p.numel() for p in model.parameters()),
                 train_seconds=sum(row["seconds"] for row in rows), device=str(device), torch=torch.__version__,
                 teacher=config.teacher, resumed_from_epoch=start_epoch or None,
                 wall_seconds_this_process=round(time.perf_counter() - started, 3))
    if teacher is not None:
        teacher_log_probs, _ = token_log_probs(teacher, streams["test"], config.bptt)
        final["teacher_test_ppl"] = math.exp(-teacher_log_probs.double().mean().item())
    atomic_torch_save(path / WEIGHTS, {k: v.detach().cpu() for k, v in model.state_dict().items()})
    atomic_torch_save(path / PREDICTIONS, dict(log_probs=log_probs.to(torch.float16),
                                               targets=targets.to(torch.int16 if vocab_size <= 2**15 else torch.int32)))
    atomic_write_json(path / FINAL, final)
    mark_done(path)
    (path / CHECKPOINT).unlink(missing_ok=True)
    return LMRun(path)


def _train_epoch(model, teacher, objective, optimizer, train_rows, config: LMRunConfig) -> tuple[float, float]:
    """One pass over the training rows; returns the mean objective and the mean label cross-entropy per token."""
    model.train()
    state = teacher_state = None
    loss_sum = ce_sum = torch.zeros((), dtype=torch.float64)
    count = 0
    for inputs, targets in bptt_windows(train_rows, config.bptt):
        if state is not None:
            state = detach_state(state)
        logits, state = model(inputs, state)
        flat_logits, flat_targets = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
        teacher_logits = None
        if teacher is not None:
            with torch.no_grad():
                teacher_out, teacher_state = teacher(inputs, teacher_state)
            teacher_logits = teacher_out.reshape(-1, teacher_out.shape[-1]).float()
        loss = objective(flat_logits, flat_targets, teacher_logits)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        tokens = flat_targets.numel()
        loss_sum = loss_sum + loss.detach().double() * tokens
        ce_sum = ce_sum + (F.cross_entropy(flat_logits.detach().float(), flat_targets).double()
                           if config.loss != "ce" else loss.detach().double()) * tokens
        count += tokens
    return (loss_sum / count).item(), (ce_sum / count).item()
