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


def pytest_sessionstart(session):
    """Start from empty process caches: a forked run (scripts/mutation) inherits its
    parent's, and a model loaded there would run the unmutated code (and a pooled
    connection would be shared with sibling processes)."""
    from db.engine import get_engine
    from exbert.model import _load
    from explore import indexing

    _load.cache_clear()
    get_engine.cache_clear()
    indexing.forget_builds()  # mutmut's stats and clean runs share one process


@pytest.fixture(autouse=True)
def _fresh_models_under_mutation():
    """Under mutmut (scripts/mutation), each test loads its models afresh: mutmut runs a
    mutant only against the tests its stats saw call the mutated function, and a model
    loaded once per session would credit its loading code to the first test alone."""
    if os.environ.get("MUTANT_UNDER_TEST"):
        from exbert.model import _load

        _load.cache_clear()


# Kept between test sessions when set (scripts/mutation: one pytest session per mutant):
# the tiny models and the search corpus's template database, built by the first session.
KEEP = os.environ.get("EXBERT_TEST_KEEP")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    """Paths of tiny offline models, built once per test session (or once under KEEP:
    they are seeded, so every build is the same)."""
    from pathlib import Path

    root = Path(KEEP) / "tiny-models" if KEEP else tmp_path_factory.mktemp("tiny-models")
    return {
        kind: str(root / kind)
        if (root / kind / "config.json").exists()
        else str(tiny.build(kind, root / kind))
        for kind in TINY_KINDS
    }


@pytest.fixture(scope="session")
def nlp():
    from exbert.annotate import load_spacy

    return load_spacy()


_db_counter = iter(range(1, 10**6))


# The store, ingestion, search and API tests run on both kinds of server: the embedded
# one (a unix socket, started by exbert) and an external one (TCP, password, started by
# someone else), as EXBERT_DATABASE_URL gives it.
EXTERNAL_TIER = {"test_store", "test_ingest", "test_search", "test_api"}


def _backends() -> list[str]:
    return ["given"] if os.environ.get("EXBERT_TEST_DATABASE_URL") else ["embedded", "tcp"]


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        module = item.module.__name__.rsplit(".", 1)[-1]
        (drop if params.get("pg_url") == "tcp" and module not in EXTERNAL_TIER else keep).append(
            item
        )
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session", params=_backends())
def pg_url(request) -> str:
    """A real PostgreSQL with pgvector: EXBERT_TEST_DATABASE_URL, a fresh embedded server,
    or a standalone server on a TCP port with a password."""
    if request.param == "given":
        yield os.environ["EXBERT_TEST_DATABASE_URL"]
        return
    if request.param == "tcp":
        from tests.pgserver import StandalonePostgres

        standalone = StandalonePostgres().init()
        yield standalone.url
        standalone.remove()
        return
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


def settings_for(model: str, database_url: str):
    from exbert.config import Settings

    return Settings.from_env(model=model, database_url=database_url)


@pytest.fixture
def app_env(tiny_models, db_url):
    """Settings for the app with a tiny masked LM as its default model and a fresh database."""
    model = tiny_models["bert-mlm"]
    return {"model": model, "db_url": db_url, "settings": settings_for(model, db_url)}


@pytest.fixture
def explorer(app_env):
    from explore.explorer import Explorer

    ex = Explorer(app_env["settings"])
    yield ex
    ex.store.dispose()


@pytest.fixture
def app(app_env):
    from dashapp.app import create_app

    app = create_app(app_env["settings"])
    yield app
    app.server.extensions["exbert"].store.dispose()


@pytest.fixture
def client(app):
    return app.server.test_client()


@pytest.fixture(scope="session")
def search_corpus(tiny_models, pg_url):
    """The wiki sample's first ~400 sentences ingested with the tiny BERT; tests only read it.
    A test that writes (builds indexes) takes a private copy: `search_copy`. Under KEEP
    the template outlives the session and later sessions copy it."""
    import psycopg

    from db import migrate
    from db.engine import get_engine, sessions
    from exbert.model import load_model
    from ingest.pipeline import Ingestor
    from ingest.readers import read_wiki_sample

    template = "exbert_search_tpl_kept" if KEEP else f"exbert_search_tpl_{os.getpid()}"
    model = tiny_models["bert-mlm"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        kept = (
            KEEP
            and conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template]).fetchone()
        )
    if not kept:
        url = migrate.fresh_database(pg_url, template)
        Ingestor(sessions(url), load_model(model), "wiki").run(
            read_wiki_sample(), limit_sentences=400
        )
        get_engine(url).dispose()  # nobody connects to the template again: copies need that
    name = f"exbert_search_{os.getpid()}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = migrate.with_database(pg_url, name)
    yield {"url": url, "model": model, "settings": settings_for(model, url), "template": template}
    get_engine(url).dispose()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not KEEP:
            conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')


@pytest.fixture
def search_env(search_corpus):
    return search_corpus


@pytest.fixture
def search_copy(search_corpus, pg_url):
    """A private copy of the search corpus, for a test that writes (builds indexes)."""
    import psycopg

    from db import migrate
    from db.engine import get_engine

    name = f"exbert_copy_{os.getpid()}_{next(_db_counter)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{search_corpus["template"]}"')
    url = migrate.with_database(pg_url, name)
    yield {**search_corpus, "url": url, "settings": settings_for(search_corpus["model"], url)}
    get_engine(url).dispose()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
