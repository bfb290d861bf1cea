"""The one settings object of the product.

Every port, path and secret is read from the environment (or a `.env` file). Local
mode has working defaults so that `make run` needs nothing; production mode refuses
those defaults and any secret shorter than 32 characters.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, Optional

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent

# Secrets with a local default, and the default that production mode refuses.
LOCAL_SECRET_DEFAULTS: dict[str, str] = {
    "rasa_auth_token": "dev-rasa-token",
    "action_server_token": "dev-action-token",
    "api_service_token": "dev-service-token",
    "chat_token_secret": "dev-chat-token-secret-change-me-0123456789",
    "link_signing_secret": "dev-link-signing-secret-change-me-0123456789",
}


class Settings(BaseSettings):
    """Configuration, read once from the environment."""

    model_config = SettingsConfigDict(
        env_file=ROOT / ".env", env_file_encoding="utf-8", extra="ignore"
    )

    app_mode: Literal["local", "production"] = "local"

    # Our database (SQLite on a laptop, PostgreSQL in production).
    database_url: str = f"sqlite:///{ROOT / 'var' / 'app.db'}"

    # Where the three servers listen.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    public_base_url: str = ""  # e.g. https://support.partner.example; defaults to API
    rasa_url: str = "http://127.0.0.1:5005"
    action_server_url: str = "http://127.0.0.1:5055"

    # Secrets.
    rasa_auth_token: str = LOCAL_SECRET_DEFAULTS["rasa_auth_token"]
    action_server_token: str = LOCAL_SECRET_DEFAULTS["action_server_token"]
    api_service_token: str = LOCAL_SECRET_DEFAULTS["api_service_token"]
    chat_token_secret: str = LOCAL_SECRET_DEFAULTS["chat_token_secret"]
    link_signing_secret: str = LOCAL_SECRET_DEFAULTS["link_signing_secret"]

    # Lifetime of a customer's signed chat token and of a signed PDF link.
    chat_token_ttl_seconds: int = 3600
    pdf_link_ttl_seconds: int = 1800

    # Pattern that an invoice number must match (DOMAIN.md: D/G + 9 digits).
    invoice_number_pattern: str = r"[DG]\d{9}"

    # Rasa's tracker store, read by the review dashboard (api/dashboard/). Local mode:
    # the SQLite file named by RASA_TRACKER_DB (relative paths are from the repo
    # root). Production: RASA_TRACKER_URL, e.g. postgresql+psycopg://u:pw@host/rasa.
    rasa_tracker_db: str = str(ROOT / "var" / "rasa-tracker.db")
    rasa_tracker_url: str = ""

    # Review dashboard (api/dashboard/, docs/dashboard.md).
    dashboard_low_confidence_threshold: float = 0.5  # as config.yml's fallback
    dashboard_session_ttl_seconds: int = 8 * 3600
    dashboard_cookie_secure: Optional[bool] = None  # None: secure in production
    dashboard_ingest_on_request: bool = True  # read new events when a page opens
    dashboard_page_size: int = 50

    @property
    def base_url(self) -> str:
        """The public address of the API, used in links the bot sends."""
        return self.public_base_url or f"http://{self.api_host}:{self.api_port}"

    @model_validator(mode="after")
    def _refuse_defaults_in_production(self) -> Settings:
        if self.app_mode != "production":
            return self
        problems = []
        for field, default in LOCAL_SECRET_DEFAULTS.items():
            value = getattr(self, field)
            if value == default or len(value) < 32:
                problems.append(field.upper())
        if self.database_url.startswith("sqlite"):
            problems.append("DATABASE_URL (SQLite is for local mode)")
        if problems:
            raise ValueError(
                "production mode needs real values for: " + ", ".join(problems)
            )
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call `get_settings.cache_clear()`)."""
    return Settings()
