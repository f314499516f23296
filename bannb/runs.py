"""Runs, as one import: the config (`bannb.config`), the run store (`bannb.store`) and training (`bannb.training`).

Kept so that `from bannb.runs import …` goes on working; new code imports from the three modules.
"""
from .config import CONFIG_VERSION, RunConfig, build_model  # noqa: F401
from .store import (CHECKPOINT, CONFIG, DONE, FINAL, METRIC_COLUMNS, METRICS, PREDICTIONS, RESULT_FILES,  # noqa: F401
                    WEIGHTS, Run, atomic_torch_save, atomic_write_bytes, atomic_write_json, default_runs_dir,
                    finished_problem, mark_done, read_metrics, resolve_teacher, sha256, write_metrics)
from .training import (TRAIN_PROBE_SIZE, NonFiniteLoss, RunRecorder, StopOnNonFiniteLoss, Training,  # noqa: F401
                       build_learner, clean_loader, finish_run, prepare_training, seed_everything, train_run,
                       training_fit)
