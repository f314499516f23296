"""Image classifiers: a run's config (`RunConfig`), its fastai Learner and callbacks (`learner`), training it
(`training.train_run`), the precision it trains in (`precision`) and data parallelism (`distributed`).

Importing the package registers the "image" kind of run with the store (`bannb.runs.kinds`); fastai is loaded
only when a run trains.
"""
from __future__ import annotations

from bannb.data import load_dataset
from bannb.image.config import CONFIG_VERSION, RunConfig, build_model  # noqa: F401  (the package's public names)
from bannb.runs.kinds import RunKind, register_kind


def _train(config, runs_dir, device, progress, log, path):
    from bannb.image.training import train_run  # lazily: fastai is heavy, and reading records never needs it
    return train_run(config, runs_dir, device, progress, log, path=path)


def _build_model(run):
    dataset = load_dataset(run.config.dataset)
    return build_model(run.config, dataset.image_shape[0], dataset.num_classes)


IMAGE = register_kind(RunKind(name="image", config_class=RunConfig, train=_train, build_model=_build_model,
                              result_name="test error", result_text=lambda final: f"{100 * final['test_error']:.2f}%"))
