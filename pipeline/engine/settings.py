"""Engine configuration: per-role model choice from env vars (PMC_INSTRUCT_*, nested with `__`) and a
TOML/YAML file (--config or PMC_INSTRUCT_CONFIG). API keys only come from the environment and never
appear in a dump or repr of these models."""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

EMBEDDED_MODELS = ("smollm2-135m", "gemma3-270m")
DEFAULT_EMBEDDED_MODEL = "smollm2-135m"
HttpTransport = Literal["aiohttp", "httpx"]  # the openai SDK's HTTP transport for a role

# Set by load_settings(--config); read when the settings sources are assembled.
_CONFIG_PATH: ContextVar[Path | None] = ContextVar("pmc_instruct_config_path", default=None)


class ModelRole(BaseModel):
    """One role (text or vision): which backend serves it and how hard to push it."""

    backend: Literal["embedded", "openai"] = "embedded"
    base_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    model: str = Field("", description="server model name (openai) or embedded model key")
    concurrency: int = Field(64, ge=1, le=4096)
    timeout_s: float = Field(120.0, gt=0)
    max_image_side: int = Field(1024, ge=32)
    api_key_env: str = Field("PMC_INSTRUCT_API_KEY", description="NAME of the env var holding the key")
    max_attempts: int = Field(6, ge=1, description="transport attempts per call (tenacity)")
    backoff_initial_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(30.0, ge=0)
    endpoint_cooldown_s: float = Field(15.0, ge=0, description="how long a failed base URL is avoided")
    max_tokens_cap: int = Field(1024, ge=1, description="upper bound on any request's max_tokens")
    http_transport: HttpTransport = Field(
        "aiohttp", description="the openai SDK's HTTP transport: aiohttp (faster) or its httpx2 default")
    # embedded only
    token_budget: int = Field(12288, ge=256, description="batch_size * (prompt + new tokens) bound")
    max_batch: int = Field(32, ge=1)
    threads: int | None = Field(None, description="torch threads; default: half the cores this process may use")

    @field_validator("base_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        # Env vars may give a JSON list or a comma-separated string.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @property
    def uses_endpoint(self) -> bool:
        return self.backend == "openai" and bool(self.base_urls)

    def resolve_api_key(self, fallback: SecretStr | None = None) -> SecretStr | None:
        """The key from the env var named by api_key_env, else PMC_INSTRUCT_API_KEY, else OPENAI_API_KEY."""
        for name in (self.api_key_env, "PMC_INSTRUCT_API_KEY", "OPENAI_API_KEY"):
            value = os.environ.get(name)
            if value:
                return SecretStr(value)
        return fallback


class EmbedRole(ModelRole):
    """De-leak's sentence-embedding model. embedded: the all-MiniLM-L6-v2 shipped with the package, on
    this machine's CPU (`model` is ignored); openai: POST /embeddings on base_urls (e.g. `vllm serve
    sentence-transformers/all-MiniLM-L6-v2 --task embed`), `model` naming the served model. Giving
    base_urls without a backend means openai. `max_batch` is inputs per request; `threads` the torch
    threads of the local model (0: torch's default)."""

    concurrency: int = Field(16, ge=1, le=4096)
    # Torch's default (two threads here): one thread saved ~15 % of MiniLM's CPU on a busy machine
    # but nearly doubled its wall time on an idle one (README "De-leak embeddings on an endpoint").
    threads: int | None = Field(0, ge=0, description="torch threads of the local MiniLM; 0: torch's default (fastest on an idle machine)")
    max_batch: int = Field(256, ge=1, description="inputs per /embeddings request")
    timeout_s: float = Field(60.0, gt=0)

    @model_validator(mode="after")
    def _endpoint_when_urls(self) -> "EmbedRole":
        if self.base_urls and "backend" not in self.model_fields_set:
            self.backend = "openai"
        return self


def _default_vision() -> ModelRole:
    # The embedded model reads text only: an unconfigured vision role means "no vision backend".
    return ModelRole(backend="embedded")


class EngineSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PMC_INSTRUCT_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    text: ModelRole = Field(default_factory=ModelRole)
    vision: ModelRole = Field(default_factory=_default_vision)
    embed: EmbedRole = Field(default_factory=EmbedRole)
    # Only from the environment (PMC_INSTRUCT_API_KEY); excluded from dumps and repr.
    api_key: SecretStr | None = Field(None, exclude=True, repr=False)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _CONFIG_PATH.get() or (Path(p) if (p := os.environ.get("PMC_INSTRUCT_CONFIG")) else None)
        if path is not None:
            sources.append(_FileSource(settings_cls, Path(path)))
        return tuple(sources)


class _FileSource(PydanticBaseSettingsSource):
    """Reads the `models` table of a TOML/YAML config file (or its top level when there is none).
    An api_key in a file is refused: keys come from the environment only."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        if path.suffix.lower() not in (".toml", ".yaml", ".yml"):
            raise ValueError(f"config file {path}: use .toml, .yaml or .yml")
        raw = _read_raw(path)
        table = raw.get("models") if isinstance(raw.get("models"), dict) else raw
        if _has_key(table, "api_key"):
            raise ValueError(f"config file {path} holds an api_key: put keys in the environment instead")
        self._data = {k: v for k, v in table.items() if k in ("text", "vision", "embed")}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def _read_raw(path: Path) -> dict[str, Any]:
    if path.suffix.lower() == ".toml":
        import tomllib

        return tomllib.loads(path.read_text(encoding="utf-8"))
    import yaml

    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else {}


def _has_key(node: Any, key: str) -> bool:
    if isinstance(node, dict):
        return any(k == key or _has_key(v, key) for k, v in node.items())
    if isinstance(node, list):
        return any(_has_key(v, key) for v in node)
    return False


def load_settings(config: Path | None = None, **overrides: Any) -> EngineSettings:
    """Settings from (highest first) overrides, PMC_INSTRUCT_* env vars, then the config file."""
    token = _CONFIG_PATH.set(Path(config) if config else None)
    try:
        return EngineSettings(**overrides)
    finally:
        _CONFIG_PATH.reset(token)
