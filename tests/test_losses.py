"""The losses' gradients against the paper's analytical forms (§3.2, Eq. 5–11)."""
import pytest
import torch
import torch.nn.functional as F

from bannb.errors import ConfigError
from bannb.losses import (
    LOSSES,
    ban_label_loss,
    ban_loss,
    cross_entropy,
    cwtm_loss,
    cwtm_weights,
    dkpp_loss,
    gradient_deviations,
    gradient_terms,
    hinton_kd_loss,
    make_loss,
    permute_non_argmax,
    uniform_smoothing_loss,
)

BATCH, CLASSES = 16, 10


@pytest.fixture
def logits():
    generator = torch.Generator().manual_seed(0)
    student = torch.randn(BATCH, CLASSES, generator=generator, dtype=torch.float64) * 2
    teacher = torch.randn(BATCH, CLASSES, generator=generator, dtype=torch.float64) * 3
    labels = torch.randint(0, CLASSES, (BATCH,), generator=generator)
    return student, teacher, labels


def grad_of(loss_fn, student):
    student = student.clone().requires_grad_(True)
    loss_fn(student).backward()
    return student.grad.float()  # the losses compute in float32 whatever the input dtype


def test_ban_gradient_is_q_minus_p(logits):
    student, teacher, _ = logits
    grad = grad_of(lambda z: ban_loss(z, teacher), student)
    expected = (F.softmax(student, 1) - F.softmax(teacher, 1)) / BATCH  # Eq. 5, averaged over the batch
    torch.testing.assert_close(grad, expected.float(), rtol=1e-5, atol=1e-7)


def test_ban_with_one_hot_teacher_is_cross_entropy(logits):
    student, _, labels = logits
    one_hot_logits = F.one_hot(labels, CLASSES).double() * 1e4  # softmax is exactly one-hot
    grad = grad_of(lambda z: ban_loss(z, one_hot_logits), student)
    expected = (F.softmax(student, 1) - F.one_hot(labels, CLASSES)) / BATCH  # Eq. 6
    torch.testing.assert_close(grad, expected.float(), rtol=1e-5, atol=1e-7)
    assert ban_loss(student, one_hot_logits).item() == pytest.approx(cross_entropy(student, labels).item(), rel=1e-5)


def test_gradient_terms_split_the_autograd_gradient(logits):
    student, teacher, labels = logits
    grad = grad_of(lambda z: ban_loss(z, teacher), student) * BATCH  # per-sample gradient
    ground_truth, dark_knowledge = gradient_terms(student, teacher, labels)
    torch.testing.assert_close(ground_truth, grad.gather(1, labels[:, None]).squeeze(1), rtol=1e-5, atol=1e-6)
    others = grad.sum(1) - grad.gather(1, labels[:, None]).squeeze(1)
    torch.testing.assert_close(dark_knowledge, others, rtol=1e-5, atol=1e-6)
    # both distributions sum to one, so the two terms cancel per sample (Eq. 7 sums to zero)
    torch.testing.assert_close(ground_truth + dark_knowledge, torch.zeros(BATCH), atol=1e-6, rtol=0)
    # the ground-truth term is q_* − p_*: the teacher's confidence on the true class weights the label (Eq. 8–9)
    q_true = F.softmax(student, 1).gather(1, labels[:, None]).squeeze(1)
    p_true = F.softmax(teacher, 1).gather(1, labels[:, None]).squeeze(1)
    torch.testing.assert_close(ground_truth, (q_true - p_true).float())



def test_gradient_deviations_are_round_off_for_ban_and_not_for_another_loss(logits):
    student, teacher, labels = logits
    deviations = gradient_deviations(student, teacher, labels)
    assert len(deviations) == 4 and all(value < 1e-5 for value in deviations.values()), deviations
    # matching at temperature 2 has the gradient (q_T − p_T) / T, not Eq. 5's q − p: the first check must see it
    wrong = gradient_deviations(student, teacher, labels, loss=lambda z, t: ban_loss(z / 2, t / 2))
    assert wrong["max |b·∂L/∂z − (q − p)| (Eq. 5)"] > 1e-2


def test_cwtm_weights_and_gradient(logits):
    student, teacher, labels = logits
    weights = cwtm_weights(teacher)
    teacher_max = F.softmax(teacher, 1).max(1).values
    torch.testing.assert_close(weights, (teacher_max / teacher_max.sum()).float())
    assert weights.sum().item() == pytest.approx(1.0)
    grad = grad_of(lambda z: cwtm_loss(z, labels, teacher), student)
    expected = weights.double()[:, None] * (F.softmax(student, 1) - F.one_hot(labels, CLASSES))  # Eq. 10
    torch.testing.assert_close(grad, expected.float(), rtol=1e-5, atol=1e-7)


def test_cwtm_with_equal_confidence_is_cross_entropy(logits):
    student, _, labels = logits
    uniform_confidence = torch.zeros(BATCH, CLASSES)
    assert cwtm_loss(student, labels, uniform_confidence).item() == pytest.approx(cross_entropy(student, labels).item(), rel=1e-6)


def test_dkpp_keeps_argmax_and_the_multiset_of_the_others(logits):
    _, teacher, _ = logits
    probs = F.softmax(teacher, 1)
    permuted = permute_non_argmax(probs, torch.Generator().manual_seed(1))
    argmax = probs.argmax(1)
    assert torch.equal(permuted.argmax(1), argmax)
    assert torch.equal(permuted.gather(1, argmax[:, None]), probs.gather(1, argmax[:, None]))
    torch.testing.assert_close(permuted.sort(1).values, probs.sort(1).values, rtol=0, atol=0)
    moved = (permuted != probs).any(1)
    assert moved.sum() >= BATCH - 1, "almost every row should be permuted"
    # drawn per sample: the rank pattern of the non-argmax entries differs between rows
    patterns = {tuple(row.argsort().tolist()) for row in permuted}
    assert len(patterns) > BATCH // 2


def test_dkpp_gradient_is_q_minus_permuted_p(logits):
    student, teacher, _ = logits
    grad = grad_of(lambda z: dkpp_loss(z, teacher, torch.Generator().manual_seed(3)), student)
    permuted = permute_non_argmax(F.softmax(teacher.float(), 1), torch.Generator().manual_seed(3))
    torch.testing.assert_close(grad, (F.softmax(student, 1) - permuted.double()).float() / BATCH, rtol=1e-5, atol=1e-7)


def test_dkpp_permutation_is_uniform_over_positions():
    probs = torch.tensor([[0.5, 0.3, 0.1, 0.06, 0.04]]).repeat(4000, 1)
    permuted = permute_non_argmax(probs, torch.Generator().manual_seed(0))
    # 0.3 lands on each of the four non-argmax positions about equally often
    counts = (permuted == 0.3).float().sum(0)
    assert counts[0] == 0
    assert torch.all((counts[1:] / 4000 - 0.25).abs() < 0.03)


def test_hinton_kd_gradient_has_temperature_scaling(logits):
    student, teacher, labels = logits
    temperature, alpha = 4.0, 0.7
    grad = grad_of(lambda z: hinton_kd_loss(z, labels, teacher, temperature, alpha), student)
    soft = alpha * temperature * (F.softmax(student / temperature, 1) - F.softmax(teacher / temperature, 1))
    hard = (1 - alpha) * (F.softmax(student, 1) - F.one_hot(labels, CLASSES))
    torch.testing.assert_close(grad, ((soft + hard) / BATCH).float(), rtol=1e-5, atol=1e-7)


def test_the_maps_kd_student_learns_the_softened_teacher_alone(logits):
    """The map's "KD T=4" student (`regimes.MAP_STUDENTS`): Hinton's loss with no label term, T² scaled, whose
    per-sample gradient is T·(q_T − p_T) whatever the labels."""
    from bannb.study.regimes import MAP_STUDENTS
    student, teacher, labels = logits
    kd = MAP_STUDENTS["kd-t4"]
    loss = make_loss(kd.loss, **kd.params)
    temperature = kd.params["temperature"]
    assert temperature == 4.0
    grad = grad_of(lambda z: loss(z, labels, teacher), student)
    expected = temperature * (F.softmax(student / temperature, 1) - F.softmax(teacher / temperature, 1)) / BATCH
    torch.testing.assert_close(grad, expected.float(), rtol=1e-5, atol=1e-7)
    other_labels = (labels + 1) % CLASSES
    assert loss(student, other_labels, teacher).item() == loss(student, labels, teacher).item()


def test_kd_uses_batchmean_not_class_mean(logits):
    student, teacher, labels = logits
    kl = F.kl_div(F.log_softmax(student, 1), F.log_softmax(teacher, 1), log_target=True, reduction="sum") / BATCH
    assert hinton_kd_loss(student, labels, teacher, 1.0, 1.0).item() == pytest.approx(kl.item(), rel=1e-5)


def test_ban_plus_labels_interpolates(logits):
    student, teacher, labels = logits
    assert ban_label_loss(student, labels, teacher, 0.0).item() == pytest.approx(ban_loss(student, teacher).item())
    assert ban_label_loss(student, labels, teacher, 1.0).item() == pytest.approx(cross_entropy(student, labels).item())


def test_fastai_objectives_by_name(logits):
    student, teacher, labels = logits
    assert set(LOSSES) == {"ce", "ban", "ban+l", "kd", "cwtm", "dkpp", "ls"}
    assert make_loss("ban")(student, labels, teacher).item() == pytest.approx(ban_loss(student, teacher).item())
    assert make_loss("ce")(student, labels).item() == pytest.approx(cross_entropy(student, labels).item())
    probs = make_loss("ban").activation(student)
    torch.testing.assert_close(probs.sum(1), torch.ones(BATCH, dtype=probs.dtype))
    with pytest.raises(ConfigError, match="needs a teacher"):
        make_loss("cwtm")(student, labels)


def test_unknown_loss_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="ban, ban\\+l, ce, cwtm, dkpp, kd, ls"):
        make_loss("distill")
    with pytest.raises(ConfigError, match="label_weight"):
        make_loss("ban+l", label_weight=2)


# ---------------------------------------------------------------- a loss's own state (for checkpoints)

def test_dkpp_stream_continues_identically_after_a_state_round_trip(logits):
    student, teacher, labels = logits
    original = make_loss("dkpp", run_seed=5)
    original(student, labels, teacher)  # advance the stream past its start
    state = original.state_dict()
    restored = make_loss("dkpp", run_seed=123)  # another stream, until the state is loaded
    assert restored(student, labels, teacher).item() != original(student, labels, teacher).item()
    restored.load_state_dict(state)
    original.load_state_dict(state)
    for _ in range(3):  # the same permutations, batch after batch
        assert restored(student, labels, teacher).item() == original(student, labels, teacher).item()
    assert torch.equal(restored.generator.get_state(), original.generator.get_state())


def test_dkpp_is_seeded_by_the_run_seed_unless_its_params_give_one(logits):
    student, teacher, labels = logits
    assert make_loss("dkpp", run_seed=7).params == {"seed": 7}
    assert make_loss("dkpp", run_seed=7, seed=2).params == {"seed": 2}  # an explicit loss parameter wins
    same = [make_loss("dkpp", run_seed=7)(student, labels, teacher).item() for _ in range(2)]
    assert same[0] == same[1] != make_loss("dkpp", run_seed=8)(student, labels, teacher).item()


@pytest.mark.parametrize("name", ["ce", "ban", "ban+l", "kd", "cwtm"])
def test_deterministic_losses_have_empty_state_and_ignore_the_seed(name, logits):
    loss = make_loss(name, run_seed=7)
    assert loss.state_dict() == {} and "seed" not in loss.params
    loss.load_state_dict({})
    with pytest.raises(ConfigError, match="keeps no state"):
        loss.load_state_dict(make_loss("dkpp").state_dict())


def test_label_smoothing_gradient_is_q_minus_the_smoothed_labels(logits):
    student, teacher, labels = logits
    mass = 0.2
    grad = grad_of(lambda z: uniform_smoothing_loss(z, labels, mass), student)
    targets = torch.full((BATCH, CLASSES), mass / (CLASSES - 1), dtype=torch.float64)
    targets[torch.arange(BATCH), labels] = 1 - mass  # exactly `mass` outside the label, spread evenly
    expected = (F.softmax(student, 1) - targets) / BATCH
    torch.testing.assert_close(grad, expected.float(), rtol=1e-5, atol=1e-7)
    assert uniform_smoothing_loss(student, labels, 0.0).item() == pytest.approx(cross_entropy(student, labels).item(),
                                                                                 rel=1e-6)


def test_label_smoothing_takes_its_mass_from_the_teacher_unless_given(logits):
    student, teacher, labels = logits
    loss = make_loss("ls")
    assert not loss.needs_teacher and loss.measures_teacher and not loss.is_label_loss
    with pytest.raises(ConfigError, match="teacher"):
        loss(student, labels)  # not calibrated: no mass to smooth by
    loss.calibrate(teacher)
    expected_mass = (1 - F.softmax(teacher, 1).max(dim=1).values).mean().item()
    assert loss.mass == pytest.approx(expected_mass) and loss.record() == {"label_smoothing_mass": loss.mass}
    assert loss(student, labels).item() == pytest.approx(uniform_smoothing_loss(student, labels, expected_mass).item())
    resumed = make_loss("ls")
    resumed.load_state_dict(loss.state_dict())  # a resumed run smooths by the mass it started with
    assert resumed.mass == loss.mass
    given = make_loss("ls", mass=0.1)
    given.calibrate(teacher)  # a mass in the config wins over the measurement
    assert given.mass == 0.1
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        make_loss("ls", mass=1.0)


def test_a_students_targets_are_the_teachers_softmax_at_its_losss_temperature():
    """What `study.teaching` records as the targets a student was trained on: the teacher's softmax at T = 1 for every
    loss but Hinton's KD, whose targets are at its temperature."""
    from bannb.losses import make_loss
    assert make_loss("kd", temperature=4.0, alpha=1.0).target_temperature == 4.0
    assert {name: make_loss(name).target_temperature for name in ("ban", "cwtm", "ce")} == {"ban": 1.0, "cwtm": 1.0,
                                                                                            "ce": 1.0}
