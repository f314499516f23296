"""Born-again language models (the paper's Table 6) on a fastai `Learner`: LSTM teachers and BAN / BAN+L students
on a word corpus, through the lifecycle every kind of run shares (`bannb.runs.lifecycle`) and its store.

A run's folder holds what an image run's does: `config.json`, `metrics.csv` (one row per epoch),
`checkpoint.pt` (after every epoch), then `model.pt`, `test_predictions.pt` (the log-probability of every test
token, float16, and the tokens), `final.json` and `done.json`, last. A finished run is loaded instead of
retrained; a killed one resumes after its last finished epoch and ends as an uninterrupted run would.

The recipe is Zaremba et al.'s as the PyTorch word-language-model example runs it: plain SGD on the mean
per-token loss (fastai's `OptimWrapper` around torch's SGD), the gradient norm clipped at 0.25 (fastai's
`GradientClip`), lr ÷ 4 whenever the validation loss does not improve (`PlateauSchedule`; the paper: "lr 1 ×0.25
on a plateau", with a loss summed over the 35 steps: the example's lr 20 on the mean is the same step size to
within a factor of 35/20). What a language model adds to the image Learner are callbacks, as fastai's text
learner adds `ModelResetter` and `RNNCallback`: the LSTM's state carried from one truncated-BPTT window to the
next (`CarriedState`, and `StatefulTeacher` for the teacher's own), perplexity on the streams after every epoch
(`StreamPerplexity`) and the per-token training losses (`TokenLosses`).

Distillation is per token: the (batch, time, vocab) logits are flattened to (batch·time, vocab), so the losses of
`bannb.losses` and the image runs' `TeacherCallback` apply unchanged (BAN: ∂L/∂z = (q − p)/N per token; BAN+L
mixes it with q − y).
"""
from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F
from fastai.callback.core import Callback, CancelValidException
from fastai.callback.progress import ProgressCallback
from fastai.callback.training import GradientClip
from fastai.data.core import DataLoaders
from fastai.learner import Learner, Recorder
from fastai.optimizer import OptimWrapper
from fastcore.basics import noop

from bannb.data import DATA_FINGERPRINT, data_fingerprint
from bannb.errors import ConfigError
from bannb.lm.config import METRIC_COLUMNS, LMRunConfig
from bannb.lm.streams import (
    EVAL_BATCH_SIZE,
    batchify,
    bptt_windows,
    check_streams,
    lm_streams,
    perplexity,
    token_log_probs,
)
from bannb.losses import make_loss
from bannb.models.lstm_lm import create_language_model, detach_state
from bannb.runs.learner import RunRecorder, StopOnNonFiniteLoss, TeacherCallback, epoch_skipped
from bannb.runs.store import Run

# ---------------------------------------------------------------- the streams as fastai reads them


class BpttLoader:
    """The truncated-BPTT windows along a stream cut into rows, in order (Zaremba et al.'s recipe does not shuffle):
    what the Learner iterates, one (inputs, targets) window per batch."""

    def __init__(self, rows: torch.Tensor, bptt: int):
        self.rows, self.bptt = rows, bptt

    def __iter__(self):
        return bptt_windows(self.rows, self.bptt)

    def __len__(self) -> int:
        return math.ceil((self.rows.shape[1] - 1) / self.bptt)

    def to(self, device):
        self.rows = self.rows.to(device)
        return self


# ---------------------------------------------------------------- callbacks


class CarriedState(Callback):
    """Truncated BPTT on the Learner: the model's LSTM state goes from one window to the next (detached, so that
    gradients stop at the window's edge) and starts at zero each epoch; predictions and targets are flattened to
    (tokens, vocab) and (tokens,), so that every loss applies per token. fastai's `ModelResetter` and
    `RNNCallback`, for a model that takes its state as an argument."""

    order = TeacherCallback.order - 5  # the batch and the prediction as the teacher and the loss must see them

    def before_train(self):
        self.state = None

    def before_batch(self):
        if self.training:
            self.learn.xb = (*self.xb, self.state)
        self.learn.yb = tuple(y.reshape(-1) for y in self.yb)

    def after_pred(self):
        logits, state = self.pred
        if self.training:
            self.state = detach_state(state)
        self.learn.pred = logits.reshape(-1, logits.shape[-1])


class StatefulTeacher(TeacherCallback):
    """The teacher of a language model: it reads the student's windows with its own state, carried the same way."""

    def before_train(self):
        self.state = None

    def teacher_logits(self) -> torch.Tensor:
        logits, self.state = self.teacher(self.xb[0], self.state)
        return logits.reshape(-1, logits.shape[-1]).float()


class TokenLosses(Callback):
    """The epoch's mean training objective and mean label cross-entropy per token (its exponential is the
    training perplexity), into the epoch's metrics row."""

    order = Recorder.order + 1

    def __init__(self, distilled: bool, stream_tokens: int):
        self.distilled = distilled  # a student's objective is not the label cross-entropy
        self.stream_tokens = stream_tokens  # the row's train_tokens: what the epoch read (rows × their length)

    def before_epoch(self):
        self.loss_sum = self.ce_sum = torch.zeros((), dtype=torch.float64)
        self.tokens = 0

    def after_batch(self):
        if not self.training:
            return
        tokens, loss = self.yb[0].numel(), self.loss.detach().double()
        self.loss_sum = self.loss_sum + loss * tokens
        self.ce_sum = self.ce_sum + (F.cross_entropy(self.pred.detach().float(), self.yb[0]).double()
                                     if self.distilled else loss) * tokens
        self.tokens += tokens

    def after_epoch(self):
        if epoch_skipped(self.learn):
            return
        self.learn.epoch_values.update(train_loss=(self.loss_sum / self.tokens).item(),
                                       train_ppl=math.exp((self.ce_sum / self.tokens).item()),
                                       train_tokens=self.stream_tokens)


class StreamPerplexity(Callback):
    """After every epoch: the perplexity of the validation stream and of the first training tokens (clean: eval
    mode), each read whole with its state carried (`streams.perplexity`), into the epoch's metrics row. fastai's
    own validation, which would restart the state at each batch and weigh windows by rows, is skipped."""

    order = TokenLosses.order + 1

    def __init__(self, valid: torch.Tensor, probe: torch.Tensor, bptt: int):
        self.valid, self.probe, self.bptt = valid, probe, bptt

    def before_validate(self):
        raise CancelValidException

    def after_epoch(self):
        if epoch_skipped(self.learn):
            return
        valid_loss, valid_ppl = perplexity(self.model, self.valid, self.bptt)
        _, probe_ppl = perplexity(self.model, self.probe, self.bptt)
        self.learn.epoch_values.update(valid_loss=valid_loss, valid_ppl=valid_ppl, train_probe_ppl=probe_ppl)


class PlateauSchedule(Callback):
    """The learning rate of Zaremba et al.'s recipe (the paper's "×0.25 on a plateau"): × `decay` after every epoch
    whose validation perplexity does not beat the best so far by more than `threshold`. Its state goes into every
    checkpoint."""

    order = StreamPerplexity.order + 1  # once the epoch's validation perplexity is known

    def __init__(self, lr: float, decay: float, threshold: float):
        self.rate, self.decay, self.threshold, self.best_valid_loss = lr, decay, threshold, math.inf

    def before_epoch(self):
        self.opt.set_hypers(lr=self.rate)

    def after_epoch(self):
        if epoch_skipped(self.learn):
            return
        values = self.learn.epoch_values
        if values["valid_ppl"] >= math.exp(self.best_valid_loss) - self.threshold:
            self.rate = self.rate * self.decay  # from the next epoch on: the row keeps the rate this epoch trained at
        self.best_valid_loss = min(values["valid_loss"], self.best_valid_loss)

    def state_dict(self) -> dict:
        return dict(lr=self.rate, best_valid_loss=self.best_valid_loss)

    def load_state_dict(self, state: dict) -> None:
        self.rate, self.best_valid_loss = state["lr"], state["best_valid_loss"]


class LogEpoch(Callback):
    """One line per epoch, once it is recorded."""

    order = RunRecorder.order + 1

    def __init__(self, run_id: str, epochs: int, rows: list[dict], log=print):
        self.run_id, self.epochs, self.rows, self.log = run_id, epochs, rows, log

    def after_epoch(self):
        if epoch_skipped(self.learn):
            return
        row = self.rows[-1]
        self.log(f"run {self.run_id}: epoch {row['epoch']}/{self.epochs} train ppl {row['train_ppl']:.1f} "
                 f"valid ppl {row['valid_ppl']:.1f} lr {row['lr']:g} ({row['seconds']:.0f} s)")


# ---------------------------------------------------------------- a run


class LMTraining:
    """A language-model run being trained: what the run lifecycle (`bannb.runs.lifecycle.train`) asks of the "lm"
    kind, its streams, model, loss, teacher network and plateau schedule (`prepare`), its fastai Learner
    (`learner`) and what it measures once fitted (`result`)."""

    columns = METRIC_COLUMNS

    def __init__(self, config: LMRunConfig, device: torch.device, streams: dict, vocab_size: int, model, teacher,
                 objective, log=print):
        self.config, self.device, self.streams, self.vocab_size, self.log = config, device, streams, vocab_size, log
        self.model, self.teacher, self.objective = model, teacher, objective
        self.schedule = PlateauSchedule(config.lr, config.lr_decay, config.plateau_threshold)
        self.states = dict(schedule=self.schedule)

    @classmethod
    def prepare(cls, config: LMRunConfig, teacher_run: Run | None, device: torch.device, log=print) -> "LMTraining":
        """The corpus as streams, then from the run's seed the model's initial weights; the teacher's network and
        the loss."""
        if teacher_run is not None and teacher_run.config.data_key() != config.data_key():
            raise ConfigError(f"teacher {teacher_run.run_id} read other data (corpus, max_vocab, train_tokens, "
                              f"eval_tokens = {teacher_run.config.data_key()}) than this student "
                              f"({config.data_key()}); make the student's data settings the teacher's")
        streams, vocab_size = lm_streams(config)
        check_streams(config, streams)  # before the run's folder is written
        torch.manual_seed(config.seed)
        model = create_language_model(config.arch, vocab_size, config.dropout).to(device)
        teacher = teacher_run.load_model(device) if teacher_run else None
        return cls(config, device, streams, vocab_size, model, teacher, make_loss(config.loss, **config.loss_params), log)

    def learner(self, recorder, progress: bool = False, callbacks=()) -> Learner:
        """The run's Learner: Zaremba et al.'s recipe as callbacks (`recorder` among them)."""
        config, streams = self.config, self.streams
        train_rows = batchify(streams["train"], config.batch_size)
        dls = DataLoaders(BpttLoader(train_rows, config.bptt),
                          BpttLoader(batchify(streams["valid"], EVAL_BATCH_SIZE), config.bptt), device=self.device)
        callbacks = [CarriedState(), GradientClip(config.clip), TokenLosses(self.teacher is not None, train_rows.numel()),
                     StreamPerplexity(streams["valid"], streams["train"][:config.probe_tokens], config.bptt),
                     self.schedule, recorder, LogEpoch(config.run_id, config.epochs, recorder.rows, self.log),
                     StopOnNonFiniteLoss(recorder.path, "Lower the learning rate (lr), then run again."), *callbacks]
        if self.teacher is not None:
            callbacks.append(StatefulTeacher(self.teacher, self.objective))
        learn = Learner(dls, self.model, loss_func=self.objective if self.teacher is None else make_loss("ce"),
                        opt_func=partial(OptimWrapper, opt=torch.optim.SGD), lr=config.lr,
                        cbs=callbacks, wd_bn_bias=True, train_bn=False)
        if not progress:
            learn.remove_cb(ProgressCallback)
            learn.logger = noop
        return learn

    def resume(self, epoch: int) -> None:
        """Nothing to put back: the windows are read in order, every epoch alike."""

    def result(self, learn, rows: list[dict], start_epoch: int, wall_seconds: float) -> tuple[dict, dict, dict]:
        """The last epoch's model on the test set (the test set never picks an epoch) and its fit to the whole
        training stream: its weights, per-token test predictions and final metrics."""
        config, model, streams = self.config, self.model, self.streams
        log_probs, targets = token_log_probs(model, streams["test"], config.bptt)
        test_loss = -log_probs.double().mean().item()
        train_loss_clean, train_ppl_clean = perplexity(model, streams["train"], config.bptt)
        last = rows[-1]
        final = dict(test_loss=test_loss, test_ppl=math.exp(test_loss), valid_loss=last["valid_loss"],
                     valid_ppl=last["valid_ppl"], train_ppl=train_ppl_clean, train_loss=train_loss_clean,
                     epochs=config.epochs, vocab_size=self.vocab_size, test_tokens=log_probs.numel(),
                     parameters=sum(p.numel() for p in model.parameters()),
                     train_seconds=sum(row["seconds"] for row in rows), device=str(self.device),
                     torch=torch.__version__, teacher=config.teacher, resumed_from_epoch=start_epoch or None,
                     wall_seconds_this_process=round(wall_seconds, 3), **{DATA_FINGERPRINT: data_fingerprint(config)})
        if self.teacher is not None:
            teacher_log_probs, _ = token_log_probs(self.teacher, streams["test"], config.bptt)
            final["teacher_test_ppl"] = math.exp(-teacher_log_probs.double().mean().item())
        predictions = dict(log_probs=log_probs.to(torch.float16),
                           targets=targets.to(torch.int16 if self.vocab_size <= 2**15 else torch.int32))
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}, predictions, final

    def synchronise(self) -> None:
        """One process trains a language model: nothing to wait for."""
