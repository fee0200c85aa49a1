"""Writing the corpus: edits to entries and data files as YAML round-trips that keep comments and order.

The console works on a draft, a mapping of file name to file text, and every change here returns new texts;
nothing is written to the corpus folder until a publish hands the texts to `write_corpus_files`.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

from bot.corpus import LANGS, SPECIAL_FILES
from bot.yaml_errors import explain_yaml_error

CORPUS_SUFFIXES = (".yaml", ".yml", ".txt")
ENTRY_KEYS = (
    "id",
    "category",
    "question",
    "alternates",
    "keywords",
    "answer",
    "related",
    "source",
    "variants",
)


class CorpusEditError(ValueError):
    """An edit cannot be made (unknown entry, unreadable file); the message says what to do."""


def _yaml() -> YAML:
    yaml = YAML()
    yaml.width = 4096  # never re-wrap long lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    yaml.representer.add_representer(
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return yaml


def load_text(text: str) -> Any:
    """Parse YAML keeping comments, order and quoting."""
    try:
        return _yaml().load(text)
    except MarkedYAMLError as exc:
        raise CorpusEditError(explain_yaml_error(exc, text).message) from exc
    except YAMLError as exc:
        raise CorpusEditError(f"the file is not valid YAML: {exc}") from exc


def dump_text(data: Any) -> str:
    """YAML text in the corpus's layout: entry lists start at column 0, lists indented under their key."""
    out = io.StringIO()
    _yaml().dump(data, out)
    text = out.getvalue()
    if isinstance(data, list):
        text = "".join(line[2:] if line.startswith("  ") else line for line in text.splitlines(True))
    return text


def read_corpus_files(directory: Path) -> dict[str, str]:
    """Every file the engine reads from the corpus folder, by name."""
    return {
        path.name: path.read_text(encoding="utf-8")
        for path in sorted(directory.iterdir())
        if path.is_file() and path.suffix in CORPUS_SUFFIXES
    }


def write_corpus_files(directory: Path, files: Mapping[str, str]) -> list[str]:
    """Make the folder hold exactly these files (each replaced atomically); returns the names changed."""
    directory.mkdir(parents=True, exist_ok=True)
    current = read_corpus_files(directory)
    changed = []
    for name, text in files.items():
        if Path(name).name != name or Path(name).suffix not in CORPUS_SUFFIXES:
            raise CorpusEditError(f"{name!r} is not a corpus file name")
        if current.get(name) == text:
            continue
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, directory / name)
        changed.append(name)
    for name in set(current) - set(files):
        (directory / name).unlink()
        changed.append(name)
    return sorted(changed)


def entry_files(files: Mapping[str, str]) -> list[str]:
    """The names of the files that hold entries."""
    return sorted(n for n in files if n.endswith((".yaml", ".yml")) and n not in SPECIAL_FILES)


def find_entry(files: Mapping[str, str], entry_id: str) -> tuple[str, Any, int] | None:
    """(file name, parsed list, position) of the entry with this id, or None."""
    for name in entry_files(files):
        try:
            data = load_text(files[name])
        except CorpusEditError:
            continue
        for position, raw in enumerate(data if isinstance(data, list) else []):
            if isinstance(raw, Mapping) and raw.get("id") == entry_id:
                return name, data, position
    return None


def entry_as_form(files: Mapping[str, str], entry_id: str) -> dict[str, Any] | None:
    """An entry's fields as plain data for a form (lists of texts, the variants as YAML text)."""
    found = find_entry(files, entry_id)
    if found is None:
        return None
    name, data, position = found
    raw = data[position]
    form: dict[str, Any] = {"id": entry_id, "file": name}
    form["category"] = str(raw.get("category") or "")
    form["source"] = _source_text(raw.get("source"))
    for key in ("question", "answer"):
        value = raw.get(key) or {}
        form[key] = {lang: str(value.get(lang) or "") if isinstance(value, Mapping) else "" for lang in LANGS}
    for key in ("alternates", "keywords"):
        value = raw.get(key) or {}
        form[key] = {
            lang: [str(t) for t in (value.get(lang) or [])] if isinstance(value, Mapping) else []
            for lang in LANGS
        }
    form["related"] = [str(r) for r in raw.get("related") or []]
    variants = raw.get("variants")
    form["variants"] = dump_text(variants) if variants else ""
    return form


def _seq(values: Iterable[str], flow: bool = False) -> CommentedSeq:
    seq = CommentedSeq(values)
    if flow:
        seq.fa.set_flow_style()
    return seq


def _source_text(value: Any) -> str:
    """An entry's source as the form shows it: one passage a line (a source may name several)."""
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value or "")


def _source_value(current: Any, text: str) -> Any:
    """The source to write: unchanged as it was (list and quoting kept), else one text or a list of lines."""
    if text.strip() == _source_text(current).strip():
        return current if current else None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    return lines[0] if len(lines) == 1 else _seq(lines, flow=False)


def _set(raw: CommentedMap, key: str, value: Any) -> None:
    """Set a key in place (keeping its position) or add it in the canonical order; None removes it."""
    if value is None:
        raw.pop(key, None)
        return
    if key in raw:
        raw[key] = value
        return
    order = [k for k in ENTRY_KEYS if k in raw or k == key]
    position = order.index(key)
    raw.insert(min(position, len(raw)), key, value)


def _bilingual_texts(old: Any, new: Mapping[str, str]) -> CommentedMap:
    target = old if isinstance(old, CommentedMap) else CommentedMap()
    for lang in LANGS:
        text = new.get(lang, "").replace("\r\n", "\n").strip()
        previous = target.get(lang)
        if previous is not None and str(previous).strip() == text:
            continue  # unchanged: keep its quoting and folding
        if "\n" in text:
            target[lang] = LiteralScalarString(text)
        elif isinstance(previous, FoldedScalarString):
            target[lang] = FoldedScalarString(text)
        else:
            target[lang] = text
    return target


def _bilingual_lists(old: Any, new: Mapping[str, list[str]], flow: bool) -> CommentedMap:
    target = old if isinstance(old, CommentedMap) else CommentedMap()
    for lang in LANGS:
        texts = [t.strip() for t in new.get(lang, []) if t.strip()]
        previous = target.get(lang)
        if isinstance(previous, list) and [str(t) for t in previous] == texts:
            continue  # unchanged: keep its comments
        keep_flow = previous.fa.flow_style() if isinstance(previous, CommentedSeq) else flow
        target[lang] = _seq(texts, keep_flow)
    return target


def save_entry(
    files: Mapping[str, str], form: Mapping[str, Any], original_id: str | None = None, new_file: str = ""
) -> dict[str, str]:
    """The files with one entry written from a form: changed in place, or appended to `new_file`."""
    out = dict(files)
    found = find_entry(files, original_id) if original_id else None
    if original_id and found is None:
        raise CorpusEditError(f"there is no entry {original_id!r} in the draft")
    if found is None:
        name = new_file or (entry_files(files) or ["admissions.yaml"])[0]
        if name not in entry_files(files) and name in files:
            raise CorpusEditError(f"{name!r} is not a file of entries")
        data = load_text(files[name]) if name in files else CommentedSeq()
        raw = CommentedMap()
        data.append(raw)
    else:
        name, data, position = found
        raw = data[position]
    _set(raw, "id", form["id"])
    _set(raw, "category", form.get("category") or None)
    _set(raw, "question", _bilingual_texts(raw.get("question"), form["question"]))
    _set(raw, "alternates", _bilingual_lists(raw.get("alternates"), form["alternates"], flow=False))
    keywords = form.get("keywords") or {}
    has_keywords = any(t.strip() for lang in LANGS for t in keywords.get(lang, []))
    _set(
        raw, "keywords", _bilingual_lists(raw.get("keywords"), keywords, flow=True) if has_keywords else None
    )
    _set(raw, "answer", _bilingual_texts(raw.get("answer"), form["answer"]))
    related = [r.strip() for r in form.get("related") or [] if r.strip()]
    _set(raw, "related", _seq(related, flow=True) if related else None)
    _set(raw, "source", _source_value(raw.get("source"), str(form.get("source") or "")))
    variants_text = str(form.get("variants") or "").strip()
    current = raw.get("variants")
    if not current or dump_text(current).strip() != variants_text:  # unchanged: keep its comments
        _set(raw, "variants", load_text(variants_text) if variants_text else None)
    out[name] = dump_text(data)
    return out


def add_alternate(files: Mapping[str, str], entry_id: str, lang: str, text: str) -> dict[str, str]:
    """The files with one more way of asking under an entry."""
    found = find_entry(files, entry_id)
    if found is None:
        raise CorpusEditError(f"there is no entry {entry_id!r} in the draft")
    name, data, position = found
    alternates = data[position].setdefault("alternates", CommentedMap())
    texts = alternates.get(lang)
    if not isinstance(texts, list):
        texts = alternates[lang] = CommentedSeq()
    if text.strip() and text.strip() not in texts:
        texts.append(text.strip())
    return {**files, name: dump_text(data)}


def remove_out_of_scope_terms(files: Mapping[str, str], terms: Iterable[str]) -> dict[str, str]:
    """The files with these words taken off out_of_scope.yaml's topics (the topic is now answered)."""
    if "out_of_scope.yaml" not in files:
        return dict(files)
    drop = {t.casefold() for t in terms}
    data = load_text(files["out_of_scope.yaml"])
    for topic in (data or {}).get("topics") or []:
        for lang in LANGS:
            words = topic.get(lang)
            if isinstance(words, list):
                for position in reversed(range(len(words))):
                    if str(words[position]).casefold() in drop:
                        del words[position]
    return {**files, "out_of_scope.yaml": dump_text(data)}


def relabel_eval_item(
    files: Mapping[str, str], eval_file: str, question: str, lang: str, ids: list[str]
) -> dict[str, str]:
    """The files with an evaluation question's expected entries changed (empty: it must be declined)."""
    if eval_file not in files:
        raise CorpusEditError(f"there is no evaluation file {eval_file!r}")
    data = load_text(files[eval_file])
    for item in (data or {}).get("items") or []:
        if str(item.get("q", "")).strip() == question.strip() and str(item.get("lang")) == lang:
            item["id"] = ids[0] if len(ids) == 1 else (_seq(ids, flow=True) if ids else None)
            return {**files, eval_file: dump_text(data)}
    raise CorpusEditError(f"{eval_file} has no question {question!r} in {lang}")


def add_eval_item(
    files: Mapping[str, str], eval_file: str, question: str, lang: str, ids: list[str], style: str
) -> dict[str, str]:
    """The files with one more labelled question (an inbox group marked out of scope becomes one)."""
    data = load_text(files[eval_file])
    item = CommentedMap()
    item["q"] = question
    item["id"] = ids[0] if len(ids) == 1 else (_seq(ids, flow=True) if ids else None)
    item["lang"] = lang
    item["style"] = style
    data["items"].append(item)
    return {**files, eval_file: dump_text(data)}


def materialise(files: Mapping[str, str], directory: Path) -> Path:
    """Write the texts into a folder the engine can read (a draft is tried and evaluated from there)."""
    write_corpus_files(directory, files)
    return directory
