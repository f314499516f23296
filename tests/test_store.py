"""The run store's repairs (issue 20): a malformed done.json, and what `evaluate` says of a run that is not
finished."""
from bannb.cli import main
from bannb.image.training import train_run
from bannb.runs.store import DONE, WEIGHTS, finished_problem, weights_problem
from tests.conftest import comparable, smoke_config

quiet = lambda *_: None  # noqa: E731


def tiny(**overrides):
    return smoke_config(**dict(dict(train_size=128, valid_size=64, test_size=96, epochs=1, batch_size=64), **overrides))


# ---------------------------------------------------------------- a malformed done.json

MALFORMED = [
    ("[]", "its done.json is malformed (not an object with a \"sha256\" object of file names and checksums)"),
    ('{"sha256": null}', "its done.json is malformed (not an object with a \"sha256\" object of file names and "
                         "checksums)"),
    ('{"sha256": {"config.json": 1}}', "its done.json is malformed (not an object with a \"sha256\" object of file "
                                       "names and checksums)"),
    ('{"sha256": {"../../elsewhere": "0"}}', "its done.json lists files that are no part of a run's result "
                                             "('../../elsewhere')"),
    ("{not json", "its done.json is unreadable (JSONDecodeError: Expecting property name enclosed in double quotes: "
                  "line 1 column 2 (char 1))"),
]


def test_a_malformed_done_json_is_an_unfinished_run_that_train_trains_again(tmp_path, capsys, one_thread,
                                                                             fashion_mnist_available):
    run = train_run(tiny(), tmp_path, progress=False, log=quiet)
    original = comparable(run.path)
    for content, problem in MALFORMED:
        (run.path / DONE).write_text(content)
        assert finished_problem(run.path) == problem
        assert weights_problem(run.path) == f"it is not a finished run ({problem})"
        # evaluate names the run itself as unfinished or corrupted, in one line, with a non-zero exit
        assert main(["evaluate", run.run_id, "--runs-dir", str(tmp_path)]) == 2
        error = capsys.readouterr().err
        assert error == (f"error: run {run.path} is not a finished run: {problem}; it is unfinished or corrupted: "
                         f"run the command that trained it again (it resumes an interrupted run, retrains a "
                         f"corrupted one)\n")
        # train trains it again, as any unfinished run, to the same result
        messages = []
        again = train_run(tiny(), tmp_path, progress=False, log=messages.append)
        assert messages == [f"run {run.run_id}: not finished ({problem}); training it"]
        assert finished_problem(again.path) is None and comparable(again.path) == original
    (run.path / DONE).write_bytes(b"\xff\xfe\x00")
    assert finished_problem(run.path).startswith("its done.json is unreadable (UnicodeDecodeError: ")


def test_evaluate_of_an_unfinished_or_corrupted_run_says_so(tmp_path, capsys, one_thread, fashion_mnist_available):
    run = train_run(tiny(), tmp_path, progress=False, log=quiet)
    (run.path / WEIGHTS).write_bytes(b"not the weights")
    for problem in ("model.pt does not match the checksum in done.json",
                    "it has no done.json marker (it was interrupted or is still training)"):
        assert main(["evaluate", run.run_id, "--runs-dir", str(tmp_path)]) == 2
        error = capsys.readouterr().err
        assert error.startswith(f"error: run {run.path} is not a finished run: {problem}; it is unfinished or "
                                f"corrupted: run the command that trained it again")
        assert "teacher run" not in error and error.count("\n") == 1
        (run.path / DONE).unlink(missing_ok=True)  # next: no marker at all
