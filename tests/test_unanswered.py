"""`python -m bot unanswered`: the console's inbox on the command line, grouped, hidden when handled, dismissed."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from console_helpers import copy_corpus

from bot.cli import main
from bot.console.store import open_console_store
from bot.storage import QuestionRecord, open_storage

ASKED = [
    ("can I bring my cat", "declined"),
    ("can i bring my cat?", "declined"),
    ("is parking free for parents", "declined"),
    ("whom should I talk to", "suggested"),  # a "did you mean" reply
    ("How much is the tuition fee?", "declined"),  # declined once, answered confidently by the corpus now
]
GROUP = re.compile(r"^\s+(\d+)  \[([0-9a-f]{8})\] (.+)$", re.MULTILINE)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config over a corpus copy and a SQLite file in which families asked the questions above."""
    path = tmp_path / "config.yaml"
    path.write_text(f"corpus_dir: {copy_corpus(tmp_path)}\nstorage: sqlite://faqbot.db\n", encoding="utf-8")
    storage = open_storage(f"sqlite:///{tmp_path / 'faqbot.db'}")
    for n, (text, outcome) in enumerate(ASKED):
        storage.log_question(QuestionRecord(1.7e9 + n, f"u{n}", "web", text, "en", outcome, None, None, 10.0))
    storage.close()
    return path


def unanswered(config: Path, capsys: pytest.CaptureFixture[str], *options: str) -> tuple[int, str]:
    code = main(["--config", str(config), "unanswered", *options])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_groups_are_counted_most_asked_first_and_what_the_corpus_answers_is_hidden(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = unanswered(config, capsys)
    groups = [(int(count), sample) for count, _, sample in GROUP.findall(out)]
    assert code == 0 and "3 groups still to look at" in out
    cats = {"can I bring my cat", "can i bring my cat?"}
    assert groups[0][0] == 2 and groups[0][1] in cats
    assert f"also: {(cats - {groups[0][1]}).pop()}" in out
    assert {sample for _, sample in groups[1:]} == {"is parking free for parents", "whom should I talk to"}
    assert "suggested 1" in out  # "did you mean" replies reach staff too
    assert "tuition" not in out


def test_a_dismissed_group_leaves_the_command_line_and_the_console_inbox(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, out = unanswered(config, capsys)
    parking = next(gid for _, gid, sample in GROUP.findall(out) if sample == "is parking free for parents")
    code, out = unanswered(config, capsys, "--dismiss", parking)
    assert code == 0 and f"dismissed [{parking}] is parking free for parents" in out
    marks = open_console_store(f"sqlite:///{tmp_path / 'faqbot.db'}").marks()
    assert [m["action"] for gid, m in marks.items() if gid.startswith(parking)] == ["dismiss"]
    _, out = unanswered(config, capsys)
    assert "2 groups still to look at" in out and "parking" not in out


def test_dismissing_a_group_that_is_not_there_says_so(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = unanswered(config, capsys, "--dismiss", "0000ffff")
    assert code == 2 and "'0000ffff' is not a group in the inbox" in out


def test_csv_has_one_row_a_group_and_opens_in_excel(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "inbox.csv"
    code, out = unanswered(config, capsys, "--csv", str(target))
    assert code == 0 and "3 groups of 4 questions written" in out
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")  # the byte-order mark Excel needs for UTF-8
    with target.open(encoding="utf-8-sig", newline="") as rows:
        table = list(csv.DictReader(rows))
    cat = next(row for row in table if "cat" in row["question"])
    assert cat["count"] == "2" and "cat" in cat["other wordings"] and cat["outcomes"] == "declined 2"
    assert [row["count"] for row in table] == ["2", "1", "1"] and re.fullmatch("[0-9a-f]{8}", cat["group"])
