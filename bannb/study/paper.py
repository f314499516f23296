"""The paper's own figures (Tables 1-6 of Furlanello et al., 2018), read from `data/paper_tables.json`,
the one place they are written down. The book compares its runs with these and never retypes them.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pandas as pd
import torch

from bannb.errors import ConfigError
from bannb.models import count_parameters, create_model
from bannb.paths import DATA_DIR

TABLES_FILE = DATA_DIR / "paper_tables.json"
SHORT_CITATION = "Furlanello et al. (ICML 2018)"


@lru_cache(maxsize=1)
def _tables(path: Path = TABLES_FILE) -> dict:
    return json.loads(Path(path).read_text())


def _table(number: int) -> dict:
    tables = _tables()["tables"]
    if str(number) not in tables:
        raise ConfigError(f"the paper has no table {number!r}; its tables are {', '.join(tables)}")
    return tables[str(number)]


def paper_table(number: int) -> pd.DataFrame:
    """Table `number` as printed in the paper: one row per printed row, its first column as the index,
    NaN where the paper prints '/'."""
    table = _table(number)
    frame = pd.DataFrame(table["rows"], columns=table["columns"])
    frame = frame.set_index(table["columns"][0])
    frame.index.name = table["columns"][0] or None
    return frame.astype(float)


def paper_citation(number: int) -> str:
    """A one-line source for table `number`, e.g. "Furlanello et al. (ICML 2018), Table 2: CIFAR-100 …"."""
    return f"{SHORT_CITATION}, Table {number}: {_table(number)['title']}"


def paper_reference() -> str:
    """The full reference of the paper."""
    return _tables()["paper"]


# The paper's network names and the registry names that build them.
PAPER_ARCHS = {
    "Wide-ResNet-28-1": "wrn-28-1",
    "Wide-ResNet-28-2": "wrn-28-2",
    "Wide-ResNet-28-5": "wrn-28-5",
    "Wide-ResNet-28-10": "wrn-28-10",
    "DenseNet-112-33": "densenet-bc-112-33",
    "DenseNet-90-60": "densenet-bc-90-60",
    "DenseNet-80-80": "densenet-bc-80-80",
    "DenseNet-80-120": "densenet-bc-80-120",
    "Pre-activation ResNet-1001": "preresnet-1001",
    "BAN-Pre-ResNet-14-0.5": "res-student-90-60-bottleneck-14-0.5",
    "BAN-Pre-ResNet-14-1": "res-student-90-60-bottleneck-14-1",
    "BAN-Wide-ResNet-1-1": "res-student-90-60-wide-1-1",
    "BAN-Match-Wide-ResNet-2-1": "res-student-90-60-wide-2-1",
    "BAN-Wide-ResNet-4-0.5": "res-student-90-60-wide-4-0.5",
    "BAN-Wide-ResNet-4-1": "res-student-90-60-wide-4-1",
}

_CLASSES = {"cifar10": 10, "cifar100": 100}


def meta_parameters(arch: str, in_channels: int = 3, num_classes: int = 10) -> int:
    """Parameters of `arch` for images of `in_channels` channels and `num_classes` classes, counted on the meta
    device (nothing is allocated, so even the 87M-parameter students take milliseconds)."""

    with torch.device("meta"):
        return count_parameters(create_model(arch, in_channels=in_channels, num_classes=num_classes))


def parameter_comparison(number: int) -> pd.DataFrame:
    """Our parameter count of every network in table `number` (1 or 5) at the paper's data shape (3×32×32 images,
    10 or 100 classes) next to the paper's "Params (M)" column."""
    table = paper_table(number)
    classes = _CLASSES[_table(number)["dataset"]]
    rows = []
    for network, paper_millions in table["Params (M)"].items():
        arch = PAPER_ARCHS[network]
        ours = meta_parameters(arch, 3, classes) / 1e6
        rows.append({"network": network, "arch": arch, "paper (M)": paper_millions, "ours (M)": round(ours, 2),
                     "ours / paper": round(ours / paper_millions, 3)})
    return pd.DataFrame(rows)
