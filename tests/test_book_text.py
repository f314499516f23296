"""No figure in the book's prose that code did not compute, and no issue numbers: the notebooks' sources, the landing
page, the README and the library's texts shown to readers (the rules, the profiles' notes) never carry a budget or an
hour count typed by hand, nor a reference to the project's issues."""
import json
import re

import pytest

from bannb.paths import PROJECT_ROOT
from bannb.study import claims, regimes, stats
from bannb.study.profiles import PROFILES

# Words that were once typed into the prose and went stale: the old cold-book budget and its measured time
STALE = ("3-hour", "3.0 h", "2.6 hours")
# "issue #21", "issue 13", "(#21)", "issues/21": the book speaks to readers, who do not see the project's issues
ISSUE = re.compile(r"\bissues?\s*#?\d+|(?<![\w&])#\d+\b|issues/\d+", re.IGNORECASE)


def reader_texts() -> dict[str, str]:
    """Every text a reader sees that is written by hand: each notebook's cell sources, book/index.md, README.md, and
    the library's texts the chapters show (the verdict, floor and decision rules, every profile's note)."""
    texts = {}
    for notebook in sorted((PROJECT_ROOT / "book").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        texts[notebook.name] = "\n".join("".join(cell["source"]) for cell in cells)
    for name in ("book/index.md", "README.md"):
        texts[name] = (PROJECT_ROOT / name).read_text()
    texts.update({"stats.VERDICT_RULE": stats.VERDICT_RULE, "claims.FLOOR_RULE": claims.FLOOR_RULE,
                  "regimes.DECISION_RULE": regimes.DECISION_RULE})
    texts.update({f"profile {name}: purpose": profile.purpose for name, profile in PROFILES.items()})
    return texts


@pytest.mark.parametrize("name, text", sorted(reader_texts().items()))
def test_no_stale_figure_and_no_issue_number(name, text):
    stale = [word for word in STALE if word in text]
    assert not stale, f"{name} types {stale} by hand: cite the profile, the timings file or COLD_BOOK_BUDGET_SECONDS"
    issues = ISSUE.findall(text)
    assert not issues, f"{name} refers readers to the project's issues: {issues}"


def test_the_pattern_finds_what_it_must_and_spares_the_rest():
    for found in ("Written before the map ran (issue #21)", "The goal (issue 13) is", "see #21", "issues/21"):
        assert ISSUE.search(found), found
    for spared in ("a 2× teacher", "Table #", "C# code", "&#8212;", "issue a command"):
        assert not ISSUE.search(spared), spared
