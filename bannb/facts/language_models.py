"""What chapter 09_language_models (Table 6: born-again LSTM language models) concludes, computed from the tables
and records the chapter reads: one function per section, each returning the glue names and values that section's
prose cites, and the tables it shows beside them."""
from __future__ import annotations

import pandas as pd

from bannb.book.timings import chapter_seconds
from bannb.data.text import PENN_TREEBANK
from bannb.models.lstm_lm import parse_name
from bannb.study import claims, convergence, experiments, profiles

# What each verdict of a claim says about the paper's own finding: BAN+L lowers the perplexity, plain BAN "did
# not help" (so no effect agrees with the paper as much as a worse BAN does).
AGREEMENT = {
    "lm-banl-vs-teacher": {"holds": "agrees with the paper", "does not hold": "contradicts the paper",
                           "no effect of the paper's size": "finds no gain of the size the paper reports",
                           "inconclusive": "cannot tell the paper's gain from noise"},
    "lm-ban-vs-teacher": {"holds": "agrees with the paper", "does not hold": "contradicts the paper",
                          "no effect of the paper's size": "agrees with the paper",
                          "inconclusive": "cannot tell either way"}}
CLAIM_NAMES = {"lm-banl-vs-teacher": "banl", "lm-ban-vs-teacher": "ban"}  # the prefix of each claim's glue names
STRONGER_SEEDS = [0, 1, 2, 3, 4]  # the seeds of the "try it yourself" box


def paper_facts(table6: pd.DataFrame, paper_config) -> dict:
    """Table 6's LSTM as the library builds it at the paper profile (`paper_config`), and the range of BAN+L's
    gain over its teacher across the table's rows, in perplexity points and in percent of the teacher's."""
    gain = table6["Teacher test"] - table6["BAN+L test"]
    relative = 100 * (table6["BAN+L test"] / table6["Teacher test"] - 1)
    return {"paper_units": parse_name(paper_config.arch)[1], "paper_dropout": paper_config.dropout,
            "paper_epochs": paper_config.epochs, "paper_gain_min": gain.min(), "paper_gain_max": gain.max(),
            "paper_rel_min": -relative.max(), "paper_rel_max": -relative.min()}


def corpus_splits(description: dict) -> pd.DataFrame:
    """The corpus's splits (`Corpus.describe()`): documents, tokens and the share of `<unk>` tokens, beside
    Penn Treebank's tokens."""
    splits = pd.DataFrame(description["splits"]).T[["documents", "tokens"]].astype(int)
    splits["<unk> (%)"] = [100 * description["splits"][split]["unk_rate"] for split in splits.index]
    splits["Penn Treebank tokens"] = [PENN_TREEBANK[f"{split}_tokens"] for split in splits.index]
    return splits


def corpus_facts(description: dict, vocab_size: int, tokens_read: int | None) -> dict:
    """The corpus against Penn Treebank; `tokens_read`: the runs' cap on training tokens (None: all of them)."""
    splits = corpus_splits(description)
    train_tokens = int(splits.loc["train", "tokens"])
    return {"corpus_words": description["words"], "corpus_documents": int(splits["documents"].sum()),
            "corpus_vocab": vocab_size, "corpus_train_tokens": train_tokens,
            "ptb_train_tokens": PENN_TREEBANK["train_tokens"], "ptb_vocab": PENN_TREEBANK["vocabulary"],
            "size_ratio": train_tokens / PENN_TREEBANK["train_tokens"],
            "read_tokens": min(tokens_read or train_tokens, train_tokens), "test_unk": splits.loc["test", "<unk> (%)"]}


def size_facts(ours_millions: float, paper_arch_millions: float, table6: pd.DataFrame, lr_decay: float) -> dict:
    """Our model's parameters (millions) against the paper's Table 6 and the paper's architecture as we build it,
    and the factor the plateau rule divides the learning rate by."""
    return {"ours_millions": ours_millions, "paper_arch_millions": paper_arch_millions,
            "paper_lstm_millions": table6.loc["LSTM", "Params (M)"],
            "paper_cnn_millions": table6.loc["CNN-LSTM", "Params (M)"], "lr_factor": 1 / lr_decay,
            "size_factor": table6.loc["LSTM", "Params (M)"] / ours_millions}


def plan_facts(cpu_plan) -> dict:
    """What the chapter's plan at the cpu profile is expected to cost on two workers, from the epoch costs the
    profile was sized with, and the label weight of BAN+L."""
    return {"cpu_runs": len(cpu_plan), "expected_minutes": profiles.expected_seconds(cpu_plan, workers=2) / 60,
            "teacher_epoch": profiles.CPU_EPOCH_SECONDS["teacher"], "student_epoch": profiles.CPU_EPOCH_SECONDS["student"],
            "budget_minutes": profiles.CPU_CHAPTER_BUDGET_MINUTES,
            "label_weight": experiments.BAN_L_PARAMS["label_weight"]}


def _relative_to_teacher(records: pd.DataFrame) -> pd.DataFrame:
    """Per seed, each student's test perplexity against its own teacher's, in percent."""
    per_seed = records.pivot(index="seed", columns="model", values="test_ppl")
    return 100 * (per_seed[["BAN", "BAN+L"]].div(per_seed["Teacher"], axis=0) - 1)


def perplexity_facts(records: pd.DataFrame) -> dict:
    """The mean test perplexity of teachers, BAN and BAN+L students (`records`: one row per run, model and seed),
    and the students' mean change from their own teacher, in percent."""
    means = records.groupby("model")["test_ppl"].mean()
    relative = _relative_to_teacher(records)
    return {"teacher_test": means.loc["Teacher"], "ban_test": means.loc["BAN"], "banl_test": means.loc["BAN+L"],
            "ban_relative": relative["BAN"].mean(), "banl_relative": relative["BAN+L"].mean()}


def beside_paper(records: pd.DataFrame, table6: pd.DataFrame, label: str) -> pd.DataFrame:
    """Our mean perplexities (one row, `label`) beside Table 6's rows, columns "<model> <split>" (Teacher, BAN,
    BAN+L; val, test), and each student's test perplexity against its teacher's in percent. Table 6 has no BAN
    column: its BAN cells are missing."""
    order = list(experiments.LM_MODELS.values())
    means = records.groupby("model")[["valid_ppl", "test_ppl"]].mean()
    ours = {f"{model} {split}": means.loc[model, f"{column}_ppl"]
            for split, column in (("val", "valid"), ("test", "test")) for model in order}
    beside = pd.concat([pd.DataFrame([ours], index=[label]),
                        table6.drop(columns="Params (M)").rename(index=lambda network: f"paper: {network}, PTB")])
    beside = beside[[f"{model} {split}" for split in ("val", "test") for model in order]]
    for student in ("BAN+L", "BAN"):
        beside[f"{student} test vs teacher (%)"] = 100 * (beside[f"{student} test"] / beside["Teacher test"] - 1)
    return beside


def verdict_facts(verdicts: pd.DataFrame) -> dict:
    """Per claim of the chapter (`claims.evaluate_chapter`'s rows, keys `CLAIM_NAMES`): its verdict (the book's), what
    that verdict says about the paper's finding (for a claim kept out of the book's tally, what the rule says of it
    alone), and our mean difference, interval, n and smallest detectable difference;
    and the perplexity margin of the verdict rule."""
    by_key = verdicts.set_index("key")
    facts = {}
    for key, name in CLAIM_NAMES.items():
        verdict = by_key.loc[key, "verdict"]
        facts[f"{name}_verdict"] = verdict
        if verdict == claims.OUT_OF_TALLY:  # the book's verdict (`claims.evaluate_book`): its teachers unfinished
            rule = by_key.loc[key, "rule_verdict"]
            agreement = (f"cannot decide it while its teachers are still improving (the book keeps it out of its "
                         f"tally); judged alone the rule says “{rule}”, which {AGREEMENT[key].get(rule, 'says nothing')}")
        else:
            agreement = AGREEMENT[key].get(verdict, "has no runs to judge it on")  # not run
        facts[f"{name}_agreement"] = agreement
        for column in ("mean", "ci_low", "ci_high", "n", "detectable"):
            facts[f"{name}_{column}"] = by_key.loc[key, column]
    facts["ppl_margin"] = claims.PERPLEXITY_MARGIN
    return facts


def teacher_fit_facts(fits: pd.DataFrame) -> dict:
    """Whether the teachers converged by the language-model criterion (`fits`: `convergence.lm_fit_record` per
    run, with its model), and how far they are from fitting their training text."""
    teachers = fits[fits["model"] == "Teacher"]
    if teachers["flat"].all():
        reading = "So the verdicts above compare students with finished teachers."
    else:
        reading = ("So the verdicts above compare students with teachers that were still improving when training "
                   "stopped, and a student trained for as many epochs as its teacher inherits that: the `epochs` "
                   "command of the box below trains longer teachers, the test this chapter could not afford.")
    return {"teachers_flat": int(teachers["flat"].sum()), "teachers": len(teachers),
            "teacher_steepest": teachers["last_fifth_change"].min(), "teacher_allowed": teachers["allowed_drop"].mean(),
            "teachers_reading": reading, "teacher_train_ppl": teachers["train_ppl"].mean(),
            "teacher_valid_ppl": teachers["valid_ppl"].mean(),
            "teacher_word_probability": 100 / teachers["train_ppl"].mean(),
            "min_train_accuracy": 100 * convergence.MIN_TRAIN_ACCURACY}


def chapter_cost(timing) -> str:
    """What the whole chapter cost in the committed book, training included (`timing`: its entry of
    `timings.read_timings()`, None where it has none)."""
    if not isinstance(timing, dict):
        return "not measured yet (make book records it)"
    return f"{chapter_seconds(timing) / 60:.0f} minutes on {', '.join(timing.get('machines', [])) or 'this machine'}"


def try_facts(profile: str, seeds, trained_epochs: int, metrics: pd.DataFrame, timing, **overrides) -> dict:
    """The "try it yourself" box: what the seeds `STRONGER_SEEDS` this chapter has not trained would cost, and
    what retraining every run of `seeds` for twice its `trained_epochs` would cost, at the epoch times of this
    chapter's own runs (`metrics`: one row per epoch, model and seconds); and what the whole chapter cost (`timing`).
    `overrides`: the chapter's own overrides of its runs' configs (its `epochs` parameter among them)."""
    measured = {kind: metrics.loc[(metrics["model"] == "Teacher") == (kind == "teacher"), "seconds"].mean()
                for kind in ("teacher", "student")}
    new_configs = [config for seed in STRONGER_SEEDS if seed not in seeds
                   for config in experiments.lm_chain_configs(profile, seed, **overrides)]
    longer = [config for seed in seeds
              for config in experiments.lm_chain_configs(profile, seed, epochs=2 * trained_epochs)]
    return {"more_seeds_minutes": profiles.expected_seconds(new_configs, measured) / 60 if new_configs else 0.0,
            "longer_epochs": 2 * trained_epochs, "longer_minutes": profiles.expected_seconds(longer, measured) / 60,
            "chapter_cost": chapter_cost(timing)}
