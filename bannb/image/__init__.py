"""Image classifiers: a run's config (`RunConfig`), its fastai Learner and callbacks (`learner`), training it
(`training.ImageTraining`, trained by `bannb.runs.lifecycle.train`), the precision it trains in (`precision`) and data parallelism (`distributed`).

Importing the package registers the "image" kind of run with the store (`bannb.runs.kinds`); fastai is loaded
only when a run trains.
"""
from __future__ import annotations

from bannb.data import load_dataset
from bannb.image.config import CONFIG_VERSION, RunConfig, build_model  # noqa: F401  (the package's public names)
from bannb.runs.kinds import RunKind, register_kind


def _prepare(config, teacher_run, device, log):
    from bannb.image.training import ImageTraining  # lazily: fastai is heavy, and reading records never needs it
    return ImageTraining.prepare(config, teacher_run, device, log)


def _main_process() -> bool:
    from bannb.image import distributed  # lazily: torch.distributed, which reading records never needs
    return distributed.is_main_process()


def _build_model(run):
    dataset = load_dataset(run.config.dataset)
    return build_model(run.config, dataset.image_shape[0], dataset.num_classes)


IMAGE = register_kind(RunKind(name="image", config_class=RunConfig, prepare=_prepare, build_model=_build_model,
                              result_name="test error", result_text=lambda final: f"{100 * final['test_error']:.2f}%",
                              main_process=_main_process))
