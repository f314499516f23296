"""The kinds of run the store holds, by name: image classifiers (`bannb.image`) and language models (`bannb.lm`).

Each kind registers itself when its package is imported (as a timm model family does in its own file), so that
this package imports neither: every place that asks "which kind of run is this?" asks the registry, never
`isinstance`. A stored config is told apart by the field that names its data (`HashedConfig.DATA_FIELD`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from bannb.errors import ConfigError


@dataclass(frozen=True)
class RunKind:
    """What the store and the plan runner need to know of one kind of run."""

    name: str
    config_class: type  # a frozen `HashedConfig` dataclass; its DATA_FIELD tells its stored configs apart
    # (config, teacher run or None, device, log) -> the kind's `lifecycle.Training` of that run: its data, model,
    # loss and teacher network drawn; what the run lifecycle (`bannb.runs.lifecycle.train`) fits and records
    prepare: Callable
    build_model: Callable  # (run) -> the run's network at initial weights, on the CPU, ready for its weights
    result_name: str  # what its result is called in a log line ("test error")
    result_text: Callable  # (final.json as a dict) -> that result as text ("13.52%")
    # () -> whether this process holds and writes the run (process 0 of a data-parallel run; always, for one process)
    main_process: Callable = lambda: True

    def describe(self, final: dict) -> str:
        return f"{self.result_name} {self.result_text(final)}"


KINDS: dict[str, RunKind] = {}
_BY_CONFIG: dict[type, RunKind] = {}


def register_kind(kind: RunKind) -> RunKind:
    field = kind.config_class.DATA_FIELD
    clash = [other.name for other in KINDS.values() if other.config_class.DATA_FIELD == field and other.name != kind.name]
    if not field or clash:
        raise ValueError(f"run kind {kind.name!r}: its configs need a DATA_FIELD of their own (got {field!r}, "
                         f"also used by {clash})")
    KINDS[kind.name] = kind
    _BY_CONFIG[kind.config_class] = kind
    return kind


def kind_of(config) -> RunKind:
    """The kind of a config object."""
    try:
        return _BY_CONFIG[type(config)]
    except KeyError:
        raise ConfigError(f"{type(config).__name__} is not the config of a registered kind of run "
                          f"({', '.join(KINDS) or 'none registered: import bannb'})") from None


def kind_of_values(values: dict) -> RunKind:
    """The kind of a stored config (a dict read from config.json), by the field that names its data."""
    found = [kind for kind in KINDS.values() if kind.config_class.DATA_FIELD in values]
    if len(found) != 1:
        fields = {kind.name: kind.config_class.DATA_FIELD for kind in KINDS.values()}
        raise ConfigError(f"a stored config must name its data with exactly one of {fields}; this one has "
                          f"{sorted(values)}: it is not a bannb run config")
    return found[0]


def config_from_dict(values: dict):
    """A stored config loaded back as its kind's config."""
    return kind_of_values(values).config_class.from_dict(values)
