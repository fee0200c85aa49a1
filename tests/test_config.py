"""Configuration: typed defaults, clear errors, environment overrides, paths relative to the config file."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO_CONFIG

from bot.config import (
    Config,
    ConfigError,
    DialogueConfig,
    EvalThresholds,
    MatchSettings,
    ServerConfig,
    WeChatConfig,
    load_config,
)

AES_KEY = "a" * 43


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a config.yaml into its own folder under tmp_path and return its path."""

    def write(text: str) -> Path:
        folder = tmp_path / "site"
        folder.mkdir(exist_ok=True)
        path = folder / "config.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


# --- defaults ----------------------------------------------------------------------------------------


def test_no_file_gives_the_documented_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, env={})
    assert (config.match, config.eval, config.dialogue, config.server, config.wechat) == (
        MatchSettings(),
        EvalThresholds(),
        DialogueConfig(),
        ServerConfig(),
        WeChatConfig(),
    )


def test_default_paths_are_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, env={})
    assert config.corpus_dir == tmp_path / "faq_corpus"
    assert config.storage == f"sqlite:///{str(tmp_path / 'var' / 'faqbot.db').lstrip('/')}"


def test_the_analysis_cache_is_relative_to_the_config_file_and_empty_turns_it_off(write_config) -> None:
    site = write_config("").parent
    assert load_config(write_config(""), env={}).analysis_cache == str(site / "var" / "analysis.cache")
    assert load_config(write_config("analysis_cache: cache/a.bin\n"), env={}).analysis_cache == str(
        site / "cache" / "a.bin"
    )
    assert load_config(write_config('analysis_cache: ""\n'), env={}).analysis_cache == ""


def test_empty_file_gives_the_defaults(write_config) -> None:
    config = load_config(write_config(""), env={})
    assert (config.match, config.log_level) == (MatchSettings(), Config().log_level)


def test_a_section_keeps_the_defaults_of_keys_it_does_not_name(write_config) -> None:
    config = load_config(write_config("match:\n  answer_threshold: 60\n"), env={})
    assert config.match.answer_threshold == 60.0
    assert config.match.suggest_threshold == MatchSettings().suggest_threshold


def test_a_whole_number_is_accepted_for_a_decimal_setting(write_config) -> None:
    threshold = load_config(write_config("match:\n  answer_threshold: 60\n"), env={}).match.answer_threshold
    assert (threshold, type(threshold)) == (60.0, float)


def test_mappings_are_read_as_text_to_text(write_config) -> None:
    config = load_config(write_config("wechat:\n  menu_keys:\n    FEES: tuition-fee\n"), env={})
    assert dict(config.wechat.menu_keys) == {"FEES": "tuition-fee"}


def test_the_repository_config_loads_and_points_at_the_corpus() -> None:
    config = load_config(REPO_CONFIG, env={})
    assert config.corpus_dir == REPO_CONFIG.parent / "faq_corpus"
    assert config.corpus_dir.is_dir()


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("colour: blue\n", "colour"),
        ("match:\n  answer_treshold: 60\n", "answer_treshold"),
        ("server:\n  port: 8080\n", "port"),
    ],
)
def test_unknown_key_error_names_the_key(write_config, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config(write_config(text), env={})


def test_unknown_key_error_lists_the_known_keys(write_config) -> None:
    with pytest.raises(ConfigError, match="answer_threshold"):
        load_config(write_config("match:\n  answer_treshold: 60\n"), env={})


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("match:\n  answer_threshold: high\n", "match.answer_threshold"),
        ("match:\n  max_suggestions: true\n", "match.max_suggestions"),
        ("server:\n  watch_corpus: maybe\n", "server.watch_corpus"),
        ("dialogue:\n  contact_phone: [1, 2]\n", "dialogue.contact_phone"),
        ("wechat:\n  menu_keys: TUITION\n", "wechat.menu_keys"),
    ],
)
def test_wrong_type_error_names_the_key(write_config, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(write_config(text), env={})


def test_a_section_that_is_not_a_mapping_is_an_error(write_config) -> None:
    with pytest.raises(ConfigError, match="match"):
        load_config(write_config("match: 50\n"), env={})


@pytest.mark.parametrize(
    "text",
    [
        "match:\n  suggest_threshold: 70\n  answer_threshold: 60\n",
        "match:\n  answer_threshold: 120\n",
        "match:\n  suggest_threshold: -1\n",
        "match:\n  max_suggestions: 0\n",
        "match:\n  max_suggestions: 5\n  shortlist_size: 3\n",
    ],
)
def test_inconsistent_thresholds_are_an_error(write_config, text: str) -> None:
    with pytest.raises(ConfigError, match="match"):
        load_config(write_config(text), env={})


def test_invalid_yaml_error_names_the_line(write_config) -> None:
    path = write_config("match:\n  answer_threshold: 50\n  bad: [unclosed\n")
    with pytest.raises(ConfigError, match=r"line \d+"):
        load_config(path, env={})


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nowhere.yaml", env={})


@pytest.mark.parametrize("length", [16, 42, 44])
def test_aes_key_of_the_wrong_length_is_an_error(write_config, length: int) -> None:
    path = write_config(f"wechat:\n  aes_key: {'a' * length}\n")
    with pytest.raises(ConfigError, match="43"):
        load_config(path, env={})


def test_aes_key_of_43_characters_is_accepted(write_config) -> None:
    assert load_config(write_config(f"wechat:\n  aes_key: {AES_KEY}\n"), env={}).wechat.aes_key == AES_KEY


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


# --- environment overrides ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "read"),
    [
        ("FAQBOT_WECHAT_TOKEN", lambda c: c.wechat.token),
        ("FAQBOT_WECHAT_APPID", lambda c: c.wechat.app_id),
        ("FAQBOT_ADMIN_TOKEN", lambda c: c.server.admin_token),
    ],
)
def test_environment_sets_a_secret(write_config, variable: str, read) -> None:
    config = load_config(write_config(""), env={variable: "from-the-environment"})
    assert read(config) == "from-the-environment"


def test_environment_sets_the_aes_key(write_config) -> None:
    assert load_config(write_config(""), env={"FAQBOT_WECHAT_AES_KEY": AES_KEY}).wechat.aes_key == AES_KEY


def test_environment_aes_key_is_checked_too(write_config) -> None:
    with pytest.raises(ConfigError, match="43"):
        load_config(write_config(""), env={"FAQBOT_WECHAT_AES_KEY": "short"})


def test_environment_beats_the_file(write_config) -> None:
    path = write_config("wechat:\n  token: from-the-file\n")
    assert (
        load_config(path, env={"FAQBOT_WECHAT_TOKEN": "from-the-environment"}).wechat.token
        == "from-the-environment"
    )


def test_empty_environment_variable_leaves_the_file_value(write_config) -> None:
    path = write_config("wechat:\n  token: from-the-file\n")
    assert load_config(path, env={"FAQBOT_WECHAT_TOKEN": ""}).wechat.token == "from-the-file"


def test_environment_sets_the_storage(write_config) -> None:
    assert load_config(write_config(""), env={"FAQBOT_STORAGE": "memory://"}).storage == "memory://"


def test_unrelated_environment_variables_are_ignored(write_config) -> None:
    config = load_config(write_config(""), env={"FAQBOT_COLOUR": "blue", "HOME": "/root"})
    assert config.wechat == WeChatConfig()


def test_the_process_environment_is_read_when_no_env_is_given(
    write_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAQBOT_ADMIN_TOKEN", "from-the-process")
    assert load_config(write_config("")).server.admin_token == "from-the-process"


# --- paths -------------------------------------------------------------------------------------------


def test_relative_sqlite_path_is_resolved_next_to_the_config_file(write_config) -> None:
    path = write_config("storage: sqlite://data/bot.db\n")
    expected = (path.parent / "data" / "bot.db").resolve()
    assert load_config(path, env={}).storage == f"sqlite:///{str(expected).lstrip('/')}"


def test_relative_sqlite_path_from_the_environment_is_resolved_next_to_the_config_file(write_config) -> None:
    path = write_config("")
    expected = (path.parent / "other.db").resolve()
    config = load_config(path, env={"FAQBOT_STORAGE": "sqlite://other.db"})
    assert config.storage == f"sqlite:///{str(expected).lstrip('/')}"


def test_relative_sqlite_path_does_not_depend_on_the_working_directory(
    write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config("storage: sqlite://data/bot.db\n")
    first = load_config(path, env={}).storage
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_config(path, env={}).storage == first


@pytest.mark.parametrize("url", ["sqlite:///srv/faqbot/bot.db", "memory://", "redis://127.0.0.1:6379/0"])
def test_other_storage_urls_are_kept_as_written(write_config, url: str) -> None:
    assert load_config(write_config(f"storage: {url}\n"), env={}).storage == url


def test_relative_corpus_dir_is_resolved_next_to_the_config_file(write_config) -> None:
    path = write_config("corpus_dir: my_corpus\n")
    assert load_config(path, env={}).corpus_dir == path.parent.resolve() / "my_corpus"


def test_absolute_corpus_dir_is_kept(write_config, tmp_path: Path) -> None:
    path = write_config(f"corpus_dir: {tmp_path / 'corpus'}\n")
    assert load_config(path, env={}).corpus_dir == tmp_path / "corpus"
