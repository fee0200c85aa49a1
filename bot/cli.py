"""The command line: a thin shell over FAQBot for staff (ask, chat, validate, eval, tune, reports)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bot.api import reply_as_dict
from bot.config import Config, ConfigError, load_config
from bot.corpus import Corpus, CorpusError, Problem, read_corpus
from bot.storage import MemoryStorage


def _config(args: argparse.Namespace) -> Config:
    config = load_config(args.config if Path(args.config).exists() else None)
    corpus = getattr(args, "corpus", None)
    return replace(config, corpus_dir=Path(corpus)) if corpus else config


def _bot(args: argparse.Namespace, storage=None):
    from bot.engine import FAQBot

    return FAQBot(_config(args), storage if storage is not None else MemoryStorage())


def cmd_ask(args: argparse.Namespace) -> int:
    bot = _bot(args)
    reply = bot.ask(" ".join(args.question), session="cli", channel="cli", lang=args.lang)
    if args.json:
        print(json.dumps(reply_as_dict(reply), ensure_ascii=False, indent=2))
    else:
        print(reply.text)
        if args.verbose:
            print(f"[{reply.kind} faq_id={reply.faq_id} confidence={reply.confidence} lang={reply.lang}]")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    bot = _bot(args)
    print("faqbot chat: type a question in English or Chinese; an empty line or Ctrl-D quits.")
    while True:
        try:
            text = input("> ").strip()
        except EOFError:
            print()
            return 0
        if not text:
            return 0
        reply = bot.ask(text, session="chat", channel="cli")
        print(reply.text)
        print(f"   [{reply.kind} {reply.faq_id or ''} {reply.confidence:.0f}]")


def _confusions(config: Config) -> list[Problem]:
    """Warnings for phrasings that the bot answers with another entry: entries too alike to tell apart."""
    from bot.engine import build_brain

    brain = build_brain(config)
    problems = []
    for entry in brain.corpus.entries:
        for text, _ in entry.phrasings():
            match = brain.matcher.match(text)
            if match.decision == "answer" and match.best and match.best.entry.id != entry.id:
                problems.append(
                    Problem(
                        entry.file,
                        entry.line,
                        f"entry {entry.id!r}: {text!r} is answered by {match.best.entry.id!r} "
                        "(the entries are too alike; make the phrasing more specific)",
                        "warning",
                    )
                )
    return problems


def _out_of_scope_clashes(corpus) -> list[Problem]:
    """Errors for phrasings that use words out_of_scope.yaml lists: families asking that way are declined."""
    from bot.matcher import out_of_scope_clashes
    from bot.text import TextNormaliser

    return [
        Problem(
            entry.file,
            entry.line,
            f"entry {entry.id!r}: {text!r} uses words listed in out_of_scope.yaml ({', '.join(found)}), "
            "so families asking this way are declined; take the words off that list or reword",
        )
        for entry, text, found in out_of_scope_clashes(corpus, TextNormaliser().normalise)
    ]


def cmd_validate(args: argparse.Namespace) -> int:
    from bot.dialogue import check_dialogue_texts

    directory = Path(args.directory) if args.directory else _config(args).corpus_dir
    corpus, problems = read_corpus(directory)
    if corpus is not None:
        problems += check_dialogue_texts(directory / "dialogue.yaml", corpus)
        problems += _out_of_scope_clashes(corpus)
        if not any(p.severity == "error" for p in problems) and not args.quick:
            problems += _confusions(replace(_config(args), corpus_dir=directory))
    for problem in problems:
        print(problem)
    print(validate_summary(directory, corpus, problems))
    return 1 if any(p.severity == "error" for p in problems) else 0


def validate_summary(directory: Path, corpus: Corpus | None, problems: list[Problem]) -> str:
    """validate's last words: the counts, and on errors what is wrong and what families meanwhile get."""
    errors = [p for p in problems if p.severity == "error"]
    warnings = len(problems) - len(errors)
    if not errors:
        return f"{directory}: {len(corpus.entries)} entries, 0 error(s), {warnings} warning(s)"
    per_file = Counter(p.file for p in errors)
    where = ", ".join(f"{name} ({count})" for name, count in per_file.items())
    unreadable = sorted({p.file for p in errors if p.message.startswith("not valid YAML")})
    first = (
        f"Start with {', '.join(unreadable)}: not valid YAML, so none of its entries were read and errors "
        "elsewhere may only follow from that.\n"
        if unreadable
        else ""
    )
    return (
        f"{directory}: {len(errors)} error(s), {warnings} warning(s); errors in {where}.\n{first}"
        "The corpus as it stands cannot be loaded. Families are not affected: a running bot keeps "
        "answering from the corpus it loaded before, until these errors are fixed and the corpus reloads."
    )


def _eval_paths(args: argparse.Namespace, config: Config) -> list[Path]:
    """The files named on the command line, or the configured gate sets (`eval.sets`)."""
    files = args.file if isinstance(args.file, list) else ([args.file] if args.file else [])
    if files:
        return [Path(f) for f in files]
    return [config.corpus_dir / name for name in config.eval.sets]


def _eval_set(args: argparse.Namespace):
    """(config, bot, evaluation items of every set) for `eval` and `tune`, or None after printing why not."""
    from bot.evaluation import EvalFileError, load_eval_items

    config = _config(args)
    bot = _bot(args)
    try:
        items = [i for path in _eval_paths(args, config) for i in load_eval_items(path, bot.brain.corpus)]
    except EvalFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    return config, bot, items


def cmd_eval(args: argparse.Namespace) -> int:
    from bot.console.service import compare_with_published
    from bot.evaluation import EvalFileError, evaluate_bot, format_report

    config = _config(args)
    bot = _bot(args)
    passed = True
    for path in _eval_paths(args, config):
        try:
            report = evaluate_bot(bot, path)
        except EvalFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        thresholds = config.eval.for_set(path.name)
        print(f"== {path.name}")
        print(format_report(report, thresholds, show_all_failures=not args.quiet))
        since = compare_with_published(config.storage, path.name, report)
        print(since)
        if since.new and report.meets(thresholds):
            print(
                f"PASS on the thresholds, but with {len(since.new)} new failure(s) since the last publish: "
                "look at each before publishing"
            )
        passed = passed and report.meets(thresholds)
    return 0 if passed else 1


def cmd_tune(args: argparse.Namespace) -> int:
    if args.decision:
        return _tune_decision(args)
    from bot.tuning import tune

    loaded = _eval_set(args)
    if loaded is None:
        return 2
    _, bot, items = loaded
    result = tune(bot.brain.matcher, items)
    s = result.settings
    print(
        f"best on {len(items)} questions: answerable right {result.answerable_accuracy:.1%}, "
        f"wrong {result.wrong_rate:.1%}, out of scope declined {result.oos_declined:.1%}"
    )
    print("put these under `match:` in config.yaml:")
    for name in (
        "answer_threshold",
        "answer_margin",
        "sure_threshold",
        "coverage_weight",
        "overlap_weight",
        "containment_weight",
        "fuzzy_weight",
        "core_weight",
    ):
        print(f"  {name}: {round(getattr(s, name), 2)}")
    return 0


def _tune_decision(args: argparse.Namespace) -> int:
    """Fit the decision model on the sets, one fold per author, and print the cross-validated figures."""
    from bot.decision import MODEL_FILE
    from bot.evaluation import EvalFileError, load_eval_set
    from bot.tuning import fit_decision

    config = _config(args)
    bot = _bot(args)
    sets: dict[str, list] = {}
    try:
        for path in _eval_paths(args, config):
            items, _ = load_eval_set(path, bot.brain.corpus)
            for item in items:
                sets.setdefault(item.author, []).append(item)
    except EvalFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    fit = fit_decision(bot.brain.matcher, sets)
    print(f"decision model fitted on {', '.join(sorted(sets))}")
    print(f"thresholds: answer at P >= {fit.model.answer_at:.2f}, suggest at P >= {fit.model.suggest_at:.2f}")
    print("cross-validated (each author's questions judged by a model fitted without them):")
    for name, figures in [("all", fit.figures), *sorted(fit.by_author.items())]:
        print(f"  {name}: " + ", ".join(f"{k} {v:.1%}" for k, v in figures.items()))
    print("the configured thresholds and margin on the same questions, for comparison:")
    print("  all: " + ", ".join(f"{k} {v:.1%}" for k, v in fit.thresholds_rule.items()))
    if args.write:
        path = config.corpus_dir / MODEL_FILE
        path.write_text(fit.model.to_yaml(), encoding="utf-8")
        print(f"written to {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="faqbot: the CQMU-Leicester FAQ bot")
    parser.add_argument("--config", default="config.yaml", help="configuration file (default: config.yaml)")
    parser.add_argument("--corpus", help="corpus folder to use instead of the configured one")
    sub = parser.add_subparsers(dest="command", required=True)

    ask = sub.add_parser("ask", help="answer one question")
    ask.add_argument("question", nargs="+")
    ask.add_argument("--json", action="store_true", help="print the API's JSON reply")
    ask.add_argument("--lang", choices=["en", "zh"], help="language hint for messages without words")
    ask.add_argument("-v", "--verbose", action="store_true", help="show the entry and confidence")
    ask.set_defaults(func=cmd_ask)

    chat = sub.add_parser("chat", help="talk to the bot in the terminal")
    chat.set_defaults(func=cmd_chat)

    validate = sub.add_parser("validate", help="check the corpus and print every problem with file and line")
    validate.add_argument("directory", nargs="?", help="corpus folder (default: corpus_dir of the config)")
    validate.add_argument("--quick", action="store_true", help="skip the check for entries too alike")
    validate.set_defaults(func=cmd_validate)

    evaluate = sub.add_parser("eval", help="score the bot on the labelled evaluation sets")
    evaluate.add_argument(
        "file", nargs="*", help="evaluation files (default: the sets named by eval.sets in config.yaml)"
    )
    evaluate.add_argument("-q", "--quiet", action="store_true", help="figures only, no list of failures")
    evaluate.set_defaults(func=cmd_eval)

    tune_cmd = sub.add_parser(
        "tune", help="choose the matcher's weights and thresholds on the evaluation set"
    )
    tune_cmd.add_argument(
        "file", nargs="*", help="evaluation files (default: the sets named by eval.sets in config.yaml)"
    )
    tune_cmd.add_argument(
        "--decision",
        action="store_true",
        help="fit the decision model (decision.yaml) instead of the weights",
    )
    tune_cmd.add_argument("--write", action="store_true", help="with --decision: write decision.yaml")
    tune_cmd.set_defaults(func=cmd_tune)

    from bot.reports import add_report_commands

    add_report_commands(sub, _config)
    from bot.console.accounts import add_staff_commands

    add_staff_commands(sub, _config)
    from bot.wechat_menu import add_menu_commands

    add_menu_commands(sub, _config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m bot`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except CorpusError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print("the corpus has errors: run `python -m bot validate` for the full list", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
