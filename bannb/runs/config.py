"""What every run config shares, image and language model alike: its fields as a dict, loading one back with
unknown keys refused, the hash of its canonical JSON, and the run id built from it. No fastai, no torch: reading a
record never needs them."""
from __future__ import annotations

import dataclasses
import hashlib
import json

from bannb.errors import ConfigError


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
        return cls(**{**cls.LEGACY_DEFAULTS, **values})

    @property
    def hash(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @property
    def run_id(self) -> str:
        role = "teacher" if self.teacher is None else f"{self.loss}-gen{self.generation}"
        return f"{self.data_name}-{self.arch}-{role}-seed{self.seed}-{self.hash}"
