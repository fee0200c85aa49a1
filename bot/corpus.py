"""The FAQ corpus: YAML files in faq_corpus/, read into entries and checked with file-and-line messages."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.yaml_errors import explain_yaml_error

LANGS = ("en", "zh")
MAX_ANSWER_BYTES = 2000
MIN_ALTERNATES = 8
SPECIAL_FILES = frozenset(
    {
        "entities.yaml",
        "synonyms.yaml",
        "out_of_scope.yaml",
        "eval.yaml",
        "holdout.yaml",
        "dialogue.yaml",
        "decision.yaml",
    }
)
EVALUATION_PREFIXES = ("blind-",)
"""Evaluation sets written blind to the corpus (see README, "Measuring answer quality") are not entries."""
_KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# Words staff write for an answer still to come, or a text of only punctuation ("...", "？？", "-").
_PLACEHOLDER = re.compile(
    r"^\s*(?:(?:todo|tbd|tba|fixme|xxx)\b.*|待定|待补充|待完善|待更新|暂无|[\W_]*)\s*$",
    re.IGNORECASE | re.DOTALL,
)

# An answer that opens with a bare yes or no ("Yes.", "No.", "In principle, no.", "可以。", "承认。", "不需要。"):
# a short first clause made of one of these words and at most a few more characters.
_YES_NO_OPENING = {
    "en": re.compile(
        r"^\s*(?:in principle,?\s*)?(?:yes|no|not really)\b[^.!;:\n]{0,12}[.!;:,\n]", re.IGNORECASE
    ),
    "zh": re.compile(
        r"^\s*(?:原则上)?(?:是的|是|对|可以|能|会|需要|承认|认可|有|没有|不|不会|不能|不可以|不用|不需要|不是)"
        r"[^，。！；：,.!;:\n]{0,3}[，。！；：,.!;:\n]"
    ),
}
# A phrasing asked in the negative: a yes or no to it means the opposite of a yes or no to the question.
_NEGATED = {
    "en": re.compile(r"\b(?:not|no|never|without|cannot)\b|n't\b", re.IGNORECASE),
    "zh": re.compile(r"[不没]|是否.*不"),
}
# Named exams people confuse; a phrasing naming one that the answer never mentions asks about something else.
NAMED_EXAMS: Mapping[str, tuple[str, ...]] = {
    "Gaokao": ("gaokao", "ncee", "college entrance exam", "高考"),
    "IELTS": ("ielts", "雅思"),
    "TOEFL": ("toefl", "托福"),
    "kaoyan": ("kaoyan", "postgraduate entrance exam", "考研"),
    "medical licensing exam": (
        "licensing exam",
        "licensing examination",
        "qualification exam",
        "执业医师",
        "执医",
    ),
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the corpus, located by file and line, an error or a warning."""

    file: str
    line: int
    message: str
    severity: str = "error"
    column: int = 0

    def __str__(self) -> str:
        where = f"{self.line}:{self.column}" if self.column else f"{self.line}"
        return f"{self.file}:{where}: {self.severity}: {self.message}"


class CorpusError(Exception):
    """The corpus has errors; the bot keeps serving what it had (if anything)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        shown = "; ".join(str(p) for p in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"{len(errors)} corpus error(s): {shown}{more}")


@dataclass(frozen=True)
class Entry:
    """One question the college answers, in both languages, with the ways people ask it."""

    id: str
    question: Mapping[str, str]
    alternates: Mapping[str, tuple[str, ...]]
    answer: Mapping[str, str]
    category: str = ""
    keywords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    related: tuple[str, ...] = ()
    source: str = ""
    variant_entity: str | None = None
    variants: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    file: str = ""
    line: int = 0

    def answer_for(self, lang: str, entity: str | None = None) -> str:
        """The answer in `lang`; the named entities' variants ("hunan+sichuan") when the entry has them all."""
        keys = [k for k in (entity or "").split("+") if k]
        variants = [self.variants.get(k, {}).get(lang) for k in keys]
        if keys and all(variants):
            return "\n".join(v for v in variants if v)
        return self.answer[lang]

    def phrasings(self) -> Iterator[tuple[str, str]]:
        """Every (text, language) an asker might type for this entry: question then alternates."""
        for lang in LANGS:
            yield self.question[lang], lang
            for text in self.alternates.get(lang, ()):
                yield text, lang


@dataclass(frozen=True)
class EntityName:
    """One way of naming an entity, in one language."""

    text: str
    entity_type: str
    key: str


@dataclass(frozen=True)
class Corpus:
    """Entries plus the data files that tell the engine how people talk about them."""

    directory: Path
    entries: tuple[Entry, ...]
    entity_names: tuple[EntityName, ...] = ()
    entity_ignore: tuple[str, ...] = ()
    synonyms: tuple[tuple[str, ...], ...] = ()
    out_of_scope: tuple[str, ...] = ()
    out_of_scope_together: tuple[tuple[tuple[str, ...], ...], ...] = ()
    """Topics named only by words together ("regular" with "tuition"): one group of words per part."""
    userdict: Path | None = None

    def by_id(self) -> dict[str, Entry]:
        """Entries keyed by id."""
        return {e.id: e for e in self.entries}


# libyaml parses the corpus several times faster; the pure-Python parser stays for the messages of broken files.
_FastSafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers the line of every mapping and of each of its keys."""


class _FastLineLoader(_FastSafeLoader):  # type: ignore[misc,valid-type]
    """_LineLoader on libyaml's parser, when PyYAML was built with it."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    mapping["__lines__"] = {
        str(key.value): key.start_mark.line + 1 for key, _ in node.value if isinstance(key, yaml.ScalarNode)
    }
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_FastLineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> tuple[Any, list[Problem]]:
    """Parse one YAML file; a syntax error becomes a Problem with its line instead of an exception."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(path.name, 0, f"cannot read the file: {exc}")]
    try:
        return yaml.load(text, Loader=_FastLineLoader), []
    except yaml.YAMLError:
        pass  # parse again below, for the pure-Python parser's message and line
    try:
        return yaml.load(text, Loader=_LineLoader), []
    except yaml.MarkedYAMLError as exc:
        advice = explain_yaml_error(exc, text)
        return None, [Problem(path.name, advice.line, advice.message, column=advice.column)]
    except yaml.YAMLError as exc:
        return None, [Problem(path.name, 0, f"not valid YAML: {exc}")]


def strip_lines(value: Any) -> Any:
    """The plain data of a loaded YAML value, without the line bookkeeping keys."""
    if isinstance(value, dict):
        return {k: strip_lines(v) for k, v in value.items() if k not in ("__line__", "__lines__")}
    if isinstance(value, list):
        return [strip_lines(v) for v in value]
    return value


def _line_of(mapping: Any, key: str | None = None) -> int:
    if not isinstance(mapping, dict):
        return 0
    if key is not None and key in mapping.get("__lines__", {}):
        return mapping["__lines__"][key]
    return mapping.get("__line__", 0)


def _text_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value.strip(),) if value.strip() else ()
    if isinstance(value, list):
        return tuple(str(v).strip() for v in value if v is not None and str(v).strip())
    return ()


def is_placeholder(answer: str) -> bool:
    """True for an answer that only marks one still to be written (TODO, 待补充, ..., one character)."""
    return len(answer.strip()) <= 1 or bool(_PLACEHOLDER.match(answer))


def placeholder_message(lang: str, answer: str) -> str:
    """What to do about a placeholder answer, naming its field."""
    return (
        f"`answer.{lang}` is a placeholder ({answer.strip()!r}), and families would read it as the answer; "
        "write the real answer, or leave the entry out of the corpus until it is ready"
    )


class _EntryReader:
    """Reads one raw entry mapping into an Entry, collecting problems rather than stopping at the first."""

    def __init__(self, file: str, raw: dict[str, Any]) -> None:
        self.file = file
        self.raw = raw
        self.problems: list[Problem] = []
        self.label = f"entry {raw.get('id')!r}" if raw.get("id") else "entry"

    def error(self, key: str | None, message: str, severity: str = "error") -> None:
        self.problems.append(
            Problem(self.file, _line_of(self.raw, key), f"{self.label}: {message}", severity)
        )

    def bilingual_text(self, key: str) -> dict[str, str]:
        value = self.raw.get(key)
        if not isinstance(value, dict):
            self.error(key, f"`{key}` must be a mapping with `en` and `zh` texts")
            return {}
        out = {}
        for lang in LANGS:
            text = value.get(lang)
            if not isinstance(text, str | int | float) or not str(text).strip():
                self.error(key, f"`{key}.{lang}` is missing or empty")
            else:
                out[lang] = str(text).strip()
        return out

    def bilingual_list(self, key: str, required: bool) -> dict[str, tuple[str, ...]]:
        value = self.raw.get(key)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            self.error(key, f"`{key}` must be a mapping with `en` and `zh` lists")
            return {}
        return {lang: _text_list(value.get(lang)) for lang in LANGS}

    def source(self) -> str:
        """The documents the entry rests on; an entry without one cannot be checked, so it is an error."""
        value = self.raw.get("source")
        texts = _text_list(value) if isinstance(value, str | list) else ()
        if not texts:
            self.error(
                "source" if "source" in self.raw else None,
                "`source` is missing: name the document and the passage the answer rests on, "
                'such as "FAQs page — How much is the tuition fee…?"',
            )
        return "; ".join(texts)

    def read(self) -> Entry | None:
        entry_id = self.raw.get("id")
        if not isinstance(entry_id, str) or not _KEBAB.match(entry_id):
            self.error("id", f"`id` must be kebab-case text such as tuition-fee, got {entry_id!r}")
            return None
        question = self.bilingual_text("question")
        answer = self.bilingual_text("answer")
        alternates = self.bilingual_list("alternates", required=True)
        for lang, texts in alternates.items():
            if not texts:
                self.error("alternates", f"`alternates.{lang}` is missing or empty")
            elif len(texts) < MIN_ALTERNATES:
                self.error(
                    "alternates",
                    f"only {len(texts)} `alternates.{lang}`; add at least {MIN_ALTERNATES} ways people ask",
                    "warning",
                )
        for lang, text in answer.items():
            if is_placeholder(text):
                self.error("answer", placeholder_message(lang, text))
            if len(text.encode("utf-8")) > MAX_ANSWER_BYTES:
                size = len(text.encode("utf-8"))
                self.error("answer", f"`answer.{lang}` is {size} bytes; the limit is {MAX_ANSWER_BYTES}")
        entity, variants = self.variants()
        source = self.source()
        if len(question) < 2 or len(answer) < 2 or any(self.problems_are_errors()):
            return None
        return Entry(
            id=entry_id,
            question=question,
            alternates=alternates,
            answer=answer,
            category=str(self.raw.get("category") or ""),
            keywords=self.bilingual_list("keywords", required=False),
            related=_text_list(self.raw.get("related")),
            source=source,
            variant_entity=entity,
            variants=variants,
            file=self.file,
            line=_line_of(self.raw),
        )

    def problems_are_errors(self) -> Iterator[bool]:
        return (p.severity == "error" for p in self.problems)

    def variants(self) -> tuple[str | None, dict[str, dict[str, str]]]:
        raw = self.raw.get("variants")
        if raw is None:
            return None, {}
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("entity"), str)
            or not isinstance(raw.get("answers"), dict)
        ):
            self.error("variants", "`variants` needs `entity: <type>` and `answers: {key: {en, zh}}`")
            return None, {}
        out: dict[str, dict[str, str]] = {}
        for key, texts in strip_lines(raw["answers"]).items():
            if not isinstance(texts, dict) or not all(str(texts.get(lang) or "").strip() for lang in LANGS):
                self.error("variants", f"variant `{key}` needs both `en` and `zh` answers")
                continue
            for lang in LANGS:
                if len(str(texts[lang]).encode("utf-8")) > MAX_ANSWER_BYTES:
                    self.error("variants", f"variant `{key}.{lang}` is over {MAX_ANSWER_BYTES} bytes")
            out[str(key)] = {lang: str(texts[lang]).strip() for lang in LANGS}
        return raw["entity"], out


def opens_with_yes_or_no(answer: str, lang: str) -> bool:
    """Whether an answer starts with a bare yes or no, which is only right for the question it was written to."""
    return bool(_YES_NO_OPENING[lang].match(answer))


def is_negated(phrasing: str, lang: str) -> bool:
    """Whether a phrasing asks in the negative (a negated verb), so a yes or no to it reverses its meaning."""
    return bool(_NEGATED[lang].search(phrasing))


def named_exams(text: str) -> set[str]:
    """The exams a text names, by their NAMED_EXAMS key."""
    lowered = text.lower()
    return {name for name, words in NAMED_EXAMS.items() if any(w in lowered for w in words)}


def yes_no_risks(entry: Entry) -> list[Problem]:
    """Warnings for an answer opening with yes or no whose phrasings ask in the negative or about another exam.

    A bare "Yes" answers the question it was written for; to "do I not need..." or "is IELTS needed" it says
    something the documents never said. The fix is to start the answer with the fact, or to move the phrasing.
    """
    opening = [lang for lang in LANGS if opens_with_yes_or_no(entry.answer[lang], lang)]
    if not opening:
        return []
    answered_exams = named_exams(" ".join(entry.answer.values()))
    problems = []
    for text, lang in entry.phrasings():
        reasons = []
        if is_negated(text, lang):
            reasons.append("is phrased in the negative")
        other_exams = named_exams(text) - answered_exams
        if other_exams:
            reasons.append(f"names {', '.join(sorted(other_exams))}, which the answer does not")
        if reasons:
            problems.append(
                Problem(
                    entry.file,
                    entry.line,
                    f"entry {entry.id!r}: the answer opens with yes/no ({'/'.join(opening)}) but {text!r} "
                    f"{' and '.join(reasons)}; start the answer with the fact or move that phrasing",
                    "warning",
                )
            )
    return problems


def _entry_files(directory: Path) -> list[Path]:
    return sorted(
        p
        for p in [*directory.glob("*.yaml"), *directory.glob("*.yml")]
        if p.name not in SPECIAL_FILES and not p.name.startswith(EVALUATION_PREFIXES)
    )


def _read_entries(directory: Path) -> tuple[list[Entry], list[Problem]]:
    entries: list[Entry] = []
    problems: list[Problem] = []
    for path in _entry_files(directory):
        data, file_problems = read_yaml(path)
        problems += file_problems
        if file_problems:
            continue
        if not isinstance(data, list):
            problems.append(Problem(path.name, 1, "an entry file must be a YAML list of entries (- id: ...)"))
            continue
        for raw in data:
            if not isinstance(raw, dict):
                problems.append(Problem(path.name, 0, f"list item is not an entry mapping: {raw!r:.60}"))
                continue
            reader = _EntryReader(path.name, raw)
            entry = reader.read()
            problems += reader.problems
            if entry is not None:
                entries.append(entry)
                problems += yes_no_risks(entry)
    return entries, problems


def _read_entities(directory: Path) -> tuple[list[EntityName], list[str], list[Problem]]:
    path = directory / "entities.yaml"
    if not path.exists():
        return [], [], []
    data, problems = read_yaml(path)
    if problems:
        return [], [], problems
    data = strip_lines(data) or {}
    if not isinstance(data, dict):
        return [], [], [Problem(path.name, 1, "entities.yaml must map entity types to entities")]
    names: list[EntityName] = []
    ignore = [str(w) for w in data.get("ignore") or []]
    for entity_type, entities in data.items():
        if entity_type == "ignore":
            continue
        if not isinstance(entities, dict):
            problems.append(
                Problem(path.name, 0, f"`{entity_type}` must map keys to {{en: [...], zh: [...]}}")
            )
            continue
        for key, langs in entities.items():
            for lang in LANGS:
                for text in _text_list((langs or {}).get(lang) if isinstance(langs, dict) else None):
                    names.append(EntityName(text, str(entity_type), str(key)))
    return names, ignore, problems


def _read_word_lists(
    directory: Path,
) -> tuple[list[tuple[str, ...]], list[str], list[tuple[tuple[str, ...], ...]], list[Problem]]:
    problems: list[Problem] = []
    synonyms: list[tuple[str, ...]] = []
    path = directory / "synonyms.yaml"
    if path.exists():
        data, found = read_yaml(path)
        problems += found
        groups = (strip_lines(data) or {}).get("groups") if isinstance(data, dict) else None
        if not found and not isinstance(groups, list):
            problems.append(Problem(path.name, 1, "synonyms.yaml needs `groups:`, a list of word lists"))
        for group in groups or []:
            words = _text_list(group)
            if len(words) >= 2:
                synonyms.append(tuple(words))
    out_of_scope: list[str] = []
    together: list[tuple[tuple[str, ...], ...]] = []
    path = directory / "out_of_scope.yaml"
    if path.exists():
        data, found = read_yaml(path)
        problems += found
        raw_topics = data.get("topics") if isinstance(data, dict) else None
        for number, raw_topic in enumerate(raw_topics if isinstance(raw_topics, list) else [], 1):
            topic = strip_lines(raw_topic)
            if isinstance(topic, dict):
                for lang in LANGS:
                    out_of_scope.extend(_text_list(topic.get(lang)))
                if "together" in topic:
                    groups = tuple(
                        tuple(_text_list(g)) for g in topic["together"] or [] if isinstance(g, list)
                    )
                    if len(groups) < 2 or not all(groups):
                        line = _line_of(raw_topic, "together")
                        problems.append(
                            Problem(
                                path.name,
                                line,
                                f"topic {topic.get('name') or number}: `together:` needs two or more lists of words",
                            )
                        )
                    else:
                        together.append(groups)
    return synonyms, out_of_scope, together, problems


def _cross_checks(entries: list[Entry], entity_types: set[str]) -> list[Problem]:
    """Problems that need every entry: duplicate ids, unknown related ids, shared alternates, variants."""
    problems: list[Problem] = []
    seen: dict[str, Entry] = {}
    for entry in entries:
        if entry.id in seen:
            first = seen[entry.id]
            problems.append(
                Problem(
                    entry.file, entry.line, f"duplicate id {entry.id!r} (first at {first.file}:{first.line})"
                )
            )
        seen.setdefault(entry.id, entry)
    owners: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        for related in entry.related:
            if related not in seen:
                problems.append(
                    Problem(entry.file, entry.line, f"entry {entry.id!r}: unknown related id {related!r}")
                )
        if entry.variant_entity and entry.variant_entity not in entity_types:
            problems.append(
                Problem(
                    entry.file,
                    entry.line,
                    f"entry {entry.id!r}: variants use entity type {entry.variant_entity!r}, "
                    "which entities.yaml does not define",
                )
            )
        for text, lang in entry.phrasings():
            key = (lang, " ".join(text.lower().split()))
            other = owners.setdefault(key, entry)
            if other.id != entry.id:
                problems.append(
                    Problem(
                        entry.file,
                        entry.line,
                        f"entry {entry.id!r}: alternate {text!r} is also under {other.id!r} "
                        f"({other.file}:{other.line}); keep it under one entry",
                    )
                )
    return problems


def read_corpus(directory: str | Path) -> tuple[Corpus | None, list[Problem]]:
    """Read and check the whole corpus folder: (corpus or None when there are errors, every problem)."""
    directory = Path(directory)
    if not directory.is_dir():
        return None, [Problem(str(directory), 0, "corpus folder not found")]
    entries, problems = _read_entries(directory)
    names, ignore, entity_problems = _read_entities(directory)
    synonyms, out_of_scope, together, list_problems = _read_word_lists(directory)
    problems += entity_problems + list_problems
    problems += _cross_checks(entries, {n.entity_type for n in names})
    if not entries and not problems:
        problems.append(Problem(str(directory), 0, "no entries found (expected *.yaml files of entries)"))
    if any(p.severity == "error" for p in problems):
        return None, problems
    userdict = directory / "userdict.txt"
    corpus = Corpus(
        directory=directory,
        entries=tuple(entries),
        entity_names=tuple(names),
        entity_ignore=tuple(ignore),
        synonyms=tuple(synonyms),
        out_of_scope=tuple(out_of_scope),
        out_of_scope_together=tuple(together),
        userdict=userdict if userdict.exists() else None,
    )
    return corpus, problems


def load_corpus(directory: str | Path) -> Corpus:
    """Read the corpus or raise CorpusError listing every error with its file and line."""
    corpus, problems = read_corpus(directory)
    if corpus is None:
        raise CorpusError(problems)
    return corpus
