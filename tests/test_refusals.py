"""Bad input and damaged run folders through the real command (`python -m bannb …`): one line on stderr, a non-zero
exit, no traceback, and nothing new in the runs folder; a damaged file of an unfinished run is repaired by running
the same command again, as `evaluate` advises."""
import json
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import torch

from bannb.cli import main
from bannb.data import fashion_mnist
from bannb.runs import lifecycle
from bannb.lm.config import LMRunConfig
from bannb.runs.store import CHECKPOINT, CONFIG, DONE, FINAL, WEIGHTS, finished_problem, mark_done
from tests.conftest import bannb_command, comparable
from tests.test_lm import SMOKE, small_corpus  # noqa: F401  (small_corpus: a fixture)
from tests.test_store import quiet, tiny

# the command line of `tiny()`'s run: the same run id
TINY = ["--profile", "smoke", "--train-size", "128", "--valid-size", "64", "--test-size", "96", "--epochs", "1",
        "--batch-size", "64", "--precision", "fp32", "--quiet"]


def run_cli(*args, env=None, user=()):
    """`python -m bannb *args` on one thread (the runs it trains are then the `finished` fixture's, to the bit)."""
    return subprocess.run([*user, *bannb_command(*args)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


def files(folder) -> dict:
    """Every file under `folder` and its bytes (what a refusal must leave as it was)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(result, message: str) -> None:
    """One line on stderr, `error: ` and `message` in it, exit status 2, no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert message in result.stderr, result.stderr


def trained(result):
    """`result`, a command that finished (exit status 0) without a traceback."""
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture(scope="module")
def finished(tmp_path_factory, fashion_mnist_available):
    """A finished tiny run (the one `TINY` names), trained once; each test copies it."""
    runs = tmp_path_factory.mktemp("finished")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    run = lifecycle.train(tiny(), runs, progress=False, log=quiet)
    torch.set_num_threads(threads)
    return run.path


def copy_of(finished, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(finished, runs / finished.name)
    return runs, runs / finished.name


# ---------------------------------------------------------------- numbers

# the cases: each through the command line's entry point (`main`, as `python -m bannb` calls it), and two
# through the real command in its own process (starting one costs seconds: a few are enough to show the exit status
# and the stderr a user sees)
BAD_NUMBERS = [
    (["train", "--seed", "100000000000000000000"], "--seed must lie between 0 and 999, got 100000000000000000000"),
    (["train", "--seed", "-5"], "--seed must lie between 0 and 999, got -5"),
    (["ban", "--seeds", "-5"], "--seeds must lie between 0 and 999, got -5"),
    (["train", "--weight-decay", "-1"], "weight_decay must be a finite number ≥ 0, got -1.0"),
    (["ban", "--weight-decay", "-1"], "weight_decay must be a finite number ≥ 0, got -1.0"),
    (["train", "--lr", "nan"], "lr must be a positive finite number, got nan"),
    (["ban", "--lr", "inf"], "lr must be a positive finite number, got inf"),
    (["ban", "--epochs", "0"], "epochs must be a positive integer, got 0"),
]


@pytest.mark.parametrize("args, message", BAD_NUMBERS)
def test_a_bad_number_is_refused_up_front_in_one_line(args, message, tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    refused(cli(*args, "--profile", "smoke", "--runs-dir", str(tmp_path / "runs"), capsys=capsys), message)
    assert not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("args, message", [BAD_NUMBERS[0], BAD_NUMBERS[6]])
def test_a_bad_number_is_refused_by_the_real_command(args, message, tmp_path):
    (tmp_path / "runs").mkdir()
    refused(run_cli(*args, "--profile", "smoke", "--runs-dir", str(tmp_path / "runs")), message)
    assert not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("option, value, message", [
    ("--epochs", "0", "epochs must be a positive integer, got 0"),
    ("--batch-size", "-3", "batch_size must be a positive integer, got -3"),
    ("--train-size", "0", "train_size must be a positive integer or None, got 0"),
    ("--valid-size", "0", "valid_size must be a positive integer, got 0"),
    ("--test-size", "0", "test_size must be a positive integer or None, got 0"),
    ("--lr", "-0.1", "lr must be a positive finite number, got -0.1"),
    ("--lr", "nan", "lr must be a positive finite number, got nan"),
    ("--weight-decay", "inf", "weight_decay must be a finite number ≥ 0, got inf"),
    ("--dropout", "1", "dropout must be a number from 0 up to (not including) 1, got 1.0"),
    ("--dropout", "-0.5", "dropout must be a number from 0 up to (not including) 1, got -0.5"),
])
@pytest.mark.parametrize("command", [["train"], ["ban", "--generations", "1"]])
def test_every_number_is_checked_the_same_way_in_train_and_ban(command, option, value, message, tmp_path, capsys):
    assert main([*command, option, value, "--profile", "smoke", "--runs-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"
    assert not any(tmp_path.iterdir())


def test_generations_are_checked_before_anything_trains(tmp_path, capsys):
    assert main(["ban", "--generations", "0", "--profile", "smoke", "--runs-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "error: generations must be a positive integer, got 0\n"
    assert not any(tmp_path.iterdir())


def test_an_unknown_loss_is_named_with_the_valid_losses(tmp_path, capsys):
    refused(cli("train", "--loss", "distill", "--profile", "smoke", "--runs-dir", str(tmp_path), capsys=capsys),
            "unknown loss 'distill'; valid losses are: ")


# ---------------------------------------------------------------- the runs folder

def test_a_runs_folder_that_is_a_file_is_refused(tmp_path, fashion_mnist_available):
    (tmp_path / "runs").write_text("not a folder")
    refused(run_cli("train", *TINY, "--runs-dir", str(tmp_path / "runs")),
            f"the runs folder {tmp_path / 'runs'} is a file, not a folder; give the runs a folder this user can "
            f"write in (--runs-dir or $BANNB_RUNS)")
    assert (tmp_path / "runs").read_text() == "not a folder"


def test_a_read_only_runs_folder_is_refused(fashion_mnist_available):
    # root writes into a read-only folder anyway: run the command as an unprivileged user then, in a folder it can
    # reach (pytest's tmp_path is root's alone)
    user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if os.geteuid() == 0 else []
    if user and shutil.which("setpriv") is None:
        pytest.fail("running as root, the test needs `setpriv` (util-linux) to run the command as another user")
    base = Path(tempfile.mkdtemp())
    try:
        base.chmod(0o755)
        runs = base / "runs"
        runs.mkdir(mode=0o555)
        home = base / "home"  # the user's own, for matplotlib's and bannb's caches
        home.mkdir()
        if user:
            nobody = pwd.getpwnam("nobody")
            os.chown(home, nobody.pw_uid, nobody.pw_gid)
        result = run_cli("train", *TINY, "--runs-dir", str(runs), user=user,
                         env=dict(HOME=str(home), BANNB_DATA=str(fashion_mnist.find_folder().parent)))
        refused(result, f"the runs folder {runs} cannot be written in (Permission denied); give the runs a folder "
                        f"this user can write in (--runs-dir or $BANNB_RUNS)")
        assert not any(runs.iterdir())
    finally:
        shutil.rmtree(base)


def test_a_refusal_leaves_no_runs_folder_where_there_was_none(tmp_path, capsys):
    runs = tmp_path / "new" / "runs"
    refused(cli("train", "--loss", "ban", "--teacher", "missing-run", "--profile", "smoke", "--runs-dir",
                str(runs), capsys=capsys), "teacher run 'missing-run' not found")
    assert not (tmp_path / "new").exists()


# ---------------------------------------------------------------- damaged run folders

def cli(*args, capsys):
    """`python -m bannb *args` through its entry point in this process: (exit status, stdout, stderr)."""
    status = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, status, out, err)


@pytest.mark.parametrize("content", [b"", b"\xff\xfe garbage", b"[]"])
def test_a_damaged_config_json_gets_one_diagnosis_and_one_advice(content, finished, tmp_path, capsys, one_thread):
    """A finished run's config.json (then an interrupted run's) emptied, garbled or replaced: `evaluate` says it in
    one line and advises running the command that trained it again; that command then trains it again, and says
    why, instead of a traceback or other advice (through the command line's entry point, in this process)."""
    runs, path = copy_of(finished, tmp_path)
    original = comparable(path)
    command = lambda *args: cli(*args, capsys=capsys)  # noqa: E731
    for interrupted in (False, True):
        (path / CONFIG).write_bytes(content)
        if interrupted:
            (path / DONE).unlink()
        before = files(runs)
        problem = finished_problem(path)
        assert problem == ("it has no done.json marker (it was interrupted or is still training)" if interrupted
                           else "config.json does not match the checksum in done.json")
        refused(command("evaluate", path.name, "--runs-dir", str(runs)),
                f"run {path} is not a finished run: {problem}; it is unfinished or corrupted: run the command that "
                f"trained it again (it resumes an interrupted run, retrains a corrupted one)")
        assert files(runs) == before
        result = trained(command("train", *TINY, "--runs-dir", str(runs)))
        diagnosis = ("is not the config hashed into the folder's name" if content == b"[]"
                     else "is unreadable")
        assert f"run {path.name}: its config.json {diagnosis}" in result.stdout
        assert finished_problem(path) is None and comparable(path) == original


def test_a_vouched_for_final_json_that_is_no_object_is_an_unfinished_run(finished, tmp_path, capsys, one_thread):
    runs, path = copy_of(finished, tmp_path)
    original = comparable(path)
    (path / FINAL).write_text("[]")
    mark_done(path)  # its checksum valid
    before = files(runs)
    refused(cli("evaluate", path.name, "--runs-dir", str(runs), capsys=capsys),
            f"run {path} is not a finished run: its final.json is not a JSON object (it holds a list); it is "
            f"unfinished or corrupted: run the command that trained it again")
    assert files(runs) == before
    result = trained(cli("train", *TINY, "--runs-dir", str(runs), capsys=capsys))
    assert f"run {path.name}: not finished (its final.json is not a JSON object (it holds a list)); training it" \
           in result.stdout
    assert finished_problem(path) is None and comparable(path) == original


def test_a_checkpoint_that_is_no_run_s_checkpoint_starts_the_run_over(finished, tmp_path, capsys, one_thread):
    runs, path = copy_of(finished, tmp_path)
    original = comparable(path)
    (path / DONE).unlink()
    torch.save([], path / CHECKPOINT)
    result = trained(cli("train", *TINY, "--runs-dir", str(runs), capsys=capsys))
    assert (f"run {path.name}: checkpoint unreadable (not a run's checkpoint: it lacks epoch, model, opt, rng); "
            f"starting over") in result.stdout
    assert finished_problem(path) is None and comparable(path) == original


def test_a_weights_restore_leaves_no_scratch_folder(finished, tmp_path, capsys, one_thread):
    """A student of a teacher recorded without its weights (as committed): the teacher is trained again for them,
    in a scratch folder that goes once it is done."""
    runs, path = copy_of(finished, tmp_path)
    (path / WEIGHTS).unlink()
    mark_done(path)
    result = trained(cli("train", *TINY, "--loss", "ban", "--teacher", path.name, "--runs-dir", str(runs),
                         capsys=capsys))
    assert f"run {path.name}: weights restored" in result.stdout
    names = sorted(p.name for p in runs.iterdir())
    assert len(names) == 2 and path.name in names and ".restore" not in names


# ---------------------------------------------------------------- data

def test_a_fashion_mnist_folder_missing_a_file_is_refused_not_replaced(tmp_path, fashion_mnist_available):
    """$BANNB_DATA/fashion-mnist with three of its four files: refused, as the corpus's folder is, rather than read
    from the system's copy."""
    folder = tmp_path / "data" / "fashion-mnist"
    shutil.copytree(fashion_mnist.find_folder(), folder)
    (missing,) = [p for p in folder.iterdir() if p.name.startswith("t10k-labels")]
    missing.unlink()
    (tmp_path / "runs").mkdir()
    env = dict(BANNB_DATA=str(tmp_path / "data"))
    message = (f"the Fashion-MNIST folder {folder} lacks t10k-labels-idx1-ubyte (as it is, the data would come from "
               f"elsewhere); put the missing files into it, or remove it to use ")
    refused(run_cli("data", env=env), message)
    refused(run_cli("train", *TINY, "--runs-dir", str(tmp_path / "runs"), env=env), message)
    assert not any((tmp_path / "runs").iterdir())


def test_a_corpus_too_short_for_the_batch_is_refused_before_anything_is_written(small_corpus):  # noqa: F811
    """A language-model run whose training stream cannot fill its batch's rows: refused before its folder (or the
    runs folder) exists. Language models have no command of their own; `lifecycle.train` is what the book calls."""
    from bannb.errors import ConfigError
    config = LMRunConfig(**dict(SMOKE, train_tokens=20, batch_size=16))
    runs = small_corpus / "runs"
    with pytest.raises(ConfigError, match=rf"^the train stream of run {config.run_id} \(20 tokens\) is too short "
                                          r"for 16 rows of at least 2 tokens; use a smaller batch or more tokens$"):
        lifecycle.train(config, runs, log=quiet)
    assert not runs.exists()
