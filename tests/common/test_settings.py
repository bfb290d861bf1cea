"""`common/settings.py` is the one definition of every setting's name and default:
the API's pydantic settings and the code inside Rasa read the same table."""

from __future__ import annotations

import pytest

from common import settings as S


def test_every_setting_has_a_unique_upper_case_name() -> None:
    names = [setting.env for setting in S.all_settings()]
    assert len(names) == len(set(names))
    assert all(name == name.upper() and name.isidentifier() for name in names)


@pytest.mark.parametrize(
    ("setting", "text", "value"),
    [
        (S.API_PORT, " 9000 ", 9000),
        (S.RASA_TRACKER_RETRY_SECONDS, "2.5", 2.5),
        (S.WIDGET_ALLOW_ANONYMOUS, "off", False),
        (S.WIDGET_ALLOW_ANONYMOUS, "YES", True),
        (S.REDIS_KEY_PREFIX, "abc", "abc"),
    ],
)
def test_values_are_read_as_the_defaults_type(
    setting: S.Setting, text: str, value: object
) -> None:
    assert setting.get({setting.env: text}) == value
    assert setting.get({}) == setting.default
    assert setting.get({setting.env: "  "}) == setting.default


def test_a_value_of_the_wrong_type_is_refused_with_its_name() -> None:
    with pytest.raises(S.SettingError, match="API_PORT"):
        S.API_PORT.get({"API_PORT": "eighty"})
    with pytest.raises(S.SettingError, match="WIDGET_ALLOW_ANONYMOUS"):
        S.WIDGET_ALLOW_ANONYMOUS.get({"WIDGET_ALLOW_ANONYMOUS": "maybe"})


def test_production_refuses_default_and_short_secrets() -> None:
    for secret in S.SECRETS:
        assert S.weak_secret(secret, secret.default)
        assert S.weak_secret(secret, "x" * (S.MIN_SECRET_LENGTH - 1))
        assert not S.weak_secret(secret, "x" * S.MIN_SECRET_LENGTH)
