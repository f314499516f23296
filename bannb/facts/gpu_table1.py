"""Table 1 on one GPU (`study.gpu_table1`): the runs a manifest names, the table beside the paper's, and the facts
chapter 4 glues. The comparison is judged by the book's rule alone, outside the book's family of claims: it has
three seeds (the rule asks five), it is one prepared run on a GPU lent for minutes, and no other claim shares its
runs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import pandas as pd

from bannb.report.records import final_fields
from bannb.study import paper, stats
from bannb.study.regimes import TAUGHT_FIELDS
from bannb.study.teaching import taught_means

# The manifests `python -m bannb.study.gpu_table1` wrote, committed beside the runs they name: the profile's
# schedule, and the same runs at the 17 epochs its measured budget first chose (to see whether the longer
# schedule changes the verdict).
RESULTS = Path(__file__).resolve().parents[2] / "book" / "results"
MANIFESTS = {"profile": RESULTS / "gpu-table1-30-epochs.json", "shorter": RESULTS / "gpu-table1-17-epochs.json"}
FIELDS = ("test_error", *TAUGHT_FIELDS)  # TAUGHT_FIELDS holds the training accuracy too
NETWORKS = {arch: network for network, arch in paper.PAPER_ARCHS.items()}


def load_manifest(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def records(manifest: dict, runs_dir: str | Path) -> pd.DataFrame:
    """One row per run the manifest names and that finished: network, seed, role (teacher or BAN-1), epochs, and
    its `FIELDS` from `final.json`; test error and training accuracy in points (%), what a student was taught as
    recorded (`teaching.taught_means` averages it)."""
    frame = pd.DataFrame([run for run in manifest["runs"] if run["finished"]])
    frame = final_fields(frame, FIELDS, Path(runs_dir)).astype({name: float for name in FIELDS})
    for column in ("test_error", "train_accuracy"):
        frame[column] = 100 * frame[column]
    frame["network"] = frame["arch"].map(NETWORKS)
    frame["epochs"] = manifest["epochs"]
    return frame


def _roles(frame: pd.DataFrame, network: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`network`'s teachers and BAN-1 students."""
    runs = frame[frame["network"] == network]
    return runs[runs["role"] == "teacher"], runs[runs["role"] == "BAN-1"]


def differences(frame: pd.DataFrame) -> dict[str, stats.Difference]:
    """Per network, BAN-1 − teacher, paired by seed (points of test error)."""
    result = {}
    for network, rows in frame.groupby("network", sort=False):
        side = {role: dict(zip(part["seed"], part["test_error"])) for role, part in rows.groupby("role")}
        result[network] = stats.paired_difference(side["teacher"], side["BAN-1"])
    return result


def table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per network: the paper's teacher and BAN errors, ours (mean ± std over seeds, JPEG CIFAR-10), BAN-1 − teacher
    with its 95% interval and n, the verdict of the book's rule on this comparison alone, and what the student was
    taught and took: the teacher's mass outside its top class on the student's views, and the student's agreement
    with its teacher on the test set."""
    printed = paper.paper_table(1)
    rows = []
    for network, difference in differences(frame).items():
        teacher, student = _roles(frame, network)
        taught = taught_means(student)
        rows.append({"network": network,
                     "paper: teacher": printed.loc[network, "Teacher"], "paper: BAN": printed.loc[network, "BAN"],
                     "paper: BAN − teacher": printed.loc[network, "BAN"] - printed.loc[network, "Teacher"],
                     "ours: teacher": _mean_std(teacher["test_error"]), "ours: BAN-1": _mean_std(student["test_error"]),
                     "ours: BAN-1 − teacher [95% CI]": f"{difference.mean:+.2f} [{difference.low:+.2f}, {difference.high:+.2f}]",
                     "n": difference.n, "verdict": difference.verdict("lower"),
                     "teacher's mass outside top (%)": taught["mass_seen"],
                     "agreement with teacher (%)": taught["agreement"]})
    return pd.DataFrame(rows).set_index("network")


def _mean_std(values: pd.Series) -> str:
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f}" if len(values) > 1 else f"{values.mean():.2f}"


def facts(frame: pd.DataFrame, shorter: pd.DataFrame, manifest: dict,
          networks: Sequence[str] = ("Wide-ResNet-28-1", "Wide-ResNet-28-2")) -> dict:
    """What chapter 4 glues about the GPU run: the machine and its cost, and per network (`w1`, `w2`, …, by the
    width in its name) our teacher's error, BAN-1 − teacher with its interval, the verdict, the dark knowledge on
    the student's views and the student's agreement; the same difference at the shorter schedule and how much
    the longer schedule improved the teachers (paired by seed)."""
    ours, before = differences(frame), differences(shorter)
    result = {"gpu_device": manifest["device"], "gpu_torch": manifest["torch"], "gpu_epochs": manifest["epochs"],
              "gpu_shorter_epochs": int(shorter["epochs"].iloc[0]), "gpu_runs": int(len(frame)),
              "gpu_side_by_side": manifest["side_by_side"], "gpu_wall_minutes": manifest["wall_seconds"] / 60,
              "gpu_seeds": len(manifest["seeds"])}
    for network in networks:
        key = "w" + network.rsplit("-", 1)[1]
        teacher, student = _roles(frame, network)
        earlier, _ = _roles(shorter, network)
        taught = taught_means(student)
        longer = stats.paired_difference(dict(zip(earlier["seed"], earlier["test_error"])),
                                         dict(zip(teacher["seed"], teacher["test_error"])))
        difference = ours[network]
        result.update({f"gpu_{key}_teacher": teacher["test_error"].mean(),
                       f"gpu_{key}_teacher_fit": teacher["train_accuracy"].mean(),
                       f"gpu_{key}_diff": difference.mean, f"gpu_{key}_low": difference.low,
                       f"gpu_{key}_high": difference.high, f"gpu_{key}_verdict": difference.verdict("lower"),
                       f"gpu_{key}_mass": taught["mass_seen"], f"gpu_{key}_agreement": taught["agreement"],
                       f"gpu_{key}_diff_shorter": before[network].mean,
                       f"gpu_{key}_longer_gain": longer.mean})
    return result
