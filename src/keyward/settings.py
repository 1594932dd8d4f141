"""Configuration from `KEYWARD_*` environment variables: one Settings object, passed down."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEYWARD_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./var/keyward.db",
        description="sqlite:///path/to/file.db or postgresql://user@host/db",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_spec_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="Largest OpenAPI document accepted."
    )
    gateway_url: str = Field(
        default="http://127.0.0.1:8080",
        description="Where acquirers reach the gateway; exported specs point there.",
    )
    feed_interval: float = Field(
        default=0.25, gt=0, description="Seconds between change-feed polls."
    )
    cache_refresh: float = Field(
        default=300.0, gt=0, description="Seconds after which a cached key is re-read anyway."
    )
    log_level: str = "info"
