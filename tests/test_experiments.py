"""The book's grids and the paper's tables: what the chapters ask for, without training."""
import copy
import math

import pandas as pd
import pytest
import torch
from fastai.callback.core import Callback

from bannb.book import check_parameters
from bannb.errors import ConfigError
from bannb.runs import lifecycle
from bannb.models import densenet_variants
from bannb.study.experiments import (
    book_config,
    chapter_seeds,
    disjoint_groups,
    extra_teacher_seeds,
    independent_teacher_seeds,
    initial_test_logits,
    transfer_grid,
)
from bannb.study.paper import (
    PAPER_ARCHS,
    paper_citation,
    paper_table,
    parameter_comparison,
)
from bannb.study.profiles import PROFILES
from tests.conftest import only_run


def test_default_seeds():
    assert chapter_seeds("smoke", None) == [0, 1]
    assert chapter_seeds("cpu", None) == list(range(8)) and chapter_seeds("paper", None) == [0, 1, 2]
    with pytest.raises(ConfigError, match="valid profiles"):
        chapter_seeds("laptop", None)
    assert chapter_seeds("cpu", [7]) == [7]


def test_book_config_shrinks_only_at_smoke_and_only_what_is_not_given():
    smoke = book_config("smoke", seed=1, arch=None, epochs=None)
    assert smoke.train_size == PROFILES["smoke"].book_overrides["train_size"] == 512
    assert smoke.seed == 1 and smoke.epochs == 2
    assert book_config("smoke", train_size=100).train_size == 100
    cpu = book_config("cpu")
    assert cpu.train_size == 3000 and cpu.arch == "wrn-16-1" and cpu.epochs == 20
    # a teacher: labels only, whatever the overrides
    assert (cpu.loss, cpu.teacher, cpu.generation) == ("ce", None, 0)
    # the same parameters give the same config, hence the same run
    assert book_config("cpu", seed=2, arch="wrn-16-1").run_id == book_config("cpu", seed=2).run_id


def test_disjoint_groups_and_extra_seeds():
    assert disjoint_groups(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5]]
    assert disjoint_groups(list(range(6)), 2) == [[0, 1], [2, 3], [4, 5]]
    assert disjoint_groups([0], 2) == []
    assert extra_teacher_seeds([0, 1, 2]) == [3, 4, 5]
    assert extra_teacher_seeds([4, 0], 2) == [5, 6]
    assert extra_teacher_seeds([0, 1], 0) == []


def test_independent_teachers_start_no_chain():
    """Chapter 7's control: its teachers' seeds lie after every chain's, central and secondary, so an ensemble of
    independent teachers shares no member with a born-again one (as Welch's interval assumes)."""
    pool = independent_teacher_seeds(10, [0, 1, 2], [0, 1, 2, 3, 4])
    assert pool == list(range(5, 15))
    assert independent_teacher_seeds(4, [7, 0], [1]) == [8, 9, 10, 11]
    # 5 disjoint pairs: the rule gives no verdict but "inconclusive" below 5
    assert PROFILES["cpu"].independent_teachers // 2 >= 5 and PROFILES["cpu-next"].independent_teachers // 2 >= 10


def test_transfer_grids():
    cpu = transfer_grid("cpu")
    assert cpu["seeds"] == [0, 1, 2] and cpu["train_size"] is None and cpu["densenet"] == "densenet-bc-22-12"
    assert transfer_grid("smoke")["seeds"] == [0]
    assert transfer_grid("paper")["seeds"] == [0, 1, 2]  # None: the profile's default seeds
    paper = transfer_grid("paper", seeds=[5], res_students=None)
    assert paper["seeds"] == [5] and len(paper["res_students"]) == 6
    assert set(paper["wrn_archs"]) == {PAPER_ARCHS[name] for name in paper_table(3).index}


def test_densenet_variants_are_named_by_table_4s_columns():
    variants = densenet_variants("densenet-bc-22-12", [2], [0.5, 1.5])
    assert variants == {"2×Depth": "densenet-bc-40-6-t30-33", "0.5×Compr": "densenet-bc-22-12-t15-12",
                        "1.5×Compr": "densenet-bc-22-12-t45-60"}
    assert set(densenet_variants("densenet-bc-90-60", [0.5, 2, 3, 4], [0.5, 0.75, 1.5])) \
        == set(paper_table(4).columns) - {"Teacher"}


def test_check_parameters_accepts_none_for_profile_defaults():
    parameters = dict(profile="cpu", dataset=None, arch=None, seeds=None, epochs=None, wrn_archs=None, densenet=None,
                      depth_factors=None, compression_factors=None, res_students=None, extra_teachers=None,
                      valid_size=None)
    assert check_parameters(**parameters) == parameters  # accepted, and returned unchanged
    with pytest.raises(ConfigError, match="profile"):  # None is no default for the profile itself
        check_parameters(**dict(parameters, profile=None))


@pytest.mark.parametrize("parameters, message", [
    (dict(wrn_archs="wrn-16-1"), "wrn_archs must be a list of architecture names"),
    (dict(res_students=[]), "res_students must be a list of architecture names"),
    (dict(depth_factors=[2, 0]), "depth_factors must be a list of positive numbers"),
    (dict(compression_factors=[True]), "compression_factors must be a list of positive numbers"),
    (dict(extra_teachers=-1), "extra_teachers must be an integer >= 0"),
    (dict(valid_size=0), "valid_size must be a positive integer"),
    (dict(densenet=3), "densenet must be a string"),
])
def test_check_parameters_rejects_bad_grid_parameters(parameters, message):
    with pytest.raises(ConfigError, match=message):
        check_parameters(**parameters)


# ---------------------------------------------------------------- the paper's tables

def test_paper_tables_as_printed():
    table2 = paper_table(2)
    assert table2.shape == (4, 10) and list(table2.index) == ["112-33", "90-60", "80-80", "80-120"]
    assert table2.loc["90-60", "BAN"] == 16.69 and table2.loc["80-80", "BAN-2"] == 16.30
    assert math.isnan(table2.loc["80-120", "BAN-3"])  # printed as "/"
    assert paper_table(1).loc["Wide-ResNet-28-10", "Params (M)"] == 36
    assert paper_table(3).loc["Wide-ResNet-28-1", "DenseNet-90-60 student"] == 24.93
    table4 = paper_table(4)
    assert list(table4.index) == ["Error", "Params (M)"] and table4.loc["Params (M)", "1.5×Compr"] == 80.5
    assert math.isnan(paper_table(5).loc["Pre-activation ResNet-1001", "BAN"])
    assert paper_table(6).loc["LSTM", "BAN+L test"] == 68.56
    assert paper_citation(2).startswith("Furlanello et al. (ICML 2018), Table 2: CIFAR-100")
    with pytest.raises(ConfigError, match="no table 7"):
        paper_table(7)


def test_parameter_comparison_against_table_1():
    counts = parameter_comparison(1).set_index("network")
    assert list(counts.index) == list(paper_table(1).index)
    wrn = counts[counts["arch"].str.startswith("wrn")]
    assert ((wrn["ours / paper"] - 1).abs() < 0.03).all()
    assert counts.loc["DenseNet-90-60", "ours (M)"] == round(15_054_010 / 1e6, 2)  # test_models' regression value


class InitialTestLogits(Callback):
    """Records the test-set logits of the network `lifecycle.train` is about to train, before its first step (on a
    copy, in training mode as `initial_test_logits` computes them, so that the run itself is not disturbed)."""
    order = 100
    logits = None

    def before_fit(self):
        if self.logits is not None:  # fastai's get_preds fires before_fit again, after training
            return
        model = copy.deepcopy(self.learn.model).to(memory_format=torch.contiguous_format).train()
        with torch.no_grad():
            self.logits = torch.cat([model(images).float() for images, _ in self.learn.dls.test])


def test_initial_test_logits_are_the_runs_starting_point(fashion_mnist_available, tmp_path):
    config = book_config("smoke", test_size=64, train_size=128, epochs=1, precision="fp32")
    first = initial_test_logits(config)
    assert first.shape == (64, 10) and torch.equal(first, initial_test_logits(config))
    assert not torch.equal(first, initial_test_logits(book_config("smoke", seed=1, test_size=64, train_size=128,
                                                                  epochs=1, precision="fp32")))
    # the comparison the name promises: the network the run really starts from gives these logits
    start = InitialTestLogits()
    lifecycle.train(config, tmp_path, progress=False, callbacks=[start])
    assert only_run(tmp_path).name == config.run_id
    torch.testing.assert_close(start.logits, first, rtol=1e-5, atol=1e-5)


def test_the_cpu_book_plan_trains_each_run_once_in_the_first_chapter_that_needs_it():
    """The cold cpu book's cost is the sum of these plans: each chapter's new runs, counted exactly."""
    from collections import Counter

    from bannb.study.chapters import BOOK_PLAN_CHAPTERS, chapter_plan
    seen, new = set(), {}
    for chapter in BOOK_PLAN_CHAPTERS:
        plan = chapter_plan(chapter, "cpu")
        new[chapter] = [c for c in {c.run_id: c for c in plan}.values() if c.run_id not in seen]
        seen |= {c.run_id for c in plan}
    # 6 regime candidates (the profile's own is teacher 0) + 8 teachers; 8 × (BAN-1, BAN-2) + 3 BAN-3 + 3 teachers
    # trained twice as long; 8 × (BAN+L, CWTM); 8 DKPP; 10 independent teachers on seeds in no chain; chapter 8's grid on
    # 3 seeds, Table 3 only (its WRN teachers and their BANs are chapters 3 and 4's: DenseNet students, the DenseNet
    # on the labels, the linear classifier); 3 × (LSTM teacher, BAN, BAN+L); the map: 4 cells × 5 seeds × (teacher,
    # BAN-1, label-smoothing student, 2× teacher) less the 13 of its clean cell, which is the chapters' regime
    # (chapter 4's teachers and BAN-1 of seeds 0-4, and its three teachers trained twice as long)
    # (chapter 2 checks Eq. 2 on seed 0's teacher and BAN-1, which it trains first)
    assert {chapter: len(runs) for chapter, runs in new.items()} == {
        "02_gradient": 2, "03_teachers": 12, "04_born_again": 21, "05_cwtm": 16, "06_dkpp": 8, "07_ensembles": 10,
        "08_densenet_resnet": 9, "09_language_models": 9, "10_regime_map": 80 - 13}
    assert Counter(c.epochs for c in new["04_born_again"]) == {20: 18, 40: 3}
    grid = Counter(c.arch for c in new["08_densenet_resnet"])
    assert grid["linear-28"] == 3 and grid["densenet-bc-22-12"] == 6  # 3 teachers + 3 students of the WRNs


def test_every_model_a_claim_compares_is_declared_by_its_chapter():
    """A claim names its models by the labels of its chapter's records: each is an entry of the chapter's one
    declaration (`study.chapters`), at the profile that trains it (chapter 8's Table 4 and 5 students: paper)."""
    from bannb.study.chapters import CHAPTERS, chapter_entries
    from bannb.study.claims import CLAIMS
    labels = {chapter: {entry.label for entry in chapter_entries(chapter, "cpu") if entry.shown} for chapter in CHAPTERS}
    labels["08_densenet_resnet"] |= {entry.label for entry in chapter_entries("08_densenet_resnet", "paper")}
    for claim in CLAIMS:
        assert {claim.a, claim.b} <= labels[claim.chapter], claim.key


def test_a_chapters_plan_is_every_run_it_shows_each_once_a_replicate_together():
    from bannb.study.chapters import INDEPENDENT, chapter_entries, chapter_plan
    entries = chapter_entries("07_ensembles", "cpu")
    plan = chapter_plan("07_ensembles", "cpu")
    ids = [c.run_id for c in plan]
    assert len(ids) == len(set(ids)) and set(ids) == {c.run_id for e in entries for c in e.all_configs()}
    replicates = [c.base_seed for c in plan]
    assert replicates == sorted(replicates, key=replicates.index)  # each replicate's runs together
    for position, config in enumerate(plan):  # a teacher in the plan comes before its students
        assert config.teacher not in ids[position:]
    ensembles = {e.label: e for e in entries}
    assert [len(members) for _, members in ensembles["Teachers×3"].groups] == [3, 3, 3]
    assert [replicate for replicate, _ in ensembles["Teachers×2"].groups] == [0, 1, 2, 3, 4]
    chain_seeds = {c.base_seed for e in entries if not e.label.startswith("Teachers×") and e.label != INDEPENDENT
                   for c in e.all_configs()}
    pool_seeds = {c.base_seed for e in entries if e.label.startswith("Teachers×") for c in e.all_configs()}
    assert len(pool_seeds) == 10 and not pool_seeds & chain_seeds  # Welch's interval: the two sides share nothing
    with pytest.raises(ConfigError, match="chapter '01_introduction' trains no runs"):
        chapter_entries("01_introduction", "cpu")
    assert chapter_plan("01_introduction", "cpu") == []
    assert chapter_entries("08_densenet_resnet", "gpu") == []  # no grid at the gpu profile


def _chapter8_records(wrns=("wrn-16-1",), res=("res-a",), seeds=(0, 1, 2)):
    """Chapter 8's records as `chapter_records` lays them out, with errors whose means are known."""
    rows = []
    for s in seeds:
        for i, wrn in enumerate(wrns):
            rows += [dict(model="WRN teacher", wrn=wrn, arch=wrn, test_error=12.0 + i + s, params=100_000),
                     dict(model="WRN BAN", wrn=wrn, arch=wrn, test_error=11.0 + i + s, params=100_000),
                     dict(model="DenseNet student", wrn=wrn, arch="dn", test_error=10.0 + i + s, params=50_000)]
        rows += [dict(model="DenseNet baseline", arch="dn", test_error=10.5 + s, params=50_000),
                 dict(model="2×Depth", arch="dn-deep", test_error=10.2 + s, params=40_000),
                 dict(model="0.5×Compr", arch="dn-thin", test_error=11.2 + s, params=20_000)]
        for j, student in enumerate(res):
            rows += [dict(model="ResNet baseline", res=student, arch=student, test_error=13.0 + j + s, params=2_000_000),
                     dict(model="ResNet student", res=student, arch=student, test_error=12.5 + j + s, params=2_000_000)]
        rows.append(dict(model="Linear", arch="linear-28", test_error=16.0 + s, params=7_850))
    frame = pd.DataFrame(rows)
    frame["seed"] = [s for s in seeds for _ in range(len(rows) // len(seeds))]
    return frame


def test_transfer_labels_name_the_network_of_a_grid_row():
    from bannb.study.experiments import transfer_labels
    frame = _chapter8_records(wrns=("wrn-28-1", "wrn-28-2"))
    labels = transfer_labels(frame)
    assert list(dict.fromkeys(labels))[:4] == ["WRN teacher [wrn-28-1]", "WRN BAN [wrn-28-1]",
                                               "DenseNet student [wrn-28-1]", "WRN teacher [wrn-28-2]"]
    assert {"DenseNet baseline", "ResNet student [res-a]", "Linear"} <= set(labels)
    from bannb.study.experiments import grid_networks
    networks = grid_networks(frame)
    assert set(networks.dropna()) == {"wrn-28-1", "wrn-28-2", "res-a"}
    assert networks[frame["model"].isin(["DenseNet baseline", "2×Depth", "Linear"])].isna().all()


def test_transfer_tables_lay_our_means_out_as_the_papers_tables():
    from bannb.study.experiments import transfer_tables
    tables = transfer_tables(_chapter8_records(wrns=("wrn-28-1", "wrn-28-2"), res=("res-a", "res-b")))
    table3 = tables[3]
    assert list(table3.columns) == [*paper_table(3).columns, "DenseNet baseline"]
    assert list(table3.index) == ["wrn-28-1 → dn", "wrn-28-2 → dn"]
    assert table3.loc["wrn-28-2 → dn"].tolist() == pytest.approx([14.0, 13.0, 12.0, 11.5])  # means over seeds 0-2
    table4 = tables[4]
    assert list(table4.index) == list(paper_table(4).index) and list(table4.columns) == ["Teacher", "2×Depth", "0.5×Compr"]
    assert table4.loc["Error"].tolist() == pytest.approx([11.5, 11.2, 12.2])
    assert table4.loc["Params (M)"].tolist() == pytest.approx([0.05, 0.04, 0.02])
    table5 = tables[5]
    assert list(table5.columns) == list(paper_table(5).columns) and list(table5.index) == ["res-a", "res-b"]
    assert table5.loc["res-b"].tolist() == pytest.approx([2.0, 15.0, 14.5])
    # a profile that trains Table 3 alone: Tables 4 and 5 keep the paper's layout, with our DenseNet teacher alone
    only3 = _chapter8_records(res=())
    only3 = only3[~only3["model"].isin(["2×Depth", "0.5×Compr"])].drop(columns="res", errors="ignore")
    tables = transfer_tables(only3)
    assert list(tables[4].columns) == ["Teacher"] and tables[4].loc["Error", "Teacher"] == pytest.approx(11.5)
    assert tables[5].empty and list(tables[5].columns) == list(paper_table(5).columns)


def test_a_run_teaches_when_another_run_names_it_as_teacher():
    from types import SimpleNamespace

    from bannb.study.experiments import taught_others

    def run(run_id, teacher=None):
        return SimpleNamespace(run_id=run_id, config=SimpleNamespace(teacher=teacher))
    runs = [run("wrn"), run("ban", "wrn"), run("dense"), run("dense-student", "wrn"), run("linear")]
    assert taught_others(runs) == [True, False, False, False, False]


def test_pooled_records_keep_each_run_once_and_name_its_chapter():
    import pandas as pd

    from bannb.study.experiments import pooled_records
    teacher = dict(model="Teacher", seed=0, test_error=9.0, run_id="t0")
    pooled = pooled_records({"04_born_again": pd.DataFrame([teacher, dict(teacher, model="BAN-1", run_id="s0")]),
                             "05_cwtm": pd.DataFrame([teacher, dict(teacher, model="CWTM", run_id="c0")]),
                             "09_language_models": pd.DataFrame(columns=["model", "seed", "test_error", "run_id"])})
    assert sorted(zip(pooled["chapter"], pooled["model"])) == [
        ("04_born_again", "BAN-1"), ("04_born_again", "Teacher"), ("05_cwtm", "CWTM")]
    assert pooled_records({}).empty


def test_run_fit_reads_each_runs_final_record(tmp_path):
    import json

    import pandas as pd

    from bannb.study.experiments import run_fit
    (tmp_path / "t0").mkdir()
    (tmp_path / "t0" / "final.json").write_text(json.dumps(dict(train_accuracy=0.99, train_loss=0.05)))
    (tmp_path / "s0").mkdir()
    (tmp_path / "s0" / "final.json").write_text(json.dumps(dict(
        train_accuracy=0.97, train_loss=0.1, teacher_train_targets_wrong=0.01, test_agreement_with_teacher=0.95,
        teacher="t0")))
    frame = pd.DataFrame(dict(model=["Teacher", "BAN-1", "Ens*2"], run_id=["t0", "s0", "t0 + s0"], seed=[0, 0, 0],
                              test_error=[10.0, 9.5, 9.0]), index=[5, 6, 7])
    fit = run_fit(frame, tmp_path).set_index("model")
    assert fit.loc["BAN-1", "teacher"] == "t0"
    assert fit.loc["Teacher", "train_accuracy"] == pytest.approx(99.0)
    assert math.isnan(fit.loc["Teacher", "teacher_train_targets_wrong"])  # a teacher has no teacher
    assert fit.loc["BAN-1", "teacher_train_targets_wrong"] == pytest.approx(1.0)
    assert fit.loc["BAN-1", "test_agreement_with_teacher"] == pytest.approx(95.0)
    assert fit.loc["BAN-1", "train_loss"] == pytest.approx(0.1)
    assert fit.loc["Ens*2", ["train_accuracy", "teacher"]].isna().all()  # an ensemble is several runs: no one record


def test_runs_per_seed_counts_a_teacher_and_its_students():
    from bannb.study.chapters import runs_per_seed
    # a teacher; BAN-1 and BAN-2 (chapter 4); BAN+L and CWTM (chapter 5); DKPP (chapter 6)
    assert runs_per_seed("cpu") == 6 and runs_per_seed("smoke") == 6
    assert runs_per_seed("cpu", ["03_teachers"]) == 1


def test_central_seed_seconds_prices_a_seeds_runs_at_the_seed_chapters_mean_run(tmp_path):
    from bannb.book.timings import add_training_time, central_seed_seconds
    assert central_seed_seconds("cpu", tmp_path) is None  # nothing measured yet
    add_training_time(tmp_path, "03_teachers", 100.0, runs=1)
    add_training_time(tmp_path, "04_born_again", 500.0, runs=3)
    add_training_time(tmp_path, "08_densenet_resnet", 9000.0, runs=1)  # not a chapter of the central seeds
    # 6 runs per seed at (100 + 500) / 4 = 150 s a run
    assert central_seed_seconds("cpu", tmp_path) == pytest.approx(900.0)


def test_the_regime_study_at_smoke_trains_no_more_than_the_smoke_teacher():
    """nbval runs chapter 3 at smoke in seconds: a candidate that trains more images or epochs is capped there."""
    from bannb.study import experiments
    from bannb.study.experiments import REGIME_CANDIDATES, book_config, regime_configs
    own = book_config("smoke", 0)
    candidates = {**REGIME_CANDIDATES, "bigger": dict(train_size=5000, epochs=15, arch="wrn-16-2")}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(experiments, "REGIME_CANDIDATES", candidates)
        configs = regime_configs("smoke")
        assert list(configs) == list(candidates)
        assert all(c.train_size <= own.train_size and c.epochs <= own.epochs for c in configs.values())
        assert configs["bigger"].arch == "wrn-16-2"  # the other changes stay
        assert regime_configs("cpu")["bigger"].train_size == 5000  # at cpu the candidates are as written
    cpu = regime_configs("cpu")
    assert cpu["the profile's regime"] == book_config("cpu", 0)  # the profile's own teacher, reused
    assert cpu["the step schedule"].schedule == "step" and cpu["batch 128 (half the steps)"].batch_size == 128


def test_notebooks_read_runs_only_through_the_chapters_declarations():
    """A notebook never trains or reads a run that no chapter's declaration names: it reads runs through
    `chapters.chapter_runs` / `chapter_records` / `book_records`, never through a training call of its own."""
    import json

    from bannb.paths import PROJECT_ROOT
    from bannb.study import experiments
    trains = ("experiments.sequences", "experiments.teachers(", "experiments.students(", "regime_records",
              "train_run", "train_lm_run", "born_again(", "lifecycle.train", "train_all(", "plan.train")
    for notebook in sorted((PROJECT_ROOT / "book").glob("*.ipynb")):
        code = "\n".join("".join(cell["source"]) for cell in json.loads(notebook.read_text())["cells"]
                         if cell["cell_type"] == "code")
        assert not [call for call in trains if call in code], notebook.name
    assert not any(hasattr(experiments, name) for name in ("sequences", "teachers", "students", "regime_records"))


def test_seed_chains_follow_the_labels_seed_by_seed():
    """{seed: [teacher, BAN-1, …]} from `chapter_runs`' runs by label; a chain stops where a seed has no run of a
    label (BAN-3 on the secondary seeds alone)."""
    from types import SimpleNamespace

    from bannb.study.chapters import generation_labels, seed_chains

    def runs(label, seeds):
        return [SimpleNamespace(label=label, config=SimpleNamespace(base_seed=seed)) for seed in seeds]

    declared = {"Teacher": runs("Teacher", [3, 1, 2]), "BAN-1": runs("BAN-1", [3, 1, 2]),
                "BAN-2": runs("BAN-2", [1, 3, 2]), "BAN-3": runs("BAN-3", [1])}
    assert generation_labels(3) == ["Teacher", "BAN-1", "BAN-2", "BAN-3"]
    chains = seed_chains(declared, generation_labels(3))
    assert list(chains) == [3, 1, 2]
    assert {seed: [run.label for run in chain] for seed, chain in chains.items()} == {
        3: ["Teacher", "BAN-1", "BAN-2"], 1: ["Teacher", "BAN-1", "BAN-2", "BAN-3"], 2: ["Teacher", "BAN-1", "BAN-2"]}
    assert all(run.config.base_seed == seed for seed, chain in chains.items() for run in chain)
    assert [len(chain) for chain in seed_chains(declared, generation_labels(1)).values()] == [2, 2, 2]
