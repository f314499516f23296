"""Born-again language models (the paper's Table 6): a run's config (`LMRunConfig`), the corpus as token streams
(`streams`), and training on a fastai Learner (`training.LMTraining`, trained by `bannb.runs.lifecycle.train`).

Importing the package registers the "lm" kind of run with the store (`bannb.runs.kinds`), beside the image runs:
the same run folders, records, reuse and weight restoring.
"""
from __future__ import annotations

from bannb.lm.config import LM_CONFIG_VERSION, LM_LOSSES, LMRunConfig  # noqa: F401  (the package's public names)
from bannb.models.lstm_lm import create_language_model
from bannb.runs.kinds import RunKind, register_kind


def _prepare(config, teacher_run, device, log):
    from bannb.lm.training import LMTraining  # lazily: training loads fastai, reading records never needs it
    return LMTraining.prepare(config, teacher_run, device, log)


def _build_model(run):
    return create_language_model(run.config.arch, run.final["vocab_size"], run.config.dropout)


LM = register_kind(RunKind(name="lm", config_class=LMRunConfig, prepare=_prepare, build_model=_build_model,
                           result_name="test perplexity", result_text=lambda final: f"{final['test_ppl']:.2f}"))
