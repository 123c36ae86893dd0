"""Everything a build can be refused for, checked before anything expensive starts (a Prefect server,
a model load, an ingest): engine settings, the endpoints (reachable, model listed), the paths and
whether the input holds anything to ingest. Each problem is one line that names the option to fix;
all of them are reported together, so one rerun fixes them all."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENDPOINT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Problem:
    option: str  # the command-line option (or setting) to change
    message: str  # one line, already naming the option

    def __str__(self) -> str:
        return self.message


class PreflightFailed(ValueError):
    """The build cannot start; `problems` says why, one line each."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(p.message for p in problems))
        self.problems = problems


def check_paths(input_dir: Path | None, out_dir: Path | None, *, cache_dir: Path | None = None,
                prompts_dir: Path | None = None, config: Path | None = None) -> list[Problem]:
    """Folders and files the options name: present where they must be, and input and output apart."""
    from pipeline.io.layout import LayoutMismatch, apart_problem, check_layout

    found: list[Problem] = []
    if input_dir is not None:
        if not input_dir.exists():
            found.append(Problem("--input", f"--input: {input_dir} does not exist"))
        elif not input_dir.is_dir():
            found.append(Problem("--input", f"--input: {input_dir} is a file; give the folder that holds the articles"))
    if out_dir is not None:
        if out_dir.exists() and not out_dir.is_dir():
            found.append(Problem("--out", f"--out: {out_dir} is a file; give a folder (it is created if absent)"))
        elif input_dir is not None and input_dir.is_dir() and (why := apart_problem(input_dir, out_dir)):
            found.append(Problem("--out", f"--out: {why} (--input); write the build to a folder outside the input"))
        if out_dir.is_dir():
            try:
                check_layout(out_dir)
            except LayoutMismatch as exc:
                found.append(Problem("--out", f"--out: {exc}"))
    if cache_dir is not None and cache_dir.exists() and not cache_dir.is_dir():
        found.append(Problem("--cache-dir", f"--cache-dir: {cache_dir} is a file; give a folder"))
    if prompts_dir is not None and not prompts_dir.is_dir():
        found.append(Problem("--prompts-dir", f"--prompts-dir: {prompts_dir} is not a folder"))
    if config is not None and not config.is_file():
        found.append(Problem("--config", f"--config: {config} does not exist or is not a file"))
    return found


def load_engine_settings(config: Path | None, overrides: dict[str, Any]) -> tuple[Any, list[Problem]]:
    """EngineSettings from --config, PMC_INSTRUCT_* variables and options; each invalid value one line."""
    from pydantic import ValidationError

    from pipeline.engine.settings import load_settings

    try:
        return load_settings(config, **overrides), []
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            env = "PMC_INSTRUCT_" + "__".join(str(p) for p in err["loc"]).upper()
            lines.append(Problem("--config", f"--config / {env}: {where}: {err['msg']} (got {err.get('input')!r})"))
        return None, lines
    except (OSError, ValueError) as exc:  # unreadable or refused config file
        return None, [Problem("--config", f"--config: {exc}")]


def check_roles(settings: Any) -> list[Problem]:
    """Choices that cannot work whatever the endpoints answer."""
    from pipeline.engine.settings import EMBEDDED_MODELS

    found = []
    text, vision = settings.text, settings.vision
    if text.backend == "openai" and not text.base_urls:
        found.append(Problem("--base-url", "--base-url is needed with --backend openai: the OpenAI-compatible "
                             "server's URL, e.g. http://localhost:8000/v1"))
    elif text.backend == "openai" and not text.model:
        found.append(Problem("--model", "--model is needed with --base-url: the model name the server serves "
                             "(`pmc-instruct models check` lists them)"))
    if text.backend == "embedded" and text.model and text.model not in EMBEDDED_MODELS:
        found.append(Problem("--model", f"--model: {text.model!r} is not an embedded model; choose "
                             f"{' or '.join(EMBEDDED_MODELS)}, or give --base-url for a server model"))
    if vision.backend == "openai" and vision.base_urls and not vision.model:
        found.append(Problem("--vision-model", "--vision-model is needed with --vision-base-url: the vision "
                             "model name the server serves"))
    embed = settings.embed
    if embed.backend == "openai" and not embed.base_urls:
        found.append(Problem("--embed-base-url", "--embed-base-url is needed with PMC_INSTRUCT_EMBED__BACKEND=openai: "
                             "the OpenAI-compatible embeddings server's URL, e.g. http://localhost:8001/v1"))
    elif embed.backend == "openai" and not embed.model:
        found.append(Problem("--embed-model", "--embed-model is needed with --embed-base-url: the embedding model "
                             "name the server serves, e.g. sentence-transformers/all-MiniLM-L6-v2"))
    return found


def _listed_models(url: str, api_key: str | None, timeout: float) -> tuple[list[str] | None, str | None]:
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        resp = httpx.get(f"{url.rstrip('/')}/models", headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        return None, f"not reachable ({type(exc).__name__}: {exc or 'no answer'})"
    if resp.status_code in (401, 403):
        return None, (f"refused the API key (HTTP {resp.status_code}); set PMC_INSTRUCT_API_KEY "
                      "(or the variable named by api_key_env)")
    if resp.status_code != 200:
        return None, f"GET /models answered HTTP {resp.status_code}; is this an OpenAI-compatible /v1 URL?"
    try:
        return [str(m["id"]) for m in resp.json().get("data", [])], None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, "GET /models did not answer an OpenAI-style model list; is this an OpenAI-compatible /v1 URL?"


def check_endpoints(settings: Any, timeout: float = ENDPOINT_TIMEOUT_S) -> list[Problem]:
    """Every configured base URL answers GET /models and lists the role's model (checked in parallel)."""
    from pipeline.engine.redact import redact

    jobs = []
    for role_name, flag, model_flag in (("text", "--base-url", "--model"),
                                        ("vision", "--vision-base-url", "--vision-model"),
                                        ("embed", "--embed-base-url", "--embed-model")):
        role = getattr(settings, role_name)
        if not role.uses_endpoint or not role.model:
            continue
        key = role.resolve_api_key(settings.api_key)
        for url in role.base_urls:
            jobs.append((flag, model_flag, role.model, url, key.get_secret_value() if key else None))
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(jobs))) as pool:
        answers = list(pool.map(lambda j: _check_one(*j, timeout), jobs))
    found = []
    for (flag, model_flag, model, url, _), (names, error) in zip(jobs, answers):
        if error is not None:
            found.append(Problem(flag, redact(f"{flag} {url}: {error}")))
        elif model not in names:
            served = ", ".join(names[:8]) + (" ..." if len(names) > 8 else "") or "nothing"
            found.append(Problem(model_flag, f"{model_flag} {model}: not served by {url} (it serves: {served})"))
    return found


def _check_one(flag: str, model_flag: str, model: str, url: str, api_key: str | None,
               timeout: float) -> tuple[list[str] | None, str | None]:
    names, error = _listed_models(url, api_key, timeout)
    if error is None and flag == "--embed-base-url" and model in names:
        error = embedding_problem(url, model, api_key, timeout)
    return names, error


def embedding_problem(url: str, model: str, api_key: str | None, timeout: float) -> str | None:
    """None when POST /embeddings turns one sentence into a vector; else why not (a chat model served
    without `--task embed` is listed by /models but answers 400 here)."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        resp = httpx.post(f"{url.rstrip('/')}/embeddings", headers=headers, timeout=timeout,
                          json={"model": model, "input": ["preflight check"], "encoding_format": "float"})
    except httpx.HTTPError as exc:
        return f"POST /embeddings: not reachable ({type(exc).__name__}: {exc or 'no answer'})"
    if resp.status_code != 200:
        return (f"POST /embeddings for {model} answered HTTP {resp.status_code} ({resp.text[:200]!r}); is it "
                "served as an embedding model (vLLM: --task embed)?")
    try:
        vector = resp.json()["data"][0]["embedding"]
        if not vector or not all(isinstance(x, (int, float)) for x in vector):
            raise ValueError
    except (ValueError, KeyError, IndexError, TypeError):
        return "POST /embeddings did not answer an OpenAI-style embedding list"
    return None


def check_input(input_dir: Path, out_dir: Path, fmt: str = "auto") -> list[Problem]:
    """The input holds at least one document ingest would read."""
    from pipeline.ingest import InputFolderError
    from pipeline.ingest.discover import discover

    try:
        discover(input_dir, fmt, exclude=out_dir)
    except InputFolderError as exc:
        return [Problem("--input", f"--input: {exc}")]
    return []
