"""One verdict per claim, the book's: on the committed records (data/runs holds every run the cpu profile asks for),
every chapter shows, for each of its claims, the verdict the summary gives, and the map's cells read the same in
chapter 10, in the summary's table and in its prose. Nothing is trained: a missing record fails the test."""
import json

import pytest

from bannb.book import book_chapters
from bannb.paths import PROJECT_ROOT
from bannb.runs.store import finished_problem
from bannb.study import chapters, claims, regimes

COMMITTED_RUNS = PROJECT_ROOT / "data" / "runs"
CLAIM_CHAPTERS = claims.book_chapters()  # every chapter with claims


@pytest.fixture(scope="module")
def book(request):
    """Every chapter's records at the cpu profile, read from the committed runs as the summary reads them."""
    def refuse_to_train(configs, runs_dir=None, *args, **kwargs):
        missing = [config.run_id for config in configs if finished_problem(COMMITTED_RUNS / config.run_id)]
        assert not missing, f"{len(missing)} committed records missing (e.g. {missing[0]}): the test trains nothing"

    patch = pytest.MonkeyPatch()
    patch.setattr(chapters, "train_all", refuse_to_train)
    request.addfinalizer(patch.undo)
    return chapters.book_records("cpu", runs_dir=COMMITTED_RUNS, chapters=book_chapters())


@pytest.fixture(scope="module")
def summary(book):
    return chapters.judged_claims(book, runs_dir=COMMITTED_RUNS)


def test_every_chapter_shows_the_summarys_verdict_for_every_claim(book, summary):
    books = summary.set_index("key")["verdict"]
    shown = {}
    for chapter in CLAIM_CHAPTERS:
        rows = chapters.judged_claims(book, chapter, runs_dir=COMMITTED_RUNS)
        assert set(rows["chapter"]) == {chapter}
        shown.update(zip(rows["key"], rows["verdict"]))
    assert shown == books.to_dict()  # every claim of the summary, each once, with its verdict
    # the claims that had two verdicts before: each chapter's is now the book's, its own family's only beside it
    for key in ("ban2-vs-ban1", "cwtm-vs-ban", "ens2-vs-teachers2"):
        assert shown[key] == books[key]


def test_no_claim_without_runs_reads_inconclusive(summary):
    assert (summary.loc[summary["n"] == 0, "verdict"] == claims.NOT_RUN).all()
    assert (summary.loc[summary["verdict"] == claims.NOT_RUN, "n"] == 0).all()
    # Table 4 and 5 are not trained at the cpu profile: "not run", in chapter 8 as in the summary
    table45 = summary[summary["key"].isin(["deeper-densenet-vs-teacher", "compressed-densenet-vs-teacher",
                                           "resnet-student-vs-baseline"])]
    assert len(table45) == 3 and (table45["verdict"] == claims.NOT_RUN).all()


def test_the_maps_cells_read_the_same_in_chapter_10_the_summarys_table_and_its_prose(book, summary):
    from bannb.facts import regime_map
    records = regimes.with_final_fields(book[chapters.MAP_CHAPTER], runs_dir=COMMITTED_RUNS)
    logits = regimes.stored_test_logits(COMMITTED_RUNS)
    chapter10 = chapters.judged_claims(book, chapters.MAP_CHAPTER, runs_dir=COMMITTED_RUNS)
    in_chapter = regimes.cell_verdicts(records, chapter10)
    in_summary = regimes.cell_verdicts(records, summary)
    table = summary.set_index("key")["verdict"]
    assert in_chapter["verdict"].tolist() == in_summary["verdict"].tolist() == [
        table[f"{regimes.MAP_CLAIM}[{cell}]"] for cell in in_chapter["cell"]]
    prose = regime_map.conclusion_facts(records, summary, logits)
    assert prose == regime_map.conclusion_facts(records, chapter10, logits)  # chapters 4, 10 and 11 glue the same
    counts = in_summary["verdict"].value_counts()
    assert ", ".join(f"{count} “{verdict}”" for verdict, count in counts.items()) in prose["map_why"]
    if "does not hold" not in set(in_summary["verdict"]):
        assert "does not hold" not in prose["map_why"]


def test_each_chapter_takes_its_verdicts_from_the_one_library_function():
    for chapter in [*CLAIM_CHAPTERS, chapters.SUMMARY_CHAPTER]:
        notebook = json.loads((PROJECT_ROOT / "book" / f"{chapter}.ipynb").read_text())
        code = "\n".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code")
        assert "claims.evaluate(" not in code and "evaluate_book(" not in code, chapter
        assert "book_records_for(ctx" in code, chapter
        expected = "judged_claims(records)" if chapter == chapters.SUMMARY_CHAPTER else f'judged_claims(book, "{chapter}")'
        assert expected in code, chapter
