"""The language-model experiment: corpus preparation, per-token distillation gradients, BPTT batches and
resumable LM runs, on small texts the tests write."""
from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F
from fastai.callback.core import Callback

from bannb.data import text
from bannb.data.text import EOS, UNK, load_corpus, tokenize
from bannb.errors import ConfigError, DataError
from bannb.lm.config import LMRunConfig
from bannb.lm.streams import batchify, bptt_windows
from bannb.runs import lifecycle
from bannb.losses import make_loss
from bannb.models.lstm_lm import create_language_model
from bannb.runs.learner import RunRecorder
from bannb.runs.store import CHECKPOINT, DONE, METRICS
from bannb.runs.store import read_metrics as read_lm_metrics
from bannb.study.profiles import get_profile, lm_config

NAMES = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo",
         "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor",
         "whiskey", "xray", "yankee"]


def write_fortunes(folder, files: dict[str, list[str]]):
    folder.mkdir(parents=True, exist_ok=True)
    for name, entries in files.items():
        (folder / name).write_text("\n%\n".join(entries) + "\n%\n")
    return folder


@pytest.fixture
def no_system_corpus(monkeypatch, tmp_path):
    """Only folders the test writes are searched."""
    monkeypatch.delenv("BANNB_DATA", raising=False)
    monkeypatch.setattr(text, "SYSTEM_FOLDER", tmp_path / "no-system-corpus")
    monkeypatch.setattr(text, "data_roots", lambda root=None: [root] if root is not None else [])


def test_tokenize_is_ptb_style():
    assert tokenize("Don't panic! It's 42 o'clock -- really... We can't, 3.14 I'm “done”") == [
        "do", "n't", "panic", "!", "it", "'s", "N", "o", "'", "clock", "--", "really", "...", "we", "ca", "n't",
        ",", "N", "i", "'m", "“", "done", "”"]
    assert tokenize("Route 66", numbers_to_n=False) == ["route", "66"]


def test_corpus_split_by_document_with_exact_sizes_and_vocabulary(tmp_path, no_system_corpus):
    entries = [f"The {name} runs." for name in NAMES]
    root = tmp_path / "data"
    write_fortunes(root / "fortunes", {"first": entries[:12], "second": entries[12:] + ["THE ALPHA RUNS ."]})
    (root / "fortunes" / "first.dat").write_bytes(b"\x00\x01index")  # strfile's index: not text
    write_fortunes(root / "fortunes", {"ascii-art": ["/\\_/\\ ( o.o )"]})  # pictures: left out
    corpus = load_corpus(root=root, max_vocab=5)

    # 25 distinct documents (the upper-case copy tokenises to a duplicate), 8% test, 8% valid, by document
    described = corpus.describe()
    assert described["words"] == 25 * 4
    assert {split: (s["tokens"], s["documents"]) for split, s in described["splits"].items()} == {
        "train": (21 * 5, 21), "valid": (2 * 5, 2), "test": (2 * 5, 2)}
    documents = {split: [tuple(d) for d in docs] for split, docs in corpus.documents.items()}
    assert len(set().union(*documents.values())) == 25
    assert all(doc[0] == "the" and doc[2:] == ("runs", ".", EOS) for docs in documents.values() for doc in docs)
    # the vocabulary: <unk>, <eos>, then the most frequent training tokens, ties alphabetical
    assert corpus.vocabulary == [UNK, EOS, ".", "runs", "the"]
    assert corpus.ids("valid").tolist() == [4, 0, 3, 2, 1] * 2
    assert described["splits"]["valid"]["unk_rate"] == 0.2

    # the split depends on the documents, not on the files they are in nor their order
    other = tmp_path / "other"
    write_fortunes(other / "fortunes", {"a": entries[::-1]})
    reordered = load_corpus(root=other, max_vocab=5)
    assert {split: set(map(tuple, docs)) for split, docs in reordered.documents.items()} == \
        {split: set(docs) for split, docs in documents.items()}


def test_fortune_files_overstriking_and_separators(tmp_path, no_system_corpus):
    folder = tmp_path / "fortunes"
    folder.mkdir()
    (folder / "cookie").write_bytes(b"b\x08bo\x08ol\x08ld words\n%\n\n%   \nsecond one\n\t-- Someone\n%\n")
    assert text.read_fortune_file(folder / "cookie") == ["bold words", "second one\n\t-- Someone"]


def test_missing_empty_and_tiny_corpus_say_what_to_do(tmp_path, no_system_corpus):
    with pytest.raises(DataError, match=r"not found .*apt-get install fortunes"):
        load_corpus(root=tmp_path / "nothing")
    write_fortunes(tmp_path / "empty" / "fortunes", {"blank": ["   "]})
    with pytest.raises(DataError, match="holds no text.*apt-get install fortunes"):
        load_corpus(root=tmp_path / "empty")
    write_fortunes(tmp_path / "tiny" / "fortunes", {"few": ["one", "two", "three"]})
    with pytest.raises(DataError, match="3 distinct documents, too few"):
        load_corpus(root=tmp_path / "tiny")
    with pytest.raises(ConfigError, match="unknown corpus 'ptb'"):
        load_corpus("ptb")
    with pytest.raises(ConfigError, match="max_vocab"):
        load_corpus(root=tmp_path / "tiny", max_vocab=2)


def test_a_corpus_file_that_is_not_utf8_is_named_with_the_byte_offset(tmp_path, no_system_corpus):
    folder = write_fortunes(tmp_path / "data" / "fortunes", {f"file{i}": [f"The {name} runs."] for i, name in
                                                              enumerate(NAMES[:10])})
    latin = b"good words\n%\ncaf\xe9 au lait\n%\n"  # Latin-1, not UTF-8: decoding with replacement made a word of it
    (folder / "latin").write_bytes(latin)
    offset = latin.index(b"\xe9")
    with pytest.raises(DataError) as refused:
        load_corpus(root=tmp_path / "data")
    assert str(refused.value) == (
        f"corpus file {folder / 'latin'} is not UTF-8 text: byte offset {offset} holds e9 (invalid "
        f"continuation byte); convert the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`) or take it out of the folder")


def test_an_empty_corpus_folder_is_refused_not_passed_over(tmp_path, monkeypatch):
    """An empty `fortunes/` folder under $BANNB_DATA used to fall back silently on the system corpus."""
    monkeypatch.setenv("BANNB_DATA", str(tmp_path / "data"))
    system = write_fortunes(tmp_path / "system", {"cookie": [f"The {name} runs." for name in NAMES]})
    monkeypatch.setattr(text, "SYSTEM_FOLDER", system)
    (tmp_path / "data" / "fortunes").mkdir(parents=True)
    (tmp_path / "data" / "fortunes" / "cookie.dat").write_bytes(b"\x00index")  # an index alone is no fortune file
    with pytest.raises(DataError, match=rf"^the corpus folder {tmp_path / 'data' / 'fortunes'} holds no fortune file "
                                        rf"\(.*\), and the corpus would come from elsewhere; put the fortune files "
                                        rf"into it, or remove it to use .*{system}$"):
        load_corpus()
    (tmp_path / "data" / "fortunes").rename(tmp_path / "data" / "moved")
    assert load_corpus().source == str(system)


def test_the_data_fingerprint_of_a_language_model_is_its_corpus_files(tmp_path, monkeypatch):
    """Two folders of fortunes under the same corpus name give the same run id, and different fingerprints."""
    from bannb.data import DATA_FINGERPRINT, RECORDED_DATA_SHA256, data_fingerprint, data_mismatch
    monkeypatch.setattr(text, "SYSTEM_FOLDER", tmp_path / "no-system-corpus")
    entries = [f"The {name} runs." for name in NAMES]
    one = write_fortunes(tmp_path / "one" / "fortunes", {"cookie": entries})
    copy = write_fortunes(tmp_path / "copy" / "fortunes", {"cookie": entries})
    other = write_fortunes(tmp_path / "other" / "fortunes", {"cookie": entries[:-1] + ["The zulu runs."]})
    renamed = write_fortunes(tmp_path / "renamed" / "fortunes", {"fortunes": entries})
    config = LMRunConfig(arch="lstm-1x16", max_vocab=25)
    found = {}
    for name in ("one", "copy", "other", "renamed"):
        monkeypatch.setenv("BANNB_DATA", str(tmp_path / name))
        found[name] = data_fingerprint(config)
    assert found["one"] == found["copy"] == text.corpus_sha256(one) == text.corpus_sha256(copy)
    assert len({found["one"], found["other"], found["renamed"]}) == 3, "another text or another file name"
    assert text.corpus_sha256(other) == found["other"] and text.corpus_sha256(renamed) == found["renamed"]
    assert DATA_FINGERPRINT == "data_sha256" and config.run_id.startswith("fortunes-")  # the id names the corpus only
    # a file edited in place is read again (the cache follows its size and time)
    (one / "cookie").write_text((one / "cookie").read_text() + "One more entry.\n%\n")
    monkeypatch.setenv("BANNB_DATA", str(tmp_path / "one"))
    assert data_fingerprint(config) not in (found["one"], found["other"], found["renamed"])
    # what a store compares on reuse: the record's fingerprint, else (a record from before it) the data of record's
    monkeypatch.setenv("BANNB_DATA", str(tmp_path / "other"))
    assert data_mismatch(config, {DATA_FINGERPRINT: found["other"]}) is None
    assert data_mismatch(config, {DATA_FINGERPRINT: found["copy"]}) == (
        f"it was trained on other fortunes data than the one found now (data_sha256 {found['copy']}; {other} has "
        f"{found['other']})")
    assert RECORDED_DATA_SHA256["fortunes"] in data_mismatch(config, {})  # the committed records' corpus is not this
    # no corpus on this machine: None where asked for, else the loader's error
    monkeypatch.setenv("BANNB_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setattr(text, "data_roots", lambda root=None: [tmp_path / "nowhere"])
    assert data_fingerprint(config, missing_ok=True) is None and data_mismatch(config, {}) is None
    with pytest.raises(DataError, match="the fortunes corpus was not found"):
        data_fingerprint(config)


def test_the_committed_language_models_were_trained_on_the_corpus_of_record():
    """RECORDED_DATA_SHA256["fortunes"] stands for the corpus of every committed record (they predate the key): where
    this machine's corpus has that fingerprint, each record's test targets are its test stream."""
    from bannb.data import RECORDED_DATA_SHA256, data_fingerprint
    from bannb.lm.streams import lm_streams
    from bannb.paths import DATA_DIR
    from bannb.runs.store import Run
    records = [Run(path) for path in sorted((DATA_DIR / "runs").glob("fortunes-*")) if (path / "done.json").is_file()]
    assert records
    if data_fingerprint(records[0].config) != RECORDED_DATA_SHA256["fortunes"]:
        pytest.skip("the fortunes corpus found here is not the one the committed records were trained on")
    streams = {}
    for run in records:
        test = streams.setdefault(run.config.data_key(), lm_streams(run.config)[0]["test"])
        targets = run.test_log_probs()["targets"].long()
        assert torch.equal(batchify(test, len(targets))[:, 1:1 + targets.shape[1]], targets), run.run_id


# ---------------------------------------------------------------- per-token distillation gradients

def per_token_gradient(loss_name, logits, labels, teacher_logits, **params):
    logits = logits.clone().requires_grad_(True)
    vocab = logits.shape[-1]
    loss = make_loss(loss_name, **params)(logits.reshape(-1, vocab), labels.reshape(-1), teacher_logits.reshape(-1, vocab))
    loss.backward()
    return logits.grad


def test_ban_and_ban_l_gradients_per_token_match_the_analytical_forms():
    torch.manual_seed(0)
    batch, steps, vocab = 3, 5, 7
    logits, teacher_logits = torch.randn(batch, steps, vocab) * 2, torch.randn(batch, steps, vocab) * 2
    labels = torch.randint(0, vocab, (batch, steps))
    q, p = F.softmax(logits, dim=-1), F.softmax(teacher_logits, dim=-1)
    y = F.one_hot(labels, vocab).float()
    tokens = batch * steps  # every loss averages over tokens

    ban = per_token_gradient("ban", logits, labels, teacher_logits)
    torch.testing.assert_close(ban, (q - p) / tokens)
    ban_l = per_token_gradient("ban+l", logits, labels, teacher_logits, label_weight=0.3)
    torch.testing.assert_close(ban_l, (0.3 * (q - y) + 0.7 * (q - p)) / tokens)


# ---------------------------------------------------------------- BPTT batches and the model

def test_batchify_and_bptt_windows_shift_targets_by_one():
    rows = batchify(torch.arange(23), 4)
    assert rows.shape == (4, 5)  # 23 // 4 = 5 tokens per row; the last 3 tokens are dropped
    assert rows[1].tolist() == [5, 6, 7, 8, 9]
    windows = list(bptt_windows(rows, 3))
    assert [tuple(x.shape) for x, _ in windows] == [(4, 3), (4, 1)]
    for inputs, targets in windows:
        assert inputs.shape == targets.shape
        assert torch.equal(targets[:, :-1], inputs[:, 1:])
    assert torch.equal(torch.cat([x for x, _ in windows], dim=1), rows[:, :-1])
    assert torch.equal(torch.cat([y for _, y in windows], dim=1), rows[:, 1:])
    with pytest.raises(ConfigError, match="too short"):
        batchify(torch.arange(5), 4)


def test_language_model_shapes_tied_weights_and_carried_state():
    model = create_language_model("lstm-2x16", vocab_size=40, dropout=0.0).eval()
    assert model.decoder.weight is model.embedding.weight
    tokens = torch.randint(0, 40, (3, 8))
    logits, state = model(tokens)
    assert logits.shape == (3, 8, 40) and state[0].shape == (2, 3, 16)
    # two windows with the state carried equal one long window
    first, carried = model(tokens[:, :5])
    second, _ = model(tokens[:, 5:], carried)
    torch.testing.assert_close(torch.cat([first, second], dim=1), logits)
    with pytest.raises(ConfigError, match="lstm-LAYERSxUNITS"):
        create_language_model("gru-2x16", vocab_size=40)


# ---------------------------------------------------------------- runs

@pytest.fixture
def small_corpus(tmp_path, monkeypatch):
    """A written corpus of 120 short documents over a 30-word vocabulary, found through $BANNB_DATA."""
    rng = random.Random(0)
    words = NAMES[:20] + ["the", "a", "runs", "sees", "and", "with", "of", "to", "is", "not"]
    entries = [" ".join(rng.choice(words) for _ in range(rng.randint(6, 12))) + "." for _ in range(120)]
    write_fortunes(tmp_path / "data" / "fortunes", {"cookie": entries})
    monkeypatch.setenv("BANNB_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(text, "SYSTEM_FOLDER", tmp_path / "no-system-corpus")
    return tmp_path


SMOKE = dict(arch="lstm-1x16", max_vocab=25, epochs=3, batch_size=4, bptt=6, probe_tokens=200, dropout=0.2, lr=5.0)


class Interrupt(Exception):
    pass


def test_a_run_trained_on_another_corpus_of_the_same_name_is_never_reused(small_corpus):
    """The issue's case: a run trained with $BANNB_DATA on one fortunes folder is not this corpus's run. The record
    carries its data's fingerprint; reused on other data it is refused in one line, and left as it was."""
    from bannb.data import DATA_FINGERPRINT, data_fingerprint
    from bannb.errors import DataError
    config = LMRunConfig(**dict(SMOKE, epochs=1))
    run = lifecycle.train(config, small_corpus / "runs", log=lambda message: None)
    assert run.final[DATA_FINGERPRINT] == data_fingerprint(config)
    record = (run.path / "final.json").read_bytes()
    assert lifecycle.train(config, small_corpus / "runs").final == run.final  # the same data: reused
    entries = [f"{word} sees the {word}." for word in NAMES[:25]] * 4
    write_fortunes(small_corpus / "data" / "fortunes", {"cookie": entries})  # another corpus, the same name
    with pytest.raises(DataError, match=rf"run {config.run_id}: it was trained on other fortunes data"):
        lifecycle.train(config, small_corpus / "runs")
    assert (run.path / "final.json").read_bytes() == record


def test_interrupted_lm_run_resumes_to_the_same_result(small_corpus):
    config = LMRunConfig(**SMOKE)
    straight = lifecycle.train(config, small_corpus / "straight", log=lambda message: None)

    class InterruptAfterFirstEpoch(Callback):
        order = RunRecorder.order + 1  # once the epoch's checkpoint is on disk

        def after_epoch(self):
            if self.epoch == 0:
                raise Interrupt("killed after epoch 1")

    resumed_dir = small_corpus / "resumed"
    with pytest.raises(Interrupt):
        lifecycle.train(config, resumed_dir, log=lambda message: None, callbacks=[InterruptAfterFirstEpoch()])
    path = resumed_dir / config.run_id
    assert (path / CHECKPOINT).exists() and not (path / DONE).exists()
    assert [row["epoch"] for row in read_lm_metrics(path / METRICS)] == [1]
    messages = []
    resumed = lifecycle.train(config, resumed_dir, log=messages.append)
    assert messages[:2] == [f"run {config.run_id}: not finished (it has no done.json marker (it was interrupted or is "
                            f"still training)); training it", f"run {config.run_id}: resuming after epoch 1 of 3"]
    assert resumed.final["resumed_from_epoch"] == 1 and not (path / CHECKPOINT).exists()

    drop_seconds = lambda rows: [{k: v for k, v in row.items() if k != "seconds"} for row in rows]
    assert drop_seconds(read_lm_metrics(path / METRICS)) == drop_seconds(read_lm_metrics(straight.path / METRICS))
    for key in ("valid_ppl", "test_ppl", "train_ppl", "parameters", "vocab_size", "test_tokens"):
        assert resumed.final[key] == straight.final[key], key
    straight_weights, resumed_weights = (torch.load(run.path / "model.pt") for run in (straight, resumed))
    assert all(torch.equal(straight_weights[k], resumed_weights[k]) for k in straight_weights)

    # what the run stores: per-epoch rows, a learning rate that only falls, test log-probs that give its perplexity
    rows = read_lm_metrics(path / METRICS)
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert all(later["lr"] <= earlier["lr"] for earlier, later in zip(rows, rows[1:]))
    stored = resumed.test_log_probs()
    assert stored["log_probs"].dtype == torch.float16 and stored["log_probs"].shape == stored["targets"].shape
    assert stored["log_probs"].numel() == resumed.final["test_tokens"]
    assert torch.exp(-stored["log_probs"].double().mean()).item() == pytest.approx(resumed.test_ppl, rel=1e-2)

    # a finished run is loaded, not trained again
    class MustNotTrain(Callback):
        def before_fit(self):
            raise AssertionError("a finished run trained again")
    assert lifecycle.train(config, resumed_dir, callbacks=[MustNotTrain()]).final == resumed.final


def test_students_distil_from_a_finished_teacher_on_the_same_data(small_corpus):
    runs_dir = small_corpus / "runs"
    teacher = lifecycle.train(LMRunConfig(**dict(SMOKE, epochs=1)), runs_dir, log=lambda message: None)
    for loss, params in (("ban", {}), ("ban+l", {"label_weight": 0.5})):
        config = LMRunConfig(**dict(SMOKE, epochs=1), loss=loss, loss_params=params, teacher=teacher.run_id,
                             generation=1)
        student = lifecycle.train(config, runs_dir, log=lambda message: None)
        assert student.run_id.startswith(f"fortunes-lstm-1x16-{loss}-gen1-seed0-")
        assert student.final["teacher_test_ppl"] == pytest.approx(teacher.test_ppl)
        assert student.final["teacher"] == teacher.run_id
    with pytest.raises(ConfigError, match="read other data"):
        lifecycle.train(LMRunConfig(**dict(SMOKE, epochs=1, max_vocab=20), loss="ban", teacher=teacher.run_id), runs_dir)
    with pytest.raises(ConfigError, match="not found"):
        lifecycle.train(LMRunConfig(**SMOKE, loss="ban", teacher="no-such-run"), runs_dir)


@pytest.mark.parametrize("values, message", [
    (dict(loss="ban"), "needs a teacher run"),
    (dict(teacher="some-run"), "takes no teacher"),
    (dict(loss="kd", teacher="some-run"), "language models train with one of ce, ban, ban\\+l"),
    (dict(arch="transformer"), "unknown language model"),
    (dict(corpus="ptb"), "unknown corpus"),
    (dict(bptt=0), "bptt must be a positive integer"),
    (dict(lr_decay=1.5), "lr_decay must be in"),
    (dict(train_tokens=1), "train_tokens must be an integer"),
    (dict(loss="ban+l", teacher="t", loss_params={"label_weight": 2.0}), "label_weight must be in"),
])
def test_bad_lm_configs_say_what_is_wrong(values, message):
    with pytest.raises(ConfigError, match=message):
        LMRunConfig(**values)


def test_config_round_trip_and_run_id():
    config = LMRunConfig(arch="lstm-2x200", max_vocab=5000, seed=2)
    assert LMRunConfig.from_dict(config.to_dict()) == config
    assert config.run_id == f"fortunes-lstm-2x200-teacher-seed2-{config.hash}"
    assert LMRunConfig(arch="lstm-2x200", max_vocab=5000, seed=3).hash != config.hash
    with pytest.raises(ConfigError, match="unknown LM run config keys"):
        LMRunConfig.from_dict(dict(config.to_dict(), colour="red"))


def test_lm_profiles_make_valid_configs():
    assert lm_config("cpu").arch == "lstm-1x128"
    assert lm_config("paper", seed=1).dropout == 0.65
    assert lm_config("smoke", epochs=None).epochs == 2  # None keeps the profile's value
    assert lm_config("gpu") == lm_config("paper")  # the gpu profile's language models are the paper's
    with pytest.raises(ConfigError, match="unknown profile 'tpu'"):
        lm_config("tpu")
    with pytest.raises(ConfigError, match="bad LM run parameter"):
        lm_config("cpu", colour="red")


def test_plateau_rule_divides_the_learning_rate(small_corpus):
    # a threshold no epoch can beat: every epoch after the first (which beats "none yet") is a plateau
    config = LMRunConfig(**dict(SMOKE, plateau_threshold=1e6))
    rows = read_lm_metrics(lifecycle.train(config, small_corpus / "runs", log=lambda message: None).path / METRICS)
    assert [row["lr"] for row in rows] == [5.0, 5.0, 1.25]


# ---------------------------------------------------------------- the book's plan: chapter 9's runs, as the image runs

def test_a_plan_trains_language_models_and_restores_a_teacher_recorded_without_weights(small_corpus):
    """`plan.train_all` trains LM configs like image configs; a record without `model.pt` (as committed) is a
    finished run, and a new student of it first gets its teacher's weights back, reproducing the record."""
    import dataclasses

    from bannb.runs.plan import train_all
    from bannb.runs.store import PREDICTIONS, WEIGHTS, Run, finished_problem
    runs_dir = small_corpus / "runs"
    teacher = LMRunConfig(**dict(SMOKE, epochs=1))
    student = dataclasses.replace(teacher, loss="ban+l", loss_params={"label_weight": 0.5}, teacher=teacher.run_id,
                                  generation=1, seed=1000, base_seed=0)
    lines = []
    train_all([student, teacher], runs_dir, workers=1, log=lines.append)
    assert len(lines) == 2 and all("test perplexity" in line for line in lines)
    recorded = Run(runs_dir / teacher.run_id)
    assert recorded.kind.name == "lm" and recorded.has_weights and recorded.config.base_seed == 0
    assert Run(runs_dir / student.run_id).config.base_seed == 0
    predictions = (recorded.path / PREDICTIONS).read_bytes()

    for config in (teacher, student):  # as committed: the records alone
        (runs_dir / config.run_id / WEIGHTS).unlink()
        assert finished_problem(runs_dir / config.run_id) is None
    with pytest.raises(Exception, match="no usable weights"):
        recorded.load_model()
    train_all([teacher, student], runs_dir, workers=1, log=lines.append)
    assert len(lines) == 2  # finished runs: nothing trains

    ban = dataclasses.replace(student, loss="ban", loss_params={})
    messages = []
    train_all([teacher, ban], runs_dir, workers=1, log=messages.append)
    assert len(messages) == 2  # the teacher's weights restored, then the new student
    assert recorded.has_weights and (recorded.path / PREDICTIONS).read_bytes() == predictions
    assert Run(runs_dir / ban.run_id).final["teacher_test_ppl"] == pytest.approx(recorded.test_ppl)
    assert not (runs_dir / student.run_id / WEIGHTS).exists()  # a run no student needs stays a record


def test_chapter_records_of_the_language_models(small_corpus, monkeypatch):
    """`chapters.chapter_records` of chapter 9: the teacher, BAN and BAN+L of each seed, trained (smoke LM profile, on the test's
    corpus) and tabulated for Table 6's claims."""
    from bannb.study.chapters import chapter_records, chapter_runs
    from bannb.study.claims import claims_for, evaluate
    from bannb.study.stats import VERDICTS
    monkeypatch.setenv("BANNB_WORKERS", "1")
    data = dict(max_vocab=25, batch_size=4, bptt=6, probe_tokens=200, epochs=1)
    frame = chapter_records("09_language_models", "smoke", [0, 1], runs_dir=small_corpus / "runs", **data)
    assert list(frame["model"]) == ["Teacher"] * 2 + ["BAN"] * 2 + ["BAN+L"] * 2
    assert list(frame["seed"]) == [0, 1] * 3 and set(frame["corpus"]) == {"fortunes"}
    assert (frame[["test_ppl", "valid_ppl", "train_ppl"]] > 1).all().all()
    assert frame.groupby("model")["params"].nunique().eq(1).all()  # one architecture throughout
    runs = chapter_runs("09_language_models", "smoke", [0, 1], runs_dir=small_corpus / "runs", **data)  # the same runs, loaded
    for teacher, ban, banl in zip(runs["Teacher"], runs["BAN"], runs["BAN+L"]):
        assert ban.config.teacher == banl.config.teacher == teacher.run_id
        assert ban.config.seed == banl.config.seed != teacher.config.seed  # the students differ in the loss alone
    table = evaluate(frame, claims_for("09_language_models"))
    assert list(table["n"]) == [2, 2] and set(table["verdict"]) <= set(VERDICTS)
    assert table["mean"].notna().all()


def test_language_model_plan_of_the_book():
    from bannb.study.chapters import BOOK_PLAN_CHAPTERS, chapter_plan
    from bannb.study.profiles import CPU_CHAPTER_BUDGET_MINUTES, LM_PROFILES, expected_seconds
    assert "09_language_models" in BOOK_PLAN_CHAPTERS
    assert get_profile("gpu").lm_name == "paper" and get_profile("cpu").lm_seed_list() == [0, 1, 2]
    assert get_profile("smoke").lm_seed_list([4]) == [4]
    with pytest.raises(ConfigError, match="unknown profile"):
        get_profile("tpu")
    for profile in ("smoke", "cpu"):
        plan = chapter_plan("09_language_models", profile)
        seeds = get_profile(profile).lm_seed_list()
        assert len(plan) == 3 * len(seeds) and len({c.run_id for c in plan}) == len(plan)
        assert [c.loss for c in plan] == ["ce", "ban", "ban+l"] * len(seeds)
        ids = [c.run_id for c in plan]
        for position, config in enumerate(plan):
            assert config.arch == LM_PROFILES[get_profile(profile).lm_name]["arch"]
            if config.teacher is not None:  # each student after its teacher, on the teacher's data
                teacher = plan[ids.index(config.teacher)]
                assert ids.index(config.teacher) < position and teacher.data_key() == config.data_key()
                assert config.base_seed == teacher.seed and config.generation == 1
    # the cpu chapter's budget (issue 12): at most 45 minutes of a 2-core machine, at the measured epoch costs
    cpu_plan = chapter_plan("09_language_models", "cpu")
    assert CPU_CHAPTER_BUDGET_MINUTES == 45
    assert len(get_profile("cpu").lm_seed_list()) >= 3 and expected_seconds(cpu_plan, workers=2) <= CPU_CHAPTER_BUDGET_MINUTES * 60


def test_lm_note_says_what_the_numbers_are_worth(small_corpus):
    smoke = get_profile("smoke").lm_note(max_vocab=25)
    assert smoke.startswith("**smoke profile: the numbers in this chapter mean nothing.**")
    assert "lstm-1x32" in smoke and "25-token vocabulary" in smoke and "2 seeds" in smoke
    assert get_profile("cpu").lm_note(max_vocab=25).startswith("*cpu profile*")
