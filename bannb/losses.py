"""The paper's objectives, as plain functions of logits and as fastai-ready loss objects.

Notation as in the paper: student logits z, q = softmax(z); teacher logits t, p = softmax(t).
Every loss sums over classes per sample, then averages over the batch, so the gradient with respect
to one sample's logits is the paper's per-sample gradient divided by the batch size. (`nn.KLDivLoss`'s
default reduction also averages over classes, shrinking the distillation term by the number of
classes: a known bug in public BAN code.)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from bannb.errors import ConfigError, unknown_choice


def soft_cross_entropy(student_logits: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    """Mean over samples of −Σ_i target_i · log q_i; its gradient per sample is q − target."""
    return -(target_probs * F.log_softmax(student_logits.float(), dim=1)).sum(dim=1).mean()


def cross_entropy(student_logits, labels):
    """Ordinary cross-entropy with the labels: how teachers are trained."""
    return F.cross_entropy(student_logits.float(), labels)


def ban_loss(student_logits, teacher_logits):
    """BAN (Eq. 2): cross-entropy to the teacher's softmax at T = 1, no label term. ∂L/∂z = q − p (Eq. 5)."""
    return soft_cross_entropy(student_logits, F.softmax(teacher_logits.float(), dim=1))


def ban_label_loss(student_logits, labels, teacher_logits, label_weight: float = 0.5):
    """BAN+L: label_weight · CE(labels) + (1 − label_weight) · BAN. The paper does not give the weight."""
    return (label_weight * cross_entropy(student_logits, labels)
            + (1 - label_weight) * ban_loss(student_logits, teacher_logits))


def hinton_kd_loss(student_logits, labels, teacher_logits, temperature: float = 4.0, alpha: float = 0.9):
    """Hinton et al.'s KD, which most public "BAN" code really is: α·T²·KL(p_T ‖ q_T) + (1 − α)·CE.

    The T² keeps the soft term's gradient on the scale of the hard term's as T grows.
    """
    teacher_log_probs = F.log_softmax(teacher_logits.float() / temperature, dim=1)
    student_log_probs = F.log_softmax(student_logits.float() / temperature, dim=1)
    kl = F.kl_div(student_log_probs, teacher_log_probs, log_target=True, reduction="batchmean")
    return alpha * temperature ** 2 * kl + (1 - alpha) * cross_entropy(student_logits, labels)


def cwtm_weights(teacher_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 10's per-sample weights: the teacher's max probability, normalised to sum to one over the batch."""
    teacher_max = F.softmax(teacher_logits.float(), dim=1).max(dim=1).values
    return teacher_max / teacher_max.sum()


def cwtm_loss(student_logits, labels, teacher_logits):
    """CWTM (Eq. 10): label cross-entropy, each sample weighted by the teacher's normalised confidence.

    ∂L/∂z_s = w_s (q_s − y_s). The teacher's non-argmax outputs are not used.
    """
    per_sample = F.cross_entropy(student_logits.float(), labels, reduction="none")
    return (cwtm_weights(teacher_logits) * per_sample).sum()


def permute_non_argmax(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """DKPP's teacher (Eq. 11): the argmax probability stays put; the others are shuffled among the other
    positions, with an independent permutation per sample."""
    batch, num_classes = probs.shape
    argmax = probs.argmax(dim=1, keepdim=True)
    positions = torch.arange(num_classes, device=probs.device).expand(batch, num_classes)
    # Sorting by (is_argmax, position) lists each row's non-argmax positions in order, argmax last.
    is_argmax = positions == argmax
    other_positions = torch.sort(positions + num_classes * is_argmax, dim=1).indices[:, :-1]
    shuffle = torch.argsort(torch.rand(batch, num_classes - 1, generator=generator).to(probs.device), dim=1)
    shuffled_sources = other_positions.gather(1, shuffle)
    permuted = probs.clone()
    permuted.scatter_(1, other_positions, probs.gather(1, shuffled_sources))
    return permuted


def dkpp_loss(student_logits, teacher_logits, generator: torch.Generator | None = None):
    """DKPP (Eq. 11): BAN against the teacher's output with its non-argmax probabilities permuted per sample."""
    teacher_probs = F.softmax(teacher_logits.float(), dim=1)
    return soft_cross_entropy(student_logits, permute_non_argmax(teacher_probs, generator))


def uniform_smoothing_loss(student_logits, labels, mass: float):
    """Cross-entropy with smoothed labels: the label gets 1 − `mass`, every other class `mass` / (K − 1), so that
    the targets hold exactly `mass` outside the label, spread evenly (no structure among the classes)."""
    classes = student_logits.shape[1]
    targets = torch.full(student_logits.shape, mass / (classes - 1), dtype=torch.float32, device=student_logits.device)
    targets.scatter_(1, labels[:, None], 1 - mass)
    return soft_cross_entropy(student_logits, targets)


def mass_outside_top(logits: torch.Tensor) -> float:
    """The mean softmax probability outside the top class of `logits` (N, classes)."""
    return (1 - F.softmax(logits.double(), dim=1).max(dim=1).values).mean().item()


def gradient_terms(student_logits, teacher_logits, labels) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 7's split of each sample's BAN gradient, summed over classes, into two terms:
    the ground-truth term q_* − p_* and the dark-knowledge term Σ_{i≠*} (q_i − p_i).

    (They cancel per sample, since both distributions sum to one; the paper's point is what each carries.)
    """
    student_probs = F.softmax(student_logits.float(), dim=1)
    teacher_probs = F.softmax(teacher_logits.float(), dim=1)
    difference = student_probs - teacher_probs
    ground_truth = difference.gather(1, labels[:, None]).squeeze(1)
    return ground_truth, difference.sum(dim=1) - ground_truth


# What `gradient_deviations` calls each check; the keys of its result, in this order.
GRADIENT_CHECKS = (
    "max |b·∂L/∂z − (q − p)| (Eq. 5)",
    "max |b·∂L/∂z* − ground-truth term| (Eq. 7)",
    "max |b·Σ_{i≠*} ∂L/∂z_i − dark-knowledge term| (Eq. 7)",
    "max |ground truth + dark knowledge| (they cancel)",
)


def gradient_deviations(student_logits, teacher_logits, labels, loss=None) -> dict[str, float]:
    """The largest deviations between autograd's gradient of `loss` (default the BAN loss) at `student_logits` and
    the paper's formulas: the per-sample gradient q − p (Eq. 5), its ground-truth and dark-knowledge terms (Eq. 7),
    and the two terms' sum, which is zero. Every value is round-off (~1e-6 in float32) for the BAN loss; a loss
    that is not the BAN loss shows up as a deviation of the order of the probabilities."""
    loss = ban_loss if loss is None else loss
    z = student_logits.detach().float().clone().requires_grad_(True)
    loss(z, teacher_logits).backward()
    per_sample = len(z) * z.grad  # the loss is a batch mean
    q, p = z.detach().softmax(1), teacher_logits.float().softmax(1)
    ground_truth, dark_knowledge = gradient_terms(z.detach(), teacher_logits, labels)
    true_class = per_sample.gather(1, labels[:, None]).squeeze(1)
    values = ((per_sample - (q - p)).abs().max(), (true_class - ground_truth).abs().max(),
              (per_sample.sum(1) - true_class - dark_knowledge).abs().max(), (ground_truth + dark_knowledge).abs().max())
    return dict(zip(GRADIENT_CHECKS, (float(value) for value in values)))


class BanObjective:
    """A fastai-ready loss: called as `loss(student_logits, labels[, teacher_logits])`, with fastai's
    `activation` (softmax) and `decodes` (argmax) so that `Learner.get_preds` returns probabilities."""

    needs_teacher = True  # trains on the teacher's logits of every batch
    # measures its teacher once before training (`calibrate`, given the teacher's logits on the student's inputs)
    measures_teacher = False
    is_label_loss = False  # the plain label loss, which every run validates on
    name = ""
    random = False  # draws random numbers: takes a `seed` parameter, which `make_loss` fills with the run's seed

    def __init__(self, **params):
        self.params = params

    def state_dict(self) -> dict:
        """The loss's mutable state (its random generator's, say), for a checkpoint; empty for a deterministic loss."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what `state_dict` returned, so that a resumed run continues the same random stream."""
        if state:
            raise ConfigError(f"the {self.name!r} loss keeps no state, but a checkpoint has {sorted(state)} for it; "
                              f"the checkpoint belongs to another loss")

    def record(self) -> dict:
        """What the loss learnt before training that the run's record keeps (`final.json`); empty for most."""
        return {}

    @property
    def target_temperature(self) -> float:
        """The temperature of the teacher's softmax the student is trained to match (1 but for Hinton's KD): what
        the student's soft targets are, for `study.teaching`'s record of what it was taught."""
        return 1.0

    def __call__(self, student_logits, labels, teacher_logits=None):
        if self.needs_teacher and teacher_logits is None:
            raise ConfigError(f"the {self.name!r} loss needs a teacher: give a teacher run or checkpoint")
        return self.compute(student_logits, labels, teacher_logits)

    def activation(self, logits):
        return F.softmax(logits, dim=-1)

    def decodes(self, probs):
        return probs.argmax(dim=-1)

    def __repr__(self):
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{type(self).__name__}({params})"


class CrossEntropy(BanObjective):
    name, needs_teacher, is_label_loss = "ce", False, True

    def compute(self, student_logits, labels, teacher_logits):
        return cross_entropy(student_logits, labels)


class BAN(BanObjective):
    name = "ban"

    def compute(self, student_logits, labels, teacher_logits):
        return ban_loss(student_logits, teacher_logits)


class BANWithLabels(BanObjective):
    name = "ban+l"

    def __init__(self, label_weight: float = 0.5):
        if not 0 <= label_weight <= 1:
            raise ConfigError(f"label_weight must be in [0, 1], got {label_weight}")
        super().__init__(label_weight=label_weight)

    def compute(self, student_logits, labels, teacher_logits):
        return ban_label_loss(student_logits, labels, teacher_logits, **self.params)


class HintonKD(BanObjective):
    name = "kd"

    def __init__(self, temperature: float = 4.0, alpha: float = 0.9):
        if temperature <= 0 or not 0 <= alpha <= 1:
            raise ConfigError(f"KD needs temperature > 0 and alpha in [0, 1], got T={temperature}, alpha={alpha}")
        super().__init__(temperature=temperature, alpha=alpha)

    def compute(self, student_logits, labels, teacher_logits):
        return hinton_kd_loss(student_logits, labels, teacher_logits, **self.params)

    @property
    def target_temperature(self) -> float:
        return self.params["temperature"]


class CWTM(BanObjective):
    name = "cwtm"

    def compute(self, student_logits, labels, teacher_logits):
        return cwtm_loss(student_logits, labels, teacher_logits)


class DKPP(BanObjective):
    """Its permutations come from its own generator, seeded from its `seed` parameter: the stream is part of
    the loss's state, so a checkpoint carries it and a resumed run draws the permutations it would have drawn."""

    name, random = "dkpp", True

    def __init__(self, seed: int = 0):
        super().__init__(seed=seed)
        self.generator = torch.Generator().manual_seed(seed)

    def compute(self, student_logits, labels, teacher_logits):
        return dkpp_loss(student_logits, teacher_logits, self.generator)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != {"generator"}:
            raise ConfigError(f"a DKPP loss state holds its generator's state, got keys {sorted(state)}")
        self.generator.set_state(state["generator"])


class TeacherMassSmoothing(BanObjective):
    """A label-smoothing student (ours; the control of Yuan et al., CVPR 2020): labels smoothed uniformly by the
    teacher's mean probability outside its top class on the student's training inputs (`mass`, measured once
    before training by `calibrate` unless given). It gets its teacher's softness and none of its structure: a
    born-again student that does no better than this one has learnt nothing from which classes its teacher
    confuses."""

    name, needs_teacher, measures_teacher = "ls", False, True

    def __init__(self, mass: float | None = None):
        if mass is not None and not 0 <= mass < 1:
            raise ConfigError(f"the label-smoothing mass must be in [0, 1), got {mass}")
        super().__init__(**({} if mass is None else dict(mass=mass)))
        self.mass = mass

    def calibrate(self, teacher_logits: torch.Tensor) -> None:
        if "mass" not in self.params:  # a mass given in the config wins
            self.mass = mass_outside_top(teacher_logits)

    def record(self) -> dict:
        return dict(label_smoothing_mass=self.mass)

    def state_dict(self) -> dict:
        return {"mass": self.mass}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != {"mass"}:
            raise ConfigError(f"a label-smoothing loss state holds its mass, got keys {sorted(state)}")
        self.mass = state["mass"]

    def compute(self, student_logits, labels, teacher_logits):
        if self.mass is None:
            raise ConfigError("the 'ls' loss smooths by its teacher's mass outside the top class: give the run a "
                              "teacher (it is measured before training) or a mass (loss_params mass=…)")
        return uniform_smoothing_loss(student_logits, labels, self.mass)


LOSSES = {cls.name: cls for cls in (CrossEntropy, BAN, BANWithLabels, HintonKD, CWTM, DKPP, TeacherMassSmoothing)}


def make_loss(name: str, run_seed: int | None = None, **params) -> BanObjective:
    """A loss by name (`ce`, `ban`, `ban+l`, `kd`, `cwtm`, `dkpp`, `ls`) with its parameters.

    `run_seed` (the seed of the run it trains) seeds the losses that draw random numbers, unless `params` give
    their own `seed`; the deterministic losses ignore it."""
    if name not in LOSSES:
        raise unknown_choice("loss", name, LOSSES)
    if LOSSES[name].random and run_seed is not None:
        params = {"seed": run_seed, **params}
    try:
        return LOSSES[name](**params)
    except TypeError as err:
        raise ConfigError(f"bad parameters {params} for the {name!r} loss: {err}") from err
