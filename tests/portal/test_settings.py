"""portal.settings: production mode refuses to start without its secrets and passes ``check --deploy``.

Settings are read once per process, so each case runs ``manage.py`` in a fresh subprocess with a clean
environment (only what the case sets).
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]
SECRET_KEY = "k7Qp2Zr9Xw4Lm8Nc3Vb6Hd1Fg5Js0Ta7Ye2Ui9Ok4Pl8Mn3Bv6Cx1Zq5Wr0Et7Ys"  # 66 characters
MASTER_KEY = base64.b64encode(bytes(range(100, 132))).decode()


def production_env(tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "PORTAL_MODE": "production",
        "SECRET_KEY": SECRET_KEY,
        "PORTAL_MASTER_KEYS": f"k1:{MASTER_KEY}",
        "ALLOWED_HOSTS": "portal.example",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
    }
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return manage(env, "check", "--deploy", "--fail-level", "WARNING")


def test_production_with_its_secrets_passes_the_deploy_check(tmp_path: Path) -> None:
    result = deploy_check(production_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_development_mode_fails_the_deploy_check(tmp_path: Path) -> None:
    # The twin of the test above: only PORTAL_MODE differs, so the deploy check really looks at the settings.
    result = deploy_check(production_env(tmp_path, PORTAL_MODE="development"))
    assert result.returncode != 0
    assert "security.W018" in result.stderr  # DEBUG is on


def test_production_without_secret_key_refuses_to_start(tmp_path: Path) -> None:
    result = deploy_check(production_env(tmp_path, SECRET_KEY=None))
    assert result.returncode != 0
    assert "Production mode needs SECRET_KEY: a random string of at least 50 characters." in result.stderr


def test_production_with_a_short_secret_key_refuses_to_start(tmp_path: Path) -> None:
    result = deploy_check(production_env(tmp_path, SECRET_KEY=SECRET_KEY[:49]))
    assert result.returncode != 0
    assert "Production mode needs SECRET_KEY" in result.stderr
    assert SECRET_KEY[:49] not in result.stderr


def test_production_with_a_50_character_secret_key_starts(tmp_path: Path) -> None:
    result = manage(production_env(tmp_path, SECRET_KEY=SECRET_KEY[:50]), "check")
    assert result.returncode == 0, result.stderr


def test_production_without_master_keys_refuses_to_start(tmp_path: Path) -> None:
    result = deploy_check(production_env(tmp_path, PORTAL_MASTER_KEYS=None))
    assert result.returncode != 0
    assert "Production mode needs PORTAL_MASTER_KEYS" in result.stderr
    assert "private keys cannot be sealed without it" in result.stderr


def test_production_with_a_bad_master_key_fails_the_check_without_showing_it(tmp_path: Path) -> None:
    short_key = base64.b64encode(bytes(range(200, 216))).decode()
    result = deploy_check(production_env(tmp_path, PORTAL_MASTER_KEYS=f"k1:{short_key}"))
    assert result.returncode != 0
    assert "keyprofiles.E001" in result.stderr
    assert "Master key 'k1' is 16 bytes" in result.stderr
    assert short_key not in result.stderr + result.stdout


def test_unknown_portal_mode_refuses_to_start(tmp_path: Path) -> None:
    result = manage(production_env(tmp_path, PORTAL_MODE="staging"), "check")
    assert result.returncode != 0
    assert "PORTAL_MODE must be 'development' or 'production', not 'staging'." in result.stderr
