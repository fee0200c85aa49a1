"""Matching benchmark: latency of the engine against the naive matcher, on the real and generated corpora.

    python bench/match_bench.py [--queries 400] [--sizes 1000 10000] [--seed 7]

Prints, per corpus: index build time, per-question latency (median, p99) of the engine (Matcher.match) and
of the naive matcher (rapidfuzz.process.extractOne over every question and alternate string, WRatio) on the
same queries in the same run, and their ratio; then the start-up time and resident memory of a fresh process.
Not a test: no assertions, figures only.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import yaml
from rapidfuzz import fuzz, process

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import load_config  # noqa: E402
from bot.corpus import Corpus, Entry, load_corpus  # noqa: E402
from bot.matcher import Matcher  # noqa: E402

EN_TOPICS = [
    "anatomy",
    "physiology",
    "pathology",
    "pharmacology",
    "biochemistry",
    "genetics",
    "immunology",
    "microbiology",
    "surgery",
    "paediatrics",
    "obstetrics",
    "psychiatry",
    "neurology",
    "cardiology",
    "oncology",
    "radiology",
    "dermatology",
    "ophthalmology",
    "epidemiology",
    "statistics",
    "ethics",
    "histology",
    "embryology",
    "nutrition",
    "rehabilitation",
    "emergency",
    "orthopaedics",
    "urology",
    "nephrology",
]
ZH_TOPICS = [
    "解剖",
    "生理",
    "病理",
    "药理",
    "生化",
    "遗传",
    "免疫",
    "微生物",
    "外科",
    "儿科",
    "妇产",
    "精神",
    "神经",
    "心内",
    "肿瘤",
    "放射",
    "皮肤",
    "眼科",
    "流行病",
    "统计",
    "伦理",
    "组织",
    "胚胎",
    "营养",
    "康复",
    "急诊",
    "骨科",
    "泌尿",
    "肾内",
]
EN_KINDS = (
    "lab",
    "exam",
    "module",
    "lecture",
    "textbook",
    "placement",
    "seminar",
    "project",
    "credit",
    "tutor",
)
ZH_KINDS = ("实验", "考试", "模块", "讲座", "教材", "实习", "研讨", "课题", "学分", "导师")
EN_TEMPLATES = (
    "when is the {t} {k} {n}",
    "how does the {t} {k} {n} work",
    "{t} {k} {n}?",
    "where is the {t} {k} {n} held",
    "who runs {t} {k} {n}",
    "is {t} {k} {n} compulsory",
    "what do I need for {t} {k} {n}",
    "tell me about {t} {k} {n}",
    "can my son skip the {t} {k} {n}",
    "{t} {k} {n} schedule",
)
ZH_TEMPLATES = (
    "{t}{k}{n}什么时候",
    "{t}{k}{n}怎么安排",
    "{t}{k}{n}",
    "{t}{k}{n}在哪里上",
    "{t}{k}{n}谁负责",
    "{t}{k}{n}是必修吗",
    "{t}{k}{n}要准备什么",
    "介绍一下{t}{k}{n}",
    "孩子能不能不上{t}{k}{n}",
    "{t}{k}{n}时间表",
)


def generated_corpus(base: Corpus, size: int, rng: random.Random) -> Corpus:
    """The real entries plus synthetic ones, each with a distinct topic, in both languages."""
    entries = list(base.entries)
    seen: set[tuple[int, int, int]] = set()
    while len(entries) < size:
        t, k, n = rng.randrange(len(EN_TOPICS)), rng.randrange(len(EN_KINDS)), rng.randrange(1, 400)
        if (t, k, n) in seen:
            continue
        seen.add((t, k, n))
        en = {"t": EN_TOPICS[t], "k": EN_KINDS[k], "n": n}
        zh = {"t": ZH_TOPICS[t], "k": ZH_KINDS[k], "n": n}
        entries.append(
            Entry(
                id=f"gen-{len(entries)}",
                question={"en": EN_TEMPLATES[0].format(**en), "zh": ZH_TEMPLATES[0].format(**zh)},
                alternates={
                    "en": tuple(x.format(**en) for x in EN_TEMPLATES[1:]),
                    "zh": tuple(x.format(**zh) for x in ZH_TEMPLATES[1:]),
                },
                answer={
                    "en": f"Details of {EN_TOPICS[t]} {EN_KINDS[k]} {n}.",
                    "zh": f"{zh['t']}{zh['k']}{n}的安排。",
                },
            )
        )
    return replace(base, entries=tuple(entries))


def with_typo(text: str, rng: random.Random) -> str:
    """One realistic slip: a dropped, doubled or swapped character."""
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 2)
    kind = rng.randrange(3)
    if kind == 0:
        return text[:i] + text[i + 1 :]
    if kind == 1:
        return text[:i] + text[i] + text[i:]
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def queries_for(corpus: Corpus, count: int, rng: random.Random, eval_questions: list[str]) -> list[str]:
    """Real evaluation questions plus corpus phrasings with typos, mixed and shuffled."""
    phrasings = [text for entry in corpus.entries for text, _ in entry.phrasings()]
    out = list(eval_questions[: count // 2])
    while len(out) < count:
        out.append(with_typo(rng.choice(phrasings), rng))
    rng.shuffle(out)
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def time_each(function, queries: list[str], before_each=None) -> list[float]:
    """Milliseconds per call, after one warm-up pass over a few queries."""
    for q in queries[:20]:
        function(q)
    times = []
    for q in queries:
        if before_each is not None:
            before_each()
        start = time.perf_counter()
        function(q)
        times.append((time.perf_counter() - start) * 1000)
    return times


def bench_corpus(name: str, corpus: Corpus, queries: list[str], settings) -> None:
    start = time.perf_counter()
    matcher = Matcher(corpus, settings)
    build = time.perf_counter() - start
    strings = [text for entry in corpus.entries for text, _ in entry.phrasings()]
    # The engine remembers verdicts for repeated questions; clear it so every timing is real work.
    engine = time_each(matcher.match, queries, before_each=matcher.clear_cache)
    naive = time_each(lambda q: process.extractOne(q, strings, scorer=fuzz.WRatio), queries)
    e_med, e_p99 = statistics.median(engine), percentile(engine, 0.99)
    n_med, n_p99 = statistics.median(naive), percentile(naive, 0.99)
    print(
        f"{name:>14} | {len(corpus.entries):6d} entries {len(strings):7d} strings | build {build:6.2f} s | "
        f"engine median {e_med:6.3f} ms p99 {e_p99:6.3f} ms | naive median {n_med:8.3f} ms p99 {n_p99:8.3f} ms | "
        f"naive/engine median x{n_med / e_med:6.1f}"
    )


STARTUP = """
import time
start = time.perf_counter()
from bot.engine import FAQBot
from bot.storage import MemoryStorage
from bot.config import load_config
bot = FAQBot(load_config("config.yaml"), MemoryStorage())
bot.ask("学费多少")
ready = time.perf_counter() - start
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1]
print(f"{ready:.3f} {int(peak) / 1024:.1f}")
"""


def bench_startup(runs: int = 3) -> None:
    """A fresh interpreter: import, jieba initialisation, corpus load and index, first answer."""
    results = []
    for _ in range(runs):
        wall = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", STARTUP], cwd=ROOT, capture_output=True, text=True, check=True
        )
        process_seconds = time.perf_counter() - wall
        ready, rss = out.stdout.split()
        results.append((process_seconds, float(ready), float(rss)))
    best = min(results)
    print(
        f"fresh process: ready to answer in {best[1]:.2f} s (whole process incl. interpreter {best[0]:.2f} s), "
        f"resident memory {best[2]:.0f} MiB (best of {runs})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    config = load_config(ROOT / "config.yaml")
    corpus = load_corpus(config.corpus_dir)
    eval_questions = [i["q"] for i in yaml.safe_load((config.corpus_dir / "eval.yaml").read_text())["items"]]
    bench_startup()
    print(
        f"python {sys.version.split()[0]}; {args.queries} queries per corpus (half real, half phrasings with typos)"
    )
    bench_corpus("real corpus", corpus, queries_for(corpus, args.queries, rng, eval_questions), config.match)
    for size in args.sizes:
        generated = generated_corpus(corpus, size, rng)
        bench_corpus(
            f"generated {size}",
            generated,
            queries_for(generated, args.queries, rng, eval_questions),
            config.match,
        )


if __name__ == "__main__":
    main()
