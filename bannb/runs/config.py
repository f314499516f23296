"""What every run config shares, image and language model alike: its fields as a dict, loading one back with
unknown keys refused, the hash of its canonical JSON, and the run id built from it. No fastai, no torch: reading a
record never needs them."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math

from bannb.errors import ConfigError

MAX_SEED = 2**32 - 1  # the largest seed every generator a run seeds takes as it is (numpy's: 32 bits)


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# The rules a run config's numbers follow, by name: (whether a value passes, what the message says it must be).
NUMBER_RULES = {
    "count": (lambda v: _integer(v) and v >= 1, "a positive integer"),
    "count or None": (lambda v: v is None or _integer(v) and v >= 1, "a positive integer or None"),
    "positive": (lambda v: _finite(v) and v > 0, "a positive finite number"),
    "non-negative": (lambda v: _finite(v) and v >= 0, "a finite number ≥ 0"),
    "fraction": (lambda v: _finite(v) and 0 <= v < 1, "a number from 0 up to (not including) 1"),
    "seed": (lambda v: _integer(v) and 0 <= v <= MAX_SEED, f"an integer from 0 to {MAX_SEED}"),
    "seed or None": (lambda v: v is None or _integer(v) and 0 <= v <= MAX_SEED,
                     f"an integer from 0 to {MAX_SEED}, or None"),
}


def check_numbers(config, rules: dict[str, str]) -> None:
    """Refuse the first field of `config` named in `rules` (field -> rule name, `NUMBER_RULES`) whose value breaks
    its rule: one ConfigError naming the field, what it must be and what it is. Every config class checks its
    numbers this way, so every command that builds one refuses the same values with the same message."""
    for name, rule in rules.items():
        passes, what = NUMBER_RULES[rule]
        value = getattr(config, name)
        if not passes(value):
            raise ConfigError(f"{name} must be {what}, got {value!r}")


class HashedConfig:
    """What every run config shares (image and language-model runs): its fields as a dict, loading one back with
    unknown keys refused, the hash of its canonical JSON, and the run id built from it. A subclass is a frozen
    dataclass with `arch`, `loss`, `teacher`, `generation` and `seed` fields, and names in `DATA_FIELD` the field
    that says what data it reads (a stored config is told apart from another kind's by that field)."""

    KIND = "run"  # in messages: "unknown run config keys …"
    DATA_FIELD = ""  # "dataset" for an image run, "corpus" for a language model
    # Fields added after runs were recorded, with the value that every run recorded before them had: a stored
    # config without the field gets that value, and a config holding it stores and hashes without the field, so
    # the runs recorded before it keep their ids (and stay reusable) while a run with any other value gets its own.
    LEGACY_DEFAULTS: dict = {}

    @property
    def data_name(self) -> str:
        return getattr(self, self.DATA_FIELD)

    def to_dict(self) -> dict:
        """The fields as stored and hashed: all of them, less those at their legacy value (`LEGACY_DEFAULTS`)."""
        values = dataclasses.asdict(self)
        return {key: value for key, value in values.items()
                if not (key in self.LEGACY_DEFAULTS and value == self.LEGACY_DEFAULTS[key])}

    @classmethod
    def from_dict(cls, values: dict):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown {cls.KIND} config keys {sorted(unknown)}; valid keys are: {', '.join(sorted(known))}")
        try:
            return cls(**{**cls.LEGACY_DEFAULTS, **values})
        except TypeError as err:  # a required field missing
            raise ConfigError(f"a stored {cls.KIND} config lacks a field ({err})") from err

    @property
    def hash(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @property
    def run_id(self) -> str:
        role = "teacher" if self.teacher is None else f"{self.loss}-gen{self.generation}"
        return f"{self.data_name}-{self.arch}-{role}-seed{self.seed}-{self.hash}"
