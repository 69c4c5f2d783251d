import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Converted models are cached here between runs; the tests' databases are temporary.
os.environ.setdefault(
    "EXBERT_HOME", os.path.join(os.path.dirname(os.path.dirname(__file__)), ".exbert-test")
)

import pytest  # noqa: E402

from tests import tiny  # noqa: E402

TINY_KINDS = ("bert-mlm", "bert-encoder", "gpt2", "llama")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    """Paths of tiny offline models, built once per test session."""
    root = tmp_path_factory.mktemp("tiny-models")
    return {kind: str(tiny.build(kind, root / kind)) for kind in TINY_KINDS}


@pytest.fixture(scope="session")
def nlp():
    from exbert.annotate import load_spacy

    return load_spacy()


_db_counter = iter(range(1, 10**6))


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory) -> str:
    """A real PostgreSQL with pgvector: EXBERT_TEST_DATABASE_URL, or a fresh embedded server."""
    url = os.environ.get("EXBERT_TEST_DATABASE_URL")
    if url:
        return url
    import tempfile
    from pathlib import Path

    from db import server

    # mkdtemp under /tmp: as root the server's service user must be able to enter it
    home = Path(tempfile.mkdtemp(prefix="exbert-test-pg-"))
    url = server.start(home)
    yield url
    server.stop(home)


@pytest.fixture
def make_db(pg_url):
    """Factory for a new, migrated, empty database; returns its libpq URL."""
    import psycopg

    from db import migrate

    created = []

    def make() -> str:
        name = f"exbert_t{os.getpid()}_{next(_db_counter)}"
        created.append(name)
        return migrate.fresh_database(pg_url, name)

    yield make
    from db.engine import get_engine

    get_engine.cache_clear()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(make_db) -> str:
    return make_db()


@pytest.fixture
def app_env(monkeypatch, tiny_models, db_url):
    """The app configured with a tiny masked LM as its default model and a fresh database."""
    from dashapp import services, store_access

    monkeypatch.setenv("EXBERT_MODEL", tiny_models["bert-mlm"])
    monkeypatch.setenv("EXBERT_DATABASE_URL", db_url)
    store_access._factory.cache_clear()
    services.clear_caches()
    yield {"model": tiny_models["bert-mlm"], "db_url": db_url}
    store_access._factory.cache_clear()
    services.clear_caches()


@pytest.fixture
def client(app_env):
    from dashapp.app import create_app

    return create_app().server.test_client()


@pytest.fixture(scope="session")
def search_corpus(tiny_models, pg_url):
    """The wiki sample's first ~400 sentences ingested with the tiny BERT; tests only read it."""

    from db import migrate
    from db.engine import sessions
    from exbert.model import load_model
    from ingest.pipeline import Ingestor
    from ingest.readers import read_wiki_sample

    url = migrate.fresh_database(pg_url, f"exbert_search_{os.getpid()}")
    model = tiny_models["bert-mlm"]
    Ingestor(sessions(url), load_model(model), "wiki").run(read_wiki_sample(), limit_sentences=400)
    return {"url": url, "model": model}


@pytest.fixture
def search_env(search_corpus, monkeypatch):
    """The app configured on the search corpus."""
    from dashapp import services, store_access

    monkeypatch.setenv("EXBERT_MODEL", search_corpus["model"])
    monkeypatch.setenv("EXBERT_DATABASE_URL", search_corpus["url"])
    store_access._factory.cache_clear()
    services.clear_caches()
    yield search_corpus
    store_access._factory.cache_clear()
