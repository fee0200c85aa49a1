"""Monitoring figures in the Prometheus text format: what was asked, how fast, and what went wrong.

Under gunicorn every worker is a process of its own; with PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py sets
it) the counters live in files there and a scrape of any worker adds up all of them. Without it (the
development server, tests) each app keeps its figures in its own registry.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from bot.storage import QuestionRecord, StorageError

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Seconds; WeChat gives up on a passive reply after 5 s."""


def multiprocess_dir() -> str | None:
    """The folder the workers' figures are shared through, when running under gunicorn."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class CorpusState(Collector):
    """Corpus figures read at scrape time from the serving process's own bot (every worker loads the same)."""

    def __init__(self, read: Callable[[], tuple[int, float, str | None]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        entries, loaded_at, error = self._read()
        yield GaugeMetricFamily("faqbot_corpus_entries", "Entries in the corpus being served.", value=entries)
        yield GaugeMetricFamily(
            "faqbot_corpus_loaded_timestamp_seconds",
            "When the corpus being served was loaded (Unix time).",
            value=loaded_at,
        )
        yield GaugeMetricFamily(
            "faqbot_corpus_reload_error",
            "1 when the last reload failed and the previous corpus is still served, else 0.",
            value=0 if error is None else 1,
        )


class Metrics:
    """The bot's counters and histograms; the engine and the WeChat channel report to it as they work."""

    def __init__(self, corpus_state: Callable[[], tuple[int, float, str | None]]) -> None:
        # Each app has its own registry so that several apps in one process (tests) do not collide; under
        # gunicorn the values go to the shared folder whatever registry holds them.
        self.registry = CollectorRegistry()
        self._corpus = CorpusState(corpus_state)
        self.questions = Counter(
            "faqbot_questions",
            "Questions answered, by channel, language and outcome.",
            ["channel", "lang", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "faqbot_request_seconds",
            "Time to answer an HTTP request, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.storage_errors = Counter(
            "faqbot_storage_errors",
            "Storage failures the bot answered through (state or question log not kept).",
            registry=self.registry,
        )
        self.signature_failures = Counter(
            "faqbot_wechat_signature_failures",
            "WeChat deliveries refused for a bad signature or a stale timestamp.",
            registry=self.registry,
        )
        self.retries_answered = Counter(
            "faqbot_wechat_retries_answered",
            "WeChat retries answered with the reply stored for the first delivery.",
            registry=self.registry,
        )

    # The engine's observer interface.
    def question(self, record: QuestionRecord) -> None:
        """Count one answered question."""
        self.questions.labels(record.channel, record.lang, record.outcome).inc()

    def storage_error(self, error: StorageError) -> None:
        """Count one storage failure that the bot answered through."""
        self.storage_errors.inc()

    def retry_answered(self) -> None:
        """Count one WeChat retry answered from the dedupe store."""
        self.retries_answered.inc()

    def exposition(self) -> bytes:
        """The text a scrape gets: every worker's counters (under gunicorn) and the corpus state."""
        folder = multiprocess_dir()
        if folder is None:
            registry = self.registry
        else:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=folder)
        return generate_latest(registry) + generate_latest(_single(self._corpus))


def _single(collector: Collector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)
    return registry
