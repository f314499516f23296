"""The paper profile: its recipe, and a real (tiny) training run through the CIFAR-100 loader."""
import numpy as np

from bannb.data import load_dataset
from bannb.runs import lifecycle
from bannb.study.profiles import make_config
from tests.test_cifar import write_cifar100_pickles


def test_paper_profile_is_the_wide_resnet_recipe_on_cifar100():
    config = make_config("paper", arch="wrn-28-10", device="cpu", precision="fp32")
    assert (config.dataset, config.epochs, config.batch_size, config.lr, config.momentum) == ("cifar100", 200, 128, 0.1, 0.9)
    assert (config.weight_decay, config.milestones, config.gamma) == (5e-4, (0.3, 0.6, 0.8), 0.2)  # 60/120/160 of 200
    assert config.dropout == 0.3  # dropout in Wide-ResNets only
    assert make_config("paper", device="cpu", precision="fp32").arch == "densenet-bc-90-60"
    assert make_config("paper", arch="densenet-bc-40-12", device="cpu", precision="fp32").dropout == 0.0


def test_training_on_cifar100_files(tmp_path, monkeypatch):
    """The whole path on files in the official CIFAR-100 layout (tiny: this machine cannot download the real one)."""
    monkeypatch.setenv("BANNB_DATA", str(tmp_path / "data"))
    load_dataset.cache_clear()
    write_cifar100_pickles(tmp_path / "data", np.random.default_rng(0), train_size=96, test_size=40)
    try:
        config = make_config("paper", arch="wrn-10-1", epochs=1, batch_size=16, valid_size=32, device="cpu",
                             precision="fp32")
        run = lifecycle.train(config, tmp_path / "runs", progress=False)
    finally:
        load_dataset.cache_clear()
    assert run.final["parameters"] > 0 and run.test_logits().shape == (40, 100)
    assert run.metrics()["train_samples"].tolist() == [64]  # 96 - 32 held out, whole batches of 16
