"""The convergence criterion on curves whose answer is known."""
import math

import numpy as np
import pytest

from bannb.study.convergence import MIN_TRAIN_ACCURACY, flatness


def test_flat_curve_passes_and_a_falling_one_does_not():
    flat = [30, 20, 16, 15, 15.1, 14.9, 15.0, 15.0, 15.1, 15.0]
    change, allowed = flatness(flat, valid_size=2000)
    assert abs(change) < 0.2
    assert allowed == pytest.approx(2 * 100 * math.sqrt(0.15 * 0.85 / 2000))
    falling = [30, 28, 26, 24, 22, 20, 18, 16, 14, 12]  # still learning: 2 points an epoch
    change, allowed = flatness(falling, valid_size=2000)
    # the window is the last ceil(10/5) = 2 epochs and the one before: 3 points, 2 epochs apart
    assert change == pytest.approx(-4.0)
    assert change < -allowed


def test_window_is_the_last_fifth_plus_one():
    errors = np.r_[np.full(15, 50.0), [20.0, 20.0, 20.0, 20.0]]  # 19 epochs: ceil(19/5) = 4 → last 5 values
    change, _ = flatness(errors, valid_size=5000)
    expected_slope = np.polyfit(np.arange(5), errors[-5:], 1)[0]
    assert change == pytest.approx(expected_slope * 4)


def test_threshold_is_the_papers_fit():
    assert MIN_TRAIN_ACCURACY == 0.98


def test_a_language_model_teacher_is_flat_when_its_validation_perplexity_stops_falling():
    from types import SimpleNamespace

    import pandas as pd

    from bannb.study.convergence import LM_FLAT_FRACTION, lm_fit_record

    def lm_run(valid_ppl):
        final = dict(valid_ppl=valid_ppl[-1], test_ppl=valid_ppl[-1] - 2, train_ppl=80.0)
        return SimpleNamespace(run_id="lm", config=SimpleNamespace(base_seed=3), final=final,
                               metrics=lambda: pd.DataFrame({"valid_ppl": valid_ppl}))

    levelled = lm_run([190, 145, 132, 123, 118, 116, 112.4, 112.2, 112.0, 111.9])
    record = lm_fit_record(levelled)
    # the window is the last 3 epochs: 112.2, 112.0, 111.9 fall by 0.3, under 1% of 111.9
    assert record["last_fifth_change"] == pytest.approx(-0.3)
    assert record["allowed_drop"] == pytest.approx(LM_FLAT_FRACTION * 111.9) and record["flat"]
    assert record["seed"] == 3 and record["valid_over_train"] == pytest.approx(111.9 / 80)
    falling = lm_fit_record(lm_run([190, 170, 150, 140, 130, 125, 120, 116, 112, 108]))
    assert falling["last_fifth_change"] == pytest.approx(-8.0) and not falling["flat"]


def test_window_length_matches_flatness():
    from bannb.study.convergence import window_length
    assert [window_length(n) for n in (1, 2, 5, 10, 19, 20)] == [1, 2, 2, 3, 5, 5]


class FakeRun:
    """What the convergence records read of a run: config, final metrics, per-epoch metrics, test logits."""

    def __init__(self, run_id, test_error, train_accuracy=1.0, wrong=None, agreement=None, logits=None, teacher=None):
        from types import SimpleNamespace

        import pandas as pd
        self.run_id = run_id
        self.config = SimpleNamespace(base_seed=int(run_id[-1]), valid_size=2000, teacher=teacher)
        self.final = dict(test_error=test_error, valid_accuracy=0.9, train_accuracy=train_accuracy)
        if wrong is not None:
            self.final.update(teacher_train_targets_wrong=wrong, test_agreement_with_teacher=agreement)
        self._metrics = pd.DataFrame(dict(valid_accuracy=[0.8, 0.85, 0.9, 0.9, 0.9]))
        self._logits = logits

    def metrics(self):
        return self._metrics

    def test_logits(self):
        return self._logits


def test_student_fit_records_pair_each_student_with_its_own_teacher():
    from bannb.study.convergence import student_fit_records
    chains = {3: [FakeRun("t3", 0.10, 0.99), FakeRun("b3", 0.09, 1.0, wrong=0.01, agreement=0.95, teacher="t3"),
                  FakeRun("c3", 0.095, 1.0, wrong=0.0, agreement=0.97, teacher="b3")]}
    frame = student_fit_records(chains)
    assert frame["model"].tolist() == ["BAN-1", "BAN-2"] and frame["teacher_model"].tolist() == ["Teacher", "BAN-1"]
    assert frame["teacher"].tolist() == ["t3", "b3"]  # the teacher's run id
    assert frame["teacher_test_error"].tolist() == pytest.approx([10.0, 9.0])
    assert frame["seed"].tolist() == [3, 3] and frame["run_id"].tolist() == ["b3", "c3"]
    assert frame["difference"].tolist() == pytest.approx([-1.0, 0.5])  # student − teacher, points
    assert frame["teacher_train_accuracy"].tolist() == pytest.approx([99.0, 100.0])
    assert frame["teacher_train_targets_wrong"].tolist() == pytest.approx([1.0, 0.0])
    assert frame["test_agreement_with_teacher"].tolist() == pytest.approx([95.0, 97.0])
    assert frame["converged"].tolist() == [True, True]


def test_mass_outside_top_class():
    import torch

    from bannb.study.convergence import mass_outside_top_class
    logits = torch.tensor([[0.7, 0.2, 0.1], [1.0, 0.0, 0.0]]).log()  # softmax(log p) = p; 0 → -inf → 0
    assert mass_outside_top_class(FakeRun("r0", 0.1, logits=logits)) == pytest.approx(15.0)


def test_teacher_pairs_put_each_student_beside_its_own_teacher():
    import pandas as pd

    from bannb.study.convergence import teacher_pairs
    fit = pd.DataFrame(dict(
        chapter=["04_born_again"] * 4, model=["Teacher", "BAN-1", "BAN-2", "Teacher"], seed=[0, 0, 0, 1],
        run_id=["t0", "b1", "b2", "t1"], teacher=[math.nan, "t0", "b1", math.nan], test_error=[10.0, 9.0, 9.5, 11.0],
        train_accuracy=[99.0, 98.0, 97.0, 95.0], teacher_train_targets_wrong=[math.nan, 1.0, 2.0, math.nan],
        test_agreement_with_teacher=[math.nan, 90.0, 91.0, math.nan]))
    pairs = teacher_pairs(fit).set_index("model")
    assert list(pairs.index) == ["BAN-1", "BAN-2"]  # the teachers have no teacher
    assert pairs.loc["BAN-2", "teacher_model"] == "BAN-1" and pairs.loc["BAN-2", "teacher_train_accuracy"] == 98.0
    assert pairs.loc["BAN-1", "difference"] == pytest.approx(-1.0) and pairs.loc["BAN-2", "difference"] == pytest.approx(0.5)
    assert pairs.loc["BAN-2", "run_id"] == "b2"
    assert pairs.loc["BAN-1", "teacher_train_targets_wrong"] == 1.0


def test_unfinished_lm_teachers_names_the_steepest_teacher_still_improving():
    from bannb.study.convergence import unfinished_lm_teachers
    flat = dict(flat=True, last_fifth_change=-0.2, allowed_drop=1.0)
    assert unfinished_lm_teachers([flat, flat]) is None
    steep = dict(flat=False, last_fifth_change=-12.9, allowed_drop=1.02)
    mild = dict(flat=False, last_fifth_change=-3.0, allowed_drop=1.0)
    assert unfinished_lm_teachers([mild, flat, steep]) == (
        "2 of its 3 teachers are still improving (validation perplexity -12.9 over the last fifth, 1.0 allowed)")

