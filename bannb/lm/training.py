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

import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from bannb.errors import BannbError, ConfigError
from bannb.lm.config import METRIC_COLUMNS, LMRunConfig
from bannb.lm.streams import batchify, bptt_windows, lm_streams, perplexity, token_log_probs
from bannb.losses import make_loss
from bannb.models.lstm_lm import create_language_model, detach_state
from bannb.runs.restore import restore_weights
from bannb.runs.store import (CHECKPOINT, CONFIG, FINAL, METRICS, PREDICTIONS, WEIGHTS, Run, atomic_torch_save,
                              atomic_write_json, default_runs_dir, finished_problem, mark_done, read_metrics,
                              resolve_teacher, write_metrics)

def train_lm_run(config: LMRunConfig, runs_dir: Path | None = None, device: str = "cpu", log=print,
                 after_epoch=None, path: Path | None = None) -> Run:
    """Train the run (or load it if finished, or resume it if interrupted) and return it.

    `after_epoch(epoch)` is called once each epoch's checkpoint is on disk (tests use it to interrupt a run).
    `path` is where the run is written (by default `runs_dir / run_id`; teachers are looked up in `runs_dir`).
    A teacher recorded without its weights is first trained again for them (`restore_weights`).
    """
    runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    path = Path(path or runs_dir / config.run_id)
    if path.is_dir() and finished_problem(path) is None:
        return Run(path)
    teacher_run = resolve_teacher(config.teacher, runs_dir)
    if teacher_run is not None and not teacher_run.has_weights:
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
            rows = [row for row in read_metrics(path / METRICS) if row["epoch"] <= start_epoch]
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
        write_metrics(path / METRICS, rows, METRIC_COLUMNS)
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
    return Run(path)


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
