"""What a student is taught (`study.teaching`): exact values on logits whose softmax is known."""
import math

import pytest
import torch

from bannb.study.teaching import (
    agreement_with_others,
    dark_knowledge,
    fidelity,
    right_and_wrong,
    targets_wrong,
    taught_means,
    taught_record,
)


def logits_of(probs):
    return torch.tensor(probs, dtype=torch.float64).log()


def test_dark_knowledge_of_uniform_and_of_certain_outputs():
    uniform = dark_knowledge(torch.zeros(4, 10))
    assert uniform["mass_outside_top"] == pytest.approx(0.9) and uniform["entropy"] == pytest.approx(math.log(10))
    certain = dark_knowledge(torch.tensor([[50.0, 0.0, 0.0], [0.0, 0.0, 50.0]]))
    assert certain["mass_outside_top"] == pytest.approx(0.0, abs=1e-12)
    assert certain["entropy"] == pytest.approx(0.0, abs=1e-12)


def test_dark_knowledge_is_the_mean_over_rows():
    found = dark_knowledge(logits_of([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0 + 1e-300]]))
    assert found["mass_outside_top"] == pytest.approx((0.3 + 0.5) / 2)
    entropy = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1)) / 2 + math.log(2) / 2
    assert found["entropy"] == pytest.approx(entropy, rel=1e-9)


def test_targets_wrong_and_the_named_record():
    teacher = logits_of([[0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1]])
    labels = torch.tensor([0, 1, 1, 1])
    assert targets_wrong(teacher, labels) == 0.5
    record = taught_record(teacher, labels, "seen")
    assert set(record) == {"teacher_mass_outside_top_seen", "teacher_entropy_seen", "teacher_targets_wrong_seen",
                           "teacher_mass_outside_top_right_seen", "teacher_mass_outside_top_wrong_seen"}
    assert record["teacher_mass_outside_top_seen"] == pytest.approx((0.4 + 0.2 + 0.4 + 0.5) / 4)
    # rows 0 and 1 are right (mass 0.4, 0.2), rows 2 and 3 wrong (0.4, 0.5)
    assert record["teacher_mass_outside_top_right_seen"] == pytest.approx(0.3)
    assert record["teacher_mass_outside_top_wrong_seen"] == pytest.approx(0.45)


def test_dark_knowledge_apart_from_mistakes():
    teacher = logits_of([[0.7, 0.2, 0.1], [0.1, 0.9, 0.0 + 1e-300], [0.5, 0.25, 0.25]])
    labels = torch.tensor([0, 1, 2])  # the last row's top class (0) is wrong
    split = right_and_wrong(teacher, labels)
    assert split == {"right": pytest.approx((0.3 + 0.1) / 2), "wrong": pytest.approx(0.5)}
    # the total is the two parts weighted by the shares of right and wrong rows
    wrong = targets_wrong(teacher, labels)
    total = dark_knowledge(teacher)["mass_outside_top"]
    assert total == pytest.approx((1 - wrong) * split["right"] + wrong * split["wrong"])
    # a teacher without mistakes has no wrong rows to average (null in the record), nor one without a right row
    assert right_and_wrong(teacher[:2], labels[:2]) == {"right": pytest.approx(0.2), "wrong": None}
    assert right_and_wrong(teacher[2:], labels[2:]) == {"right": None, "wrong": pytest.approx(0.5)}


def test_taught_means_read_records_without_the_split_as_nan():
    import pandas as pd
    old = pd.DataFrame({"teacher_mass_outside_top_seen": [0.1, 0.3], "teacher_mass_outside_top_clean": [0.1, 0.1],
                        "teacher_entropy_seen": [0.2, 0.4], "teacher_targets_wrong_seen": [0.05, 0.15],
                        "test_agreement_with_teacher": [0.9, 0.8], "test_kl_teacher_student": [0.1, 0.3]})
    means = taught_means(old)
    assert means["mass_seen"] == pytest.approx(20.0) and means["targets_wrong_seen"] == pytest.approx(10.0)
    assert math.isnan(means["mass_right_seen"]) and math.isnan(means["mass_wrong_seen"])
    new = old.assign(teacher_mass_outside_top_right_seen=[0.08, 0.2], teacher_mass_outside_top_wrong_seen=[0.5, 0.8])
    assert taught_means(new)["mass_right_seen"] == pytest.approx(14.0)
    assert taught_means(new)["mass_wrong_seen"] == pytest.approx(65.0)


def test_fidelity_kl_is_zero_for_the_same_outputs_and_matches_the_formula():
    teacher = logits_of([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4]])
    assert fidelity(teacher, teacher + 5.0) == {"agreement": 1.0, "kl": pytest.approx(0.0, abs=1e-12)}
    student = logits_of([[0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])
    kl_row = 0.7 * math.log(0.7 / 0.2) + 0.2 * math.log(0.2 / 0.7)
    found = fidelity(teacher, student)
    assert found["agreement"] == 0.5 and found["kl"] == pytest.approx(kl_row / 2, rel=1e-9)
    assert fidelity(student, teacher)["kl"] == pytest.approx(kl_row / 2, rel=1e-9)  # symmetric for a swap of two


def test_agreement_with_other_models_is_their_mean():
    student = logits_of([[0.6, 0.4], [0.4, 0.6], [0.6, 0.4], [0.6, 0.4]])
    same = student.clone()
    flipped = -student
    assert agreement_with_others(student, [same, flipped]) == pytest.approx(0.5)
    assert math.isnan(agreement_with_others(student, []))


def test_a_students_record_says_what_it_was_taught_and_how_much_it_took(fashion_mnist_available, tmp_path):
    """A real smoke teacher and its BAN student (pad-crop-flip): the student's final.json has the item-1 numbers,
    the clean ones and those of the augmented views it saw, and its test KL is what the stored predictions give."""
    from bannb.runs.plan import train
    from bannb.study.generations import chain_configs
    from tests.conftest import smoke_config
    base = smoke_config(train_size=256, valid_size=64, test_size=128, epochs=1, augment=True)
    teacher_config, student_config = chain_configs(base, 1)
    teacher, student = (train(config, tmp_path, log=lambda line: None) for config in (teacher_config, student_config))
    final = student.final
    for where in ("clean", "seen"):
        assert 0 < final[f"teacher_mass_outside_top_{where}"] < 0.9
        assert 0 < final[f"teacher_entropy_{where}"] <= math.log(10)
        assert 0 <= final[f"teacher_targets_wrong_{where}"] <= 1
        # dark knowledge apart from mistakes: the two parts, weighted by the shares of right and wrong targets
        wrong, right_mass, wrong_mass = (final[f"teacher_{name}_{where}"] for name in (
            "targets_wrong", "mass_outside_top_right", "mass_outside_top_wrong"))
        assert final[f"teacher_mass_outside_top_{where}"] == pytest.approx(
            (1 - wrong) * (right_mass or 0) + wrong * (wrong_mass or 0))
    assert final["teacher_targets_wrong_clean"] == final["teacher_train_targets_wrong"]
    stored = fidelity(teacher.test_logits().float(), student.test_logits().float())
    assert final["test_agreement_with_teacher"] == pytest.approx(stored["agreement"], abs=2 / 128)
    assert final["test_kl_teacher_student"] == pytest.approx(stored["kl"], rel=0.05, abs=1e-3)
    assert "teacher_mass_outside_top_clean" not in teacher.final  # a teacher has no teacher



def test_taught_facts_average_what_a_models_students_were_given_and_took():
    import pandas as pd

    from bannb.facts import taught_facts
    records = pd.DataFrame({
        "model": ["Teacher", "BAN-1", "BAN-1", "CWTM"],
        "teacher_mass_outside_top_seen": [float("nan"), 0.02, 0.04, 0.5],
        "teacher_mass_outside_top_clean": [float("nan"), 0.01, 0.03, 0.4],
        "teacher_entropy_seen": [float("nan"), 0.1, 0.2, 1.0],
        "teacher_targets_wrong_seen": [float("nan"), 0.001, 0.003, 0.5],
        "test_agreement_with_teacher": [float("nan"), 0.90, 0.92, 0.5],
        "test_kl_teacher_student": [float("nan"), 0.2, 0.4, 9.0]})
    facts = taught_facts(records)
    assert facts["taught_n"] == 2
    assert facts["taught_mass"] == pytest.approx(3.0) and facts["taught_top"] == pytest.approx(97.0)
    assert facts["taught_unsure_bound"] == pytest.approx(6.0)
    assert facts["taught_entropy"] == pytest.approx(0.15) and facts["taught_wrong"] == pytest.approx(0.2)
    assert facts["inherited_agreement"] == pytest.approx(91.0) and facts["inherited_kl"] == pytest.approx(0.3)
    assert taught_facts(records, "CWTM")["taught_mass"] == pytest.approx(50.0)
    assert taught_facts(records, "CWTM")["taught_unsure_bound"] == 100.0  # a bound, never above all of them
    with pytest.raises(ValueError, match="no runs of 'DKPP'"):
        taught_facts(records, "DKPP")


def test_fidelity_kl_runs_from_the_teacher_to_the_student():
    """KL(teacher ‖ student), not the other way: an asymmetric pair tells the two apart (0.1838 against 0.1920)."""
    teacher, student = torch.tensor([[0.7, 0.2, 0.1]]).log(), torch.tensor([[0.4, 0.4, 0.2]]).log()
    teacher_to_student = 0.7 * math.log(0.7 / 0.4) + 0.2 * math.log(0.2 / 0.4) + 0.1 * math.log(0.1 / 0.2)
    assert teacher_to_student == pytest.approx(0.1838, abs=1e-4)
    assert fidelity(teacher, student)["kl"] == pytest.approx(teacher_to_student, rel=1e-6)
    assert fidelity(student, teacher)["kl"] == pytest.approx(0.1920, abs=1e-4)  # the roles swapped
