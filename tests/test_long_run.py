"""A long-running server: descriptors stay bounded and storage failures are visible in /healthz."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from live_server import LiveServer, write_config

MINI_CORPUS = Path(__file__).resolve().parent / "data" / "mini_corpus"
REQUESTS = 2000
FILE_LIMIT = 256


@pytest.fixture
def dev_server(tmp_path: Path):
    config = write_config(
        tmp_path / "config.yaml",
        MINI_CORPUS,
        f"sqlite:///{tmp_path / 'faqbot.db'}",
        server={"watch_corpus": False, "rate_limit_per_minute": 0},
    )
    server = LiveServer.development(config, tmp_path, max_files=FILE_LIMIT)
    yield server
    server.stop()


def test_development_server_keeps_descriptors_flat_over_2000_requests(dev_server: LiveServer) -> None:
    """python server.py starts a thread per connection; none of them may leave a descriptor behind."""
    statuses: dict[int, int] = {}
    baseline = 0
    for number in range(REQUESTS):
        if number % 4 == 0:
            status = dev_server.request("GET", "/")[0]
        else:
            status, _ = dev_server.ask("学费多少", session=f"visitor-{number}")
        statuses[status] = statuses.get(status, 0) + 1
        if number == 100:
            baseline = dev_server.open_files()
    assert statuses == {200: REQUESTS}
    assert dev_server.open_files() <= baseline + 8
    health = json.loads(dev_server.request("GET", "/healthz")[1])
    assert health["status"] == "ok"
