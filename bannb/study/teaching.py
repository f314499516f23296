"""What a student is taught, and how much of its teacher it inherits: measures on logits.

A born-again student trains on its teacher's softmax outputs. What it can learn beyond the labels is the teacher's
probability mass outside its top class ("dark knowledge") and the spread of it (entropy), on the inputs the student
actually trains on; what it inherits shows in how often it agrees with its own teacher and how far apart their
outputs are (KL(teacher ‖ student)), beside how often it agrees with other teachers of the same regime (the
baseline for "inherited"). The mass outside the top class is also split by whether the top class is right: on
the right rows it is what the teacher knows beyond the labels; on the wrong rows the student is taught a mistake.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def dark_knowledge(teacher_logits: torch.Tensor) -> dict:
    """The teacher's mean probability outside its top class and mean entropy (nats) over the rows of
    `teacher_logits` (N, classes)."""
    log_probs = F.log_softmax(teacher_logits.double(), dim=1)
    probs = log_probs.exp()
    return dict(mass_outside_top=(1 - probs.max(dim=1).values).mean().item(),
                entropy=-(probs * log_probs).sum(dim=1).mean().item())


def targets_wrong(teacher_logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of the teacher's targets whose top class is not the label."""
    return (teacher_logits.argmax(dim=1) != labels).double().mean().item()


def right_and_wrong(teacher_logits: torch.Tensor, labels: torch.Tensor) -> dict:
    """The teacher's mean probability outside its top class over the rows whose top class is the label (`right`:
    its dark knowledge, apart from its mistakes) and over the rows whose top class is not (`wrong`); None where
    there is no such row. With w the share of wrong rows (`targets_wrong`), the total mass outside the top class
    (`dark_knowledge`) is (1 − w)·right + w·wrong."""
    probs = F.softmax(teacher_logits.double(), dim=1)
    outside = 1 - probs.max(dim=1).values
    correct = probs.argmax(dim=1) == labels
    return {name: outside[rows].mean().item() if rows.any() else None
            for name, rows in (("right", correct), ("wrong", ~correct))}


def fidelity(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> dict:
    """How much of its teacher a student inherits, on the same inputs: top-1 agreement and the mean
    KL(teacher ‖ student) in nats."""
    teacher_log_probs = F.log_softmax(teacher_logits.double(), dim=1)
    student_log_probs = F.log_softmax(student_logits.double(), dim=1)
    kl = (teacher_log_probs.exp() * (teacher_log_probs - student_log_probs)).sum(dim=1).mean().item()
    return dict(agreement=(teacher_logits.argmax(dim=1) == student_logits.argmax(dim=1)).double().mean().item(),
                kl=kl)


def agreement_with_others(student_logits: torch.Tensor, others: list[torch.Tensor]) -> float:
    """The student's mean top-1 agreement with other models of its regime (teachers it did not learn from): what
    its agreement with its own teacher is to be compared with; NaN without others."""
    if not others:
        return float("nan")
    top = student_logits.argmax(dim=1)
    return sum((top == other.argmax(dim=1)).double().mean().item() for other in others) / len(others)


def taught_record(teacher_logits: torch.Tensor, labels: torch.Tensor, where: str) -> dict:
    """What a teacher's targets on one set of inputs teach, named for the record: e.g. where="clean" gives
    teacher_mass_outside_top_clean, teacher_entropy_clean, teacher_targets_wrong_clean, and the mass outside the
    top class on the rows whose top class is right and on those whose top class is wrong
    (teacher_mass_outside_top_right_clean, teacher_mass_outside_top_wrong_clean: `right_and_wrong`; null where
    there is no such row)."""
    knowledge = dark_knowledge(teacher_logits)
    split = right_and_wrong(teacher_logits, labels)
    return {f"teacher_mass_outside_top_{where}": knowledge["mass_outside_top"],
            f"teacher_entropy_{where}": knowledge["entropy"],
            f"teacher_targets_wrong_{where}": targets_wrong(teacher_logits, labels),
            f"teacher_mass_outside_top_right_{where}": split["right"],
            f"teacher_mass_outside_top_wrong_{where}": split["wrong"]}


def _mean(students, field: str) -> float:
    """The mean of a recorded field over `students`, NaN where the records lack it (runs recorded before it was)."""
    return students[field].mean() if field in students else math.nan


def taught_means(students) -> dict:
    """What a group of student runs was taught and took, as means over their records (a DataFrame with the fields
    `taught_record` and `fidelity` write to `final.json`): the teacher's mass outside its top class on the views the
    students trained on (`mass_seen`) and on the clean images (`mass_clean`), the same mass on the views whose top
    class is right (`mass_right_seen`: dark knowledge apart from mistakes) and on those whose top class is wrong
    (`mass_wrong_seen`), its entropy on those views (nats), the share of those targets whose top class is wrong,
    and the students' top-1 agreement with their own teacher and KL(teacher ‖ student) (nats) on the test set;
    shares in %, NaN for a field the records lack. The map's cell table and the chapters' prose read these."""
    return dict(mass_seen=100 * _mean(students, "teacher_mass_outside_top_seen"),
                mass_clean=100 * _mean(students, "teacher_mass_outside_top_clean"),
                mass_right_seen=100 * _mean(students, "teacher_mass_outside_top_right_seen"),
                mass_wrong_seen=100 * _mean(students, "teacher_mass_outside_top_wrong_seen"),
                entropy_seen=_mean(students, "teacher_entropy_seen"),
                targets_wrong_seen=100 * _mean(students, "teacher_targets_wrong_seen"),
                agreement=100 * _mean(students, "test_agreement_with_teacher"),
                kl=_mean(students, "test_kl_teacher_student"))
