"""A language-model run's config: everything that determines a trained LSTM language model, validated, hashed
into the run's id (`bannb.runs.config.HashedConfig`, as an image run's)."""
from __future__ import annotations

from dataclasses import dataclass, field

from bannb.data.text import check_corpus
from bannb.errors import ConfigError
from bannb.losses import make_loss
from bannb.models.lstm_lm import parse_name
from bannb.runs.config import HashedConfig, check_numbers

METRIC_COLUMNS = ["epoch", "train_loss", "train_ppl", "train_probe_ppl", "valid_loss", "valid_ppl", "lr",
                  "train_tokens", "seconds"]
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
        check_numbers(self, dict(seed="seed", base_seed="seed or None"))
        if self.teacher is None or self.base_seed is None:
            object.__setattr__(self, "base_seed", self.seed)  # a teacher is its own replicate

    KIND = "LM run"
    DATA_FIELD = "corpus"

    def data_key(self) -> tuple:
        """What fixes the token streams: a student must read the same data as its teacher."""
        return self.corpus, self.max_vocab, self.train_tokens, self.eval_tokens
