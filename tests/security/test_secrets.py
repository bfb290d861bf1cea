"""Secrets come only from the environment, production refuses the local defaults, and
nothing secret is committed.

- api/settings.py: production mode refuses every local default secret, any secret
  under 32 characters, and SQLite.
- common/channels.py (the Rasa side; its channels are tested in
  tests/bot/channels/test_channel_secrets.py): the chat token secret as the API,
  no default at all for Slack's and Teams' secrets, HTTPS platform endpoints.
- The repository: the files git tracks (and new files it does not ignore) hold no
  private key, no real-looking Slack, GitHub, AWS or Entra credential, no JWT outside
  the tests, and only placeholder passwords.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.settings import LOCAL_SECRET_DEFAULTS, ROOT, Settings
from common import channels as config
from common import settings as S

REAL = {name: f"{name}-a-real-value-0123456789abcdef" for name in LOCAL_SECRET_DEFAULTS}
POSTGRES = "postgresql+psycopg://csp:pw@db.internal/csp"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing from the caller's environment (or .env) in the settings below."""
    for name in [*LOCAL_SECRET_DEFAULTS, "app_mode", "database_url"]:
        monkeypatch.delenv(name.upper(), raising=False)


def production(**values: str) -> Settings:
    given = {"app_mode": "production", "database_url": POSTGRES, **REAL, **values}
    return Settings(_env_file=None, **given)  # type: ignore[call-arg]


# --------------------------------------------------------------------------- the API


def test_production_takes_real_secrets_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in REAL.items():
        monkeypatch.setenv(name.upper(), value)
    monkeypatch.setenv("APP_MODE", "production")
    monkeypatch.setenv("DATABASE_URL", POSTGRES)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.api_service_token == REAL["api_service_token"]
    assert settings.chat_token_secret == REAL["chat_token_secret"]


@pytest.mark.parametrize("name", sorted(LOCAL_SECRET_DEFAULTS))
def test_production_refuses_each_local_default(name: str) -> None:
    with pytest.raises(ValidationError, match=name.upper()):
        production(**{name: LOCAL_SECRET_DEFAULTS[name]})


@pytest.mark.parametrize("name", sorted(LOCAL_SECRET_DEFAULTS))
def test_production_refuses_a_short_secret(name: str) -> None:
    with pytest.raises(ValidationError, match=name.upper()):
        production(**{name: "x" * 31})


def test_production_refuses_sqlite() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        production(database_url="sqlite:///var/app.db")


def test_local_mode_works_with_nothing_set() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.app_mode == "local"
    assert settings.api_service_token == LOCAL_SECRET_DEFAULTS["api_service_token"]


def test_the_channels_and_the_api_share_the_local_chat_token_default() -> None:
    assert LOCAL_SECRET_DEFAULTS["chat_token_secret"] == config.LOCAL_CHAT_TOKEN_SECRET


# --------------------------------------------------------------------------- channels


def test_the_channels_refuse_a_default_or_short_chat_token_secret_in_production() -> (
    None
):
    for secret in ("", config.LOCAL_CHAT_TOKEN_SECRET, "y" * 31):
        with pytest.raises(config.ChannelConfigError, match="CHAT_TOKEN_SECRET"):
            config.chat_token_secret(
                {"APP_MODE": "production", "CHAT_TOKEN_SECRET": secret}
            )
    real = "z" * 32
    assert (
        config.chat_token_secret({"APP_MODE": "production", "CHAT_TOKEN_SECRET": real})
        == real
    )


@pytest.mark.parametrize(
    "setting", [S.SLACK_BOT_TOKEN, S.SLACK_SIGNING_SECRET, S.TEAMS_APP_PASSWORD]
)
def test_platform_secrets_have_no_default(setting: S.Setting[str]) -> None:
    """Unset, a platform secret is empty (its channel is off), never a built-in."""
    name = setting.env
    assert config.setting(None, name.lower(), setting, env={}) == ""
    assert (
        config.setting(None, name.lower(), setting, env={name: " s3cr3t "}) == "s3cr3t"
    )


@pytest.mark.parametrize(
    "setting",
    [S.SLACK_API_BASE_URL, S.TEAMS_OPENID_METADATA_URL, S.TEAMS_LOGIN_BASE_URL],
)
def test_production_insists_on_https_platform_endpoints(
    setting: S.Setting[str],
) -> None:
    name = setting.env
    fake = {name: "http://127.0.0.1:9999/"}
    assert config.platform_url(None, "k", setting, env=fake) == (
        "http://127.0.0.1:9999/"
    )  # a test's fake, in local mode
    with pytest.raises(config.ChannelConfigError, match=name):
        config.platform_url(None, "k", setting, env={**fake, "APP_MODE": "production"})
    good = {name: "https://login.example/", "APP_MODE": "production"}
    assert config.platform_url(None, "k", setting, env=good) == (
        "https://login.example/"
    )


# --------------------------------------------------------------------------- the repo

# Placeholder passwords that examples and tests may put in service URLs. A real
# one never goes in a file: use the environment or deploy/k8s/secrets.env (ignored).
PLACEHOLDER_PASSWORDS = {"pw", "p", "password", "guest", "s%40cret", "rabbit-pw"}
FORBIDDEN = {
    "private key": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----"),
    "Slack token": re.compile(r"\bxox[abposre]-[0-9A-Za-z-]{20,}"),
    "Slack webhook": re.compile(
        r"hooks\.slack\.com/services/T[0-9A-Z]+/B[0-9A-Z]+/\w+"
    ),
    "GitHub token": re.compile(r"\bgh[pousr]_[0-9A-Za-z]{36,}"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "Entra client secret": re.compile(r"\b[0-9A-Za-z_.-]{3}\dQ~[0-9A-Za-z_.~-]{31,34}"),
}
JWT = re.compile(r"\beyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{20,}")
URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://[^:/\s@'\"]+:([^@\s/'\"]+)@")
# KEY=value / key: value in configuration files, for keys that name a secret.
CONFIG_SECRET = re.compile(
    r"^\s*(?:export\s+)?([A-Za-z0-9_]*(?:PASSWORD|SECRET|TOKEN|API_KEY))"
    r"\s*[=:]\s*['\"]?([^\s'\"#]*)",
    re.IGNORECASE | re.MULTILINE,
)
CONFIG_FILES = re.compile(
    r"(\.env(\..+)?|\.ya?ml|\.ini|\.cfg|\.toml|Procfile|Dockerfile)$"
)
PLACEHOLDER_VALUE = re.compile(
    r"^(|\$\{?\w+\}?.*|\.\.\..*|change-me.*|dev-.*|<.*>|password|"
    r"(chat|csrf|link)[_-]?tokens?|\w+_secret)$"
)


def repository_files() -> list[Path]:
    """What git tracks, and new files it does not ignore (about to be committed)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted(
        {ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()}
    )


def scan(path: Path, text: str) -> list[str]:
    """What in `text` looks like a committed secret."""
    relative = path.relative_to(ROOT).as_posix()
    found = [
        f"{relative}: {what}: {match.group(0)[:40]}"
        for what, pattern in FORBIDDEN.items()
        for match in pattern.finditer(text)
    ]
    if not relative.startswith("tests/"):
        found += [f"{relative}: JWT: {m.group(0)[:40]}" for m in JWT.finditer(text)]
    found += [
        f"{relative}: password in a URL: {m.group(0)[:60]}"
        for m in URL_PASSWORD.finditer(text)
        if m.group(1) not in PLACEHOLDER_PASSWORDS
        and not m.group(1).startswith(("[", "{", "$"))
    ]
    if CONFIG_FILES.search(relative) and "package-lock" not in relative:
        found += [
            f"{relative}: {m.group(1)} set to {m.group(2)[:12]}..."
            for m in CONFIG_SECRET.finditer(text)
            if not PLACEHOLDER_VALUE.match(m.group(2))
        ]
    return found


def test_no_secret_is_committed() -> None:
    files = repository_files()
    assert len(files) > 100, "git ls-files found too little: is this the repo?"
    problems: list[str] = []
    for path in files:
        if path.stat().st_size > 5_000_000:
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        problems += scan(path, text)
    assert not problems, "committed secrets?\n" + "\n".join(problems)


def test_env_files_are_not_committed() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in repository_files()}
    assert ".env" not in names
    assert not [n for n in names if n.endswith("secrets.env")]
    for name in (".env", "deploy/k8s/secrets.env"):
        ignored = subprocess.run(["git", "check-ignore", "-q", name], cwd=ROOT)
        assert ignored.returncode == 0, f"{name} must be git-ignored"


BEGIN = "-----BEGIN "  # the samples are split so that this file does not match


@pytest.mark.parametrize(
    ("text", "caught"),
    [
        ("key = '''\n" + BEGIN + "RSA PRIVATE KEY-----\nMIIE", "private key"),
        (BEGIN + "PRIVATE KEY-----", "private key"),
        ("SLACK_BOT_TOKEN=xox" + "b-1234567890-1234567890123-AbCdEfGhIjKl", "Slack"),
        ("token = 'ghp_" + "a1" * 18 + "'", "GitHub"),
        ("aws = AKIA" + "IOSFODNN7EXAMPLE", "AWS"),
        ("TEAMS_APP_PASSWORD=abc8Q~" + "x" * 34, "Entra"),
        (
            "DATABASE_URL=postgresql+psycopg://csp:" + "Hunter2-prod@db/csp",
            "password in a URL",
        ),
        (
            "jwt = eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
            "JWT",
        ),
    ],
)
def test_the_scan_catches_what_it_looks_for(text: str, caught: str) -> None:
    problems = scan(ROOT / "api" / "example.py", text)
    assert any(caught in problem for problem in problems), problems


def test_the_scan_reads_configuration_files() -> None:
    assert scan(
        ROOT / ".env.production", "API_SERVICE_TOKEN=s3cr3t-real-value-0123456789"
    )
    assert not scan(ROOT / "deploy" / "x.yml", "  token: ${ACTION_SERVER_TOKEN}")
    assert not scan(ROOT / "x.env.example", "CHAT_TOKEN_SECRET=change-me-at-least-32")
    assert not scan(ROOT / "x.yml", "url: postgresql+psycopg://csp:pw@host/db")


def test_the_api_reads_every_setting_of_the_common_table_with_its_default() -> None:
    """api/settings.py and the code inside Rasa take names and defaults from one
    table (common/settings.py): no field of one is missing from the other."""
    fields = Settings.model_fields
    for setting in S.all_settings():
        assert setting.field in fields, setting.env
        default = fields[setting.field].default
        if setting.default in ("",) and isinstance(default, str) and default:
            continue  # a path under the repository, filled in by api/settings.py
        assert default == setting.default, setting.env
    table = {setting.field for setting in S.all_settings()}
    assert set(fields) - table == {"dashboard_cookie_secure"}
