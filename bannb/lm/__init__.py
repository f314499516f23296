"""Born-again language models (the paper's Table 6): a run's config (`LMRunConfig`), the corpus as token streams
(`streams`), and training on a fastai Learner (`training.train_lm_run`).

Importing the package registers the "lm" kind of run with the store (`bannb.runs.kinds`), beside the image runs:
the same run folders, records, reuse and weight restoring.
"""
from __future__ import annotations

from bannb.lm.config import LM_CONFIG_VERSION, LM_LOSSES, LMRunConfig  # noqa: F401  (the package's public names)
from bannb.models.lstm_lm import create_language_model
from bannb.runs.kinds import RunKind, register_kind


def _train(config, runs_dir, device, progress, log, path):
    from bannb.lm.training import train_lm_run  # lazily: training loads fastai, reading records never needs it
    return train_lm_run(config, runs_dir, device, log, path=path, progress=progress)


def _build_model(run):
    return create_language_model(run.config.arch, run.final["vocab_size"], run.config.dropout)


LM = register_kind(RunKind(name="lm", config_class=LMRunConfig, train=_train, build_model=_build_model,
                           result_name="test perplexity", result_text=lambda final: f"{final['test_ppl']:.2f}"))
