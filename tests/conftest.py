"""Shared fixtures: the repository's configuration, the engine built once per session, the app and its client.

Any test module may use these:

- ``config``: config.yaml of the repository, with ``memory://`` storage, no corpus watcher thread and the
  analysis cache in a temporary folder.
- ``mini_config``: the same, reading the small test corpus in tests/data/mini_corpus.
- ``brain`` / ``mini_brain``: the engine built from those corpora, once per session (building takes a second).
- ``memory_storage``: a fresh in-memory storage for one test.
- ``bot`` / ``mini_bot``: a FAQBot over that storage and the shared brain, so conversation state is fresh.
- ``app`` / ``client``: the Flask app over ``bot`` (and its storage) and its test client.
- ``tmp_corpus``: a writable copy of the small test corpus in tmp_path, for tests that break files.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from app_helpers import SettableClock
from flask import Flask
from flask.testing import FlaskClient

from bot.config import Config, load_config
from bot.engine import Brain, FAQBot, build_brain
from bot.storage import MemoryStorage

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
REPO_CONFIG = REPO_ROOT / "config.yaml"
MINI_CORPUS = TESTS_DIR / "data" / "mini_corpus"


@pytest.fixture(scope="session")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The repository's configuration, kept in memory, without the corpus watcher thread, and with the
    analysis cache in a temporary folder (not the repository's var/)."""
    loaded = load_config(REPO_CONFIG, env={})
    cache = tmp_path_factory.mktemp("analysis-cache") / "analysis.cache"
    return replace(
        loaded,
        storage="memory://",
        server=replace(loaded.server, watch_corpus=False),
        analysis_cache=str(cache),
    )


@pytest.fixture(scope="session")
def mini_config(config: Config) -> Config:
    """The same configuration over the small test corpus (four entries, four provinces).

    Close calls stay lists to choose from here, so that the list and picking from it are specified; giving a
    confident pair both answers is specified in test_reading_classes."""
    return replace(config, corpus_dir=MINI_CORPUS, match=replace(config.match, pair_threshold=101.0))


@pytest.fixture(scope="session")
def brain(config: Config) -> Brain:
    """The engine built from the real corpus, shared by every test of the session."""
    return build_brain(config)


@pytest.fixture(scope="session")
def mini_brain(mini_config: Config) -> Brain:
    """The engine built from the small test corpus, shared by every test of the session."""
    return build_brain(mini_config)


@pytest.fixture
def memory_storage() -> MemoryStorage:
    """A fresh in-memory storage: sessions, the question log and counters start empty."""
    return MemoryStorage()


@pytest.fixture
def bot(config: Config, brain: Brain, memory_storage: MemoryStorage) -> FAQBot:
    """A FAQBot on the real corpus with fresh conversation state."""
    return FAQBot(config, memory_storage, brain=brain)


@pytest.fixture
def mini_bot(mini_config: Config, mini_brain: Brain) -> FAQBot:
    """A FAQBot on the small test corpus with fresh conversation state."""
    return FAQBot(mini_config, MemoryStorage(), brain=mini_brain)


@pytest.fixture
def app(config: Config, bot: FAQBot) -> Flask:
    """The Flask app over ``bot``; it shares the bot's storage."""
    # Imported here so that engine tests do not depend on the web layer.
    from server import create_app

    return create_app(config, storage=bot.storage, bot=bot)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of ``app``."""
    return app.test_client()


@pytest.fixture
def tmp_corpus(tmp_path: Path) -> Path:
    """A writable copy of tests/data/mini_corpus, for tests that edit or break corpus files."""
    target = tmp_path / "corpus"
    shutil.copytree(MINI_CORPUS, target)
    return target


@pytest.fixture
def clock() -> SettableClock:
    """A clock tests move by hand (TTLs, WeChat timestamps)."""
    return SettableClock()


@pytest.fixture
def storage(clock: SettableClock) -> MemoryStorage:
    """In-memory storage on the test clock."""
    return MemoryStorage(clock=clock)
