"""From the shared build options to a BuildConfig, refusing (pipeline.build.preflight.PreflightFailed, one
line per problem) whatever cannot work: runs before any Prefect server, model or ingest starts."""

from __future__ import annotations

from pathlib import Path

from flows.commands.build_options import STAGE_NAMES, BuildOptions
from pipeline.build.preflight import (
    PreflightFailed,
    Problem,
    check_endpoints,
    check_input,
    check_paths,
    check_roles,
    load_engine_settings,
)


def _check_values(opts: BuildOptions) -> list[Problem]:
    found = []
    if opts.backend not in (None, "embedded", "openai"):
        found.append(Problem("--backend", f"--backend: {opts.backend!r} is not a backend; choose embedded or openai"))
    stages, force = BuildOptions.names(opts.stages), BuildOptions.names(opts.force)
    for flag, names in (("--stages", stages), ("--force", force)):
        # --force may also name one stage of a plan entry (qa.text_qa); the plan checks those exactly
        unknown = [n for n in names or () if (n.split(".", 1)[0] if flag == "--force" else n) not in STAGE_NAMES]
        if unknown:
            found.append(Problem(flag, f"{flag}: unknown stage {', '.join(unknown)}; choose from {', '.join(STAGE_NAMES)}"))
    idle = [f for f in force or () if stages and f.split(".", 1)[0] not in stages]
    if idle:
        found.append(Problem("--force", f"--force {', '.join(idle)}: not among --stages"))
    return found


def check_build(input_dir: Path | None, out_dir: Path | None, opts: BuildOptions, *, extra: list[str] = (),
                endpoints: bool = True, input_files: bool = True):
    """A BuildConfig, or PreflightFailed listing every problem. `input_dir`/`out_dir` may be None
    (serve without a scheduled rebuild): then only the options are checked and None is returned.
    `endpoints`/`input_files`: also check the model endpoints, and that the input holds a document
    (a scheduled rebuild checks neither: endpoints may be up and articles there by the time it runs)."""
    problems = [Problem("", line) for line in extra] + _check_values(opts)
    problems += check_paths(input_dir, out_dir, cache_dir=opts.cache_dir, prompts_dir=opts.prompts_dir,
                            config=opts.config)
    settings = None
    if not any(p.option == "--config" for p in problems):
        settings, bad = load_engine_settings(opts.config, opts.engine_overrides())
        problems += bad
    if settings is not None:
        roles = check_roles(settings)
        problems += roles
        if endpoints and not roles:
            problems += check_endpoints(settings)
    stages = BuildOptions.names(opts.stages)
    if (input_files and input_dir is not None and out_dir is not None and (stages is None or "ingest" in stages)
            and not any(p.option in ("--input", "--out") for p in problems)):
        problems += check_input(input_dir, out_dir)
    if problems:
        raise PreflightFailed(problems)
    if input_dir is None or out_dir is None:
        return None
    config = make_config(input_dir, out_dir, opts, settings)
    _check_plan(config)
    return config


def _check_plan(config) -> None:
    """The plan itself refuses what only it can judge (e.g. --force qa.no_such_task)."""
    from pipeline.build import stage_plan

    try:
        stage_plan(config)
    except ValueError as exc:
        flag = "--force" if "--force" in str(exc) else "--stages"
        message = str(exc) if str(exc).startswith(flag) else f"{flag}: {exc}"
        raise PreflightFailed([Problem(flag, message)]) from exc


def make_config(input_dir: Path, out_dir: Path, opts: BuildOptions, settings):
    from pipeline.build import BuildConfig
    from pipeline.ingest.config import IngestConfig

    return BuildConfig(
        input_dir=input_dir.resolve(), out_dir=out_dir.resolve(), stages=BuildOptions.names(opts.stages),
        force=BuildOptions.names(opts.force) or [], limit=opts.limit, no_cache=opts.no_cache,
        cache_dir=opts.cache_dir.resolve() if opts.cache_dir else None, max_tokens=opts.max_tokens,
        prompts_dir=opts.prompts_dir, engine=settings,
        ingest=IngestConfig(**({"shard_size": opts.shard_size} if opts.shard_size else {})),
        **({"shard_workers": opts.shard_workers} if opts.shard_workers else {}))
