"""Which Prefect API a CLI build reports to: a configured one (environment or active profile) when
there is one, else a server of its own (exercised end to end by tests/reliability/test_signals.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def configured(tmp_path: Path, profiles: str | None, **env: str) -> str:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    if profiles is not None:
        (home / "profiles.toml").write_text(profiles)
    code = ("import sys; from flows.server import configured_api_url; "
            "print(configured_api_url()); print('prefect' in sys.modules)")
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "PREFECT_HOME": str(home)}
    done = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True,
                          check=True, timeout=60)
    url, imported = done.stdout.split()
    assert imported == "False"  # deciding must not import Prefect (it reads PREFECT_API_URL at import)
    return url


def test_environment_wins(tmp_path):
    assert configured(tmp_path, None, PREFECT_API_URL="http://10.0.0.5:4200/api") == "http://10.0.0.5:4200/api"


def test_the_active_profile_counts(tmp_path):
    profiles = ('active = "team"\n[profiles.default]\n'
                '[profiles.team]\nPREFECT_API_URL = "http://prefect.lab:4200/api"\n')
    assert configured(tmp_path, profiles) == "http://prefect.lab:4200/api"
    assert configured(tmp_path, profiles, PREFECT_PROFILE="default") == "None"


def test_nothing_configured_means_our_own_server(tmp_path):
    assert configured(tmp_path, None) == "None"
    assert configured(tmp_path, "not = [valid toml") == "None"
