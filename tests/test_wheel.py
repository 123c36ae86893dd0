"""A wheel of pmc-instruct carries what the code reads at run time (prompt templates, the report
template), and an install from it (not the editable checkout) loads every prompt template."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_wheel_ships_prompts_and_templates_and_an_install_loads_them(tmp_path):
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # Build from a copy: setuptools builds in the source tree, and a build/ left there by an earlier
    # build could supply files the current configuration no longer ships.
    src = tmp_path / "src"
    skip = shutil.ignore_patterns(".git", ".venv", "out", "*.egg-info", "__pycache__", ".pytest_cache", "node_modules")

    def ignore(folder: str, names: list[str]) -> set[str]:
        # setuptools' build/ at the top only: pipeline/build/ is a package
        return set(skip(folder, names)) | ({"build"} if Path(folder) == REPO else set())

    shutil.copytree(REPO, src, ignore=ignore)
    # --no-build-isolation: build with this venv's setuptools (tests never reach the network).
    subprocess.run([*pip, "wheel", str(src), "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "whl")],
                   check=True, cwd=tmp_path)
    [wheel] = (tmp_path / "whl").glob("pmc_instruct-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    prompts = sorted(p.stem for p in (REPO / "prompts").glob("*.yaml"))
    assert prompts and {f"prompts/{name}.yaml" for name in prompts} <= names
    assert "pipeline/report/templates/report.html.j2" in names

    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, cwd=tmp_path)
    probe = (
        "import sys, pipeline.prompts as p\n"
        "assert p.__file__.startswith(sys.argv[1]), p.__file__\n"
        "for name in sys.argv[2:]:\n"
        "    assert p.load_template(name).version, name\n"
        "print(p.default_prompts_dir())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PMC_INSTRUCT_PROMPTS_DIR"}
    env["PYTHONPATH"] = str(site)  # ahead of the editable checkout (its finder comes last)
    done = subprocess.run([sys.executable, "-c", probe, str(site), *prompts], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(site / "prompts")
