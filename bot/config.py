"""Configuration: one typed object loaded from config.yaml, with FAQBOT_* environment overrides for secrets."""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """config.yaml is unreadable or a key has a value the bot cannot use."""


@dataclass(frozen=True)
class MatchSettings:
    """Thresholds of the decision, chosen on the evaluation set (see README, "Tuning")."""

    answer_threshold: float = 55.0
    answer_margin: float = 8.0
    suggest_threshold: float = 35.0
    max_suggestions: int = 3
    shortlist_size: int = 12
    sure_threshold: float = 101.0
    single_threshold: float = (
        101.0  # one close entry alone at or above this (or answer_threshold) is answered
    )
    pair_threshold: float = 101.0  # two close entries both at or above this get both answers, not a list
    coverage_weight: float = 0.30
    overlap_weight: float = 0.20
    containment_weight: float = 0.20
    fuzzy_weight: float = 0.30
    core_weight: float = 0.0


@dataclass(frozen=True)
class BlindThresholds:
    """The gate for blind sets (`blind-*.yaml`): written without sight of the corpus and scored by the facts
    in the answers, they are harder than the corpus authors' sets and get figures of their own."""

    min_answerable_accuracy: float = 0.82
    max_wrong_rate: float = 0.07
    min_oos_declined: float = 0.85
    max_suggest_rate: float = 0.10
    min_one_tap: float = 0.90


@dataclass(frozen=True)
class EvalThresholds:
    """Minimum figures `python -m bot eval` demands before it exits 0."""

    min_answerable_accuracy: float = 0.95
    max_wrong_rate: float = 0.02
    min_oos_declined: float = 0.90
    max_suggest_rate: float = 1.0
    min_one_tap: float = 0.0
    sets: tuple[str, ...] = ("eval.yaml",)
    """Evaluation files (in the corpus folder) that `python -m bot eval` runs by default: the CI gate."""
    blind: BlindThresholds = field(default_factory=BlindThresholds)

    def for_set(self, name: str) -> EvalThresholds | BlindThresholds:
        """The thresholds that apply to an evaluation file."""
        return self.blind if name.startswith("blind-") else self


@dataclass(frozen=True)
class WeChatConfig:
    """Official Account credentials and protocol bounds."""

    token: str = ""
    aes_key: str = ""
    app_id: str = ""
    max_clock_skew: int = 300
    max_body_bytes: int = 64 * 1024
    transfer_to_human: bool = False
    menu_keys: Mapping[str, str] = field(default_factory=dict)
    mode: str = ""  # plain | compatible | safe; empty: safe with an aes_key, else plain

    @property
    def effective_mode(self) -> str:
        """The mode in force: the configured one, or safe when an EncodingAESKey is set, else plain."""
        return self.mode or ("safe" if self.aes_key else "plain")

    menu: list[Any] = field(
        default_factory=list
    )  # custom menu buttons, checked by bot.wechat_menu.build_menu


@dataclass(frozen=True)
class ServerConfig:
    """HTTP-facing bounds and the admin token."""

    admin_token: str = ""
    max_question_chars: int = 500
    max_body_bytes: int = 64 * 1024
    rate_limit_per_minute: int = 30
    rate_limit_per_address: int = 120
    trusted_proxies: int = 0
    admin_failures_per_minute: int = 10
    question_log_days: int = 365
    watch_corpus: bool = True
    watch_interval: float = 2.0
    metrics_allow: tuple[str, ...] = ()
    """Addresses or networks (127.0.0.1, 10.0.0.0/8) that may read /metrics without the admin token."""


@dataclass(frozen=True)
class DialogueConfig:
    """Conversation state lifetime and the contact details quoted in declines."""

    session_ttl: int = 1800
    dedupe_ttl: int = 600
    contact_phone: str = "023-68480331"
    contact_email: str = "int.med@cqmu.edu.cn"
    user_hash_salt: str = "faqbot"


@dataclass(frozen=True)
class Config:
    """Everything the bot and the server need, passed down explicitly."""

    corpus_dir: Path = Path("faq_corpus")
    storage: str = "sqlite://var/faqbot.db"
    analysis_cache: str = "var/analysis.cache"
    """The file that keeps the corpus analysis between starts (relative to config.yaml); empty: none."""
    match: MatchSettings = field(default_factory=MatchSettings)
    eval: EvalThresholds = field(default_factory=EvalThresholds)
    wechat: WeChatConfig = field(default_factory=WeChatConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    dialogue: DialogueConfig = field(default_factory=DialogueConfig)
    log_level: str = "INFO"


ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "FAQBOT_WECHAT_TOKEN": ("wechat", "token"),
    "FAQBOT_WECHAT_AES_KEY": ("wechat", "aes_key"),
    "FAQBOT_WECHAT_APPID": ("wechat", "app_id"),
    "FAQBOT_ADMIN_TOKEN": ("server", "admin_token"),
    "FAQBOT_STORAGE": ("", "storage"),
    "FAQBOT_WECHAT_MODE": ("wechat", "mode"),
    "FAQBOT_USER_HASH_SALT": ("dialogue", "user_hash_salt"),
}

SHIPPED_USER_HASH_SALT = "faqbot"
WECHAT_MODES = ("plain", "compatible", "safe")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# (section, key) -> (smallest allowed value, largest or None): values outside break every request or a thread.
RANGES: dict[tuple[str, str], tuple[float, float | None]] = {
    ("server", "max_question_chars"): (1, None),
    ("server", "max_body_bytes"): (1, None),
    ("server", "rate_limit_per_minute"): (0, None),
    ("server", "rate_limit_per_address"): (0, None),
    ("server", "trusted_proxies"): (0, 10),
    ("server", "admin_failures_per_minute"): (0, None),
    ("server", "question_log_days"): (0, None),
    ("server", "watch_interval"): (0.1, 3600),
    ("dialogue", "session_ttl"): (1, None),
    ("dialogue", "dedupe_ttl"): (1, None),
    ("wechat", "max_clock_skew"): (0, 86400),
    ("wechat", "max_body_bytes"): (1, None),
}


def _build(cls: type, data: Any, where: str) -> Any:
    """Build a dataclass from a mapping, naming any unknown key or wrong type."""
    if data is None:
        return cls()
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of settings, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(known)}")
    defaults = cls()
    values: dict[str, Any] = {}
    for name, value in data.items():
        current = getattr(defaults, name)
        key = f"{where}.{name}" if where else name
        if is_dataclass(current):
            values[name] = _build(type(current), value, key)
        else:
            values[name] = _coerce(current, value, key)
    return cls(**values)


def _coerce(default: Any, value: Any, key: str) -> Any:
    """Check one scalar against the type of its default."""
    if isinstance(default, Path):
        return Path(str(value))
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if isinstance(default, int | float) and not isinstance(default, bool):
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"{key}: expected a finite number, got {value!r}")
            if isinstance(default, float):
                return float(value)
            if value != int(value):
                raise ConfigError(f"{key}: expected a whole number, got {value!r}")
            return int(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if isinstance(default, str):
        if value is None:
            return ""
        if isinstance(value, str | int | float):
            return str(value)
        raise ConfigError(f"{key}: expected text, got {value!r}")
    if isinstance(default, tuple):
        if value is None:
            return ()
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{key}: expected a list of text, got {value!r}")
    if isinstance(default, Mapping):
        if value is None:
            return {}
        if isinstance(value, Mapping):
            return {str(k): str(v) for k, v in value.items()}
        raise ConfigError(f"{key}: expected a mapping, got {value!r}")
    return value


def _validate(config: Config) -> None:
    """Cross-field checks with a message that says how to fix the value."""
    m = config.match
    if not 0 <= m.suggest_threshold <= m.answer_threshold <= 100:
        raise ConfigError(
            "match: need 0 <= suggest_threshold <= answer_threshold <= 100, "
            f"got suggest_threshold={m.suggest_threshold}, answer_threshold={m.answer_threshold}"
        )
    if m.max_suggestions < 1 or m.shortlist_size < m.max_suggestions:
        raise ConfigError("match: max_suggestions must be >= 1 and shortlist_size >= max_suggestions")
    for network in config.server.metrics_allow:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(
                f"server.metrics_allow: {network!r} is not an address or network such as 10.0.0.0/8"
            ) from None
    if config.wechat.menu:
        from bot.wechat_menu import MenuError, build_menu

        try:
            build_menu(config.wechat.menu, config.wechat.menu_keys)
        except MenuError as exc:
            raise ConfigError(str(exc)) from exc
    aes = config.wechat.aes_key
    if aes and len(aes) != 43:
        raise ConfigError(f"wechat.aes_key: an EncodingAESKey has 43 characters, this one has {len(aes)}")
    _validate_ranges(config)
    mode = config.wechat.mode
    if mode and mode not in WECHAT_MODES:
        raise ConfigError(f"wechat.mode: expected one of {', '.join(WECHAT_MODES)}, got {mode!r}")
    if mode in ("compatible", "safe") and not aes:
        raise ConfigError(f"wechat.mode: {mode} mode needs wechat.aes_key (FAQBOT_WECHAT_AES_KEY)")
    if config.log_level.upper() not in LOG_LEVELS:
        raise ConfigError(f"log_level: expected one of {', '.join(LOG_LEVELS)}, got {config.log_level!r}")


def _validate_ranges(config: Config) -> None:
    """Refuse at start-up a number that would break every request (a zero TTL, a negative interval)."""
    for (section, key), (low, high) in RANGES.items():
        value = getattr(getattr(config, section), key)
        if value < low or (high is not None and value > high):
            bound = f"at least {low}" if high is None else f"between {low} and {high}"
            raise ConfigError(f"{section}.{key}: must be {bound}, got {value!r}")


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read config.yaml (or defaults when path is None), apply environment overrides, validate."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        file = Path(path)
        try:
            loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read ({exc.strerror})") from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" line {mark.line + 1}" if mark else ""
            raise ConfigError(f"{file}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
        raw = loaded or {}
        base = file.resolve().parent
    for var, (section, key) in ENV_OVERRIDES.items():
        if env.get(var):
            target = raw.setdefault(section, {}) if section else raw
            if section and not isinstance(target, dict):
                raise ConfigError(f"{section}: expected a mapping of settings")
            target[key] = env[var]
    config: Config = _build(Config, raw, "")
    if not config.corpus_dir.is_absolute():
        config = _replace(config, corpus_dir=base / config.corpus_dir)
    config = _replace(config, storage=_resolve_storage(config.storage, base))
    if config.analysis_cache and not Path(config.analysis_cache).is_absolute():
        config = _replace(config, analysis_cache=str(base / config.analysis_cache))
    _validate(config)
    return config


def _resolve_storage(url: str, base: Path) -> str:
    """Make a relative SQLite path relative to the config file, not to the working directory."""
    relative = "sqlite://"
    if url.startswith(relative) and not url.startswith("sqlite:///"):
        return "sqlite:///" + str(base / url[len(relative) :]).lstrip("/")
    return url


def _replace(config: Config, **changes: Any) -> Config:
    from dataclasses import replace

    return replace(config, **changes)
