"""Ingestion into a real PostgreSQL: idempotent, incremental, crash-safe, exact."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import psycopg
import pytest
from click.testing import CliRunner

from db import removal, writes
from db.attention_codec import dequantize
from db.engine import sessions
from exbert.cli import main
from exbert.model import load_model
from exbert.vectors import unit, unit_heads
from ingest.pipeline import Ingestor
from ingest.readers import RawDocument
from ingest.text import chunk_text

DOCS = [
    RawDocument("a.txt", "The cat sat on the mat. Then it slept in New York."),
    RawDocument("b.txt", "A dog barked at the mailman. The mailman didn't mind!"),
    RawDocument(
        "c.txt", "Attention heads learn syntax.  Some learn semantics; others learn position."
    ),
]
MORE = [RawDocument("d.txt", "Paris is the capital of France. Berlin is the capital of Germany.")]


def ingest(url, model_path, docs, corpus="test", layers=None, nlp=None):
    runner = load_model(model_path)
    ing = Ingestor(sessions(url), runner, corpus, layers=layers, nlp=nlp)
    return ing.run(docs)


def rows(url, sql):
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def snapshot(url):
    """Everything stored, by content rather than by id, for comparing runs."""
    return {
        "documents": sorted(rows(url, "SELECT source, content_hash FROM documents")),
        "sentences": sorted(
            rows(
                url,
                "SELECT d.content_hash, s.index, s.text FROM sentences s JOIN documents d ON d.id = s.document_id",
            )
        ),
        "words": sorted(
            rows(
                url,
                "SELECT s.text, w.index, w.text, w.pos, w.dep, w.head_index FROM words w JOIN sentences s ON s.id = w.sentence_id",
            )
        ),
        "tokens": sorted(
            rows(
                url,
                "SELECT s.text, m.name, t.position, t.text, w.index FROM tokens t JOIN sentences s ON s.id = t.sentence_id JOIN models m ON m.id = t.model_id LEFT JOIN words w ON w.id = t.word_id",
            )
        ),
        "vectors": rows(url, "SELECT count(*), count(DISTINCT token_id) FROM vectors"),
        "attentions": rows(url, "SELECT count(*) FROM attentions"),
    }


def _label_join(kind: str, column: str) -> str:
    return f"LEFT JOIN labels l_{kind} ON l_{kind}.id = v.{column}"


# what each vector row says about its token (migration 0003's filter columns) ...
VECTOR_FACTS = (
    "SELECT v.space_id, v.token_id, v.corpus_id, v.document_id, v.sentence_id, v.position, "
    "l_pos.value, l_tag.value, l_dep.value, l_ent.value FROM vectors v "
    + " ".join(
        _label_join(k, c)
        for k, c in (("pos", "pos_id"), ("tag", "tag_id"), ("dep", "dep_id"), ("ent", "ent_id"))
    )
    + " ORDER BY 1, 2"
)
# ... and what tokens, words, sentences and documents say
TOKEN_FACTS = (
    "SELECT v.space_id, v.token_id, d.corpus_id, d.id, t.sentence_id, t.position, "
    "w.pos, w.tag, w.dep, w.ent_type FROM vectors v JOIN tokens t ON t.id = v.token_id "
    "JOIN sentences s ON s.id = t.sentence_id JOIN documents d ON d.id = s.document_id "
    "LEFT JOIN words w ON w.id = t.word_id ORDER BY 1, 2"
)


def test_vector_rows_repeat_their_tokens_facts_and_the_migration_fills_them(
    db_url, tiny_models, nlp
):
    from db import migrate

    ingest(db_url, tiny_models["bert-mlm"], DOCS, nlp=nlp)
    ingest(db_url, tiny_models["gpt2"], DOCS[:2], nlp=nlp)  # added from stored words
    ingest(db_url, tiny_models["bert-mlm"], MORE, corpus="second", nlp=nlp)
    facts = rows(db_url, VECTOR_FACTS)
    assert facts == rows(db_url, TOKEN_FACTS)
    assert {f[2] for f in facts} == {r[0] for r in rows(db_url, "SELECT id FROM corpora")}
    assert any(f[6] is None for f in facts) and any(f[6] == "PROPN" for f in facts)
    # a store written before 0003 gets the same columns from the migration
    migrate.downgrade(db_url, "0002")
    assert "pos_id" not in {
        r[0]
        for r in rows(
            db_url,
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'vectors'",
        )
    }
    migrate.upgrade(db_url)
    assert rows(db_url, VECTOR_FACTS) == facts


def test_ingest_is_idempotent(db_url, tiny_models, nlp):
    started = time.perf_counter()
    first = ingest(db_url, tiny_models["bert-mlm"], DOCS, nlp=nlp)
    assert 0 < first.seconds < time.perf_counter() - started  # the rates of its line
    assert first.documents_added == 3 and first.sentences == 6
    assert first.tokens == rows(db_url, "SELECT count(*) FROM tokens")[0][0] > 30
    before = snapshot(db_url)
    again = ingest(db_url, tiny_models["bert-mlm"], DOCS, nlp=nlp)
    assert again.documents_added == 0 and again.documents_skipped == 3
    assert snapshot(db_url) == before
    # every token got a vector per layer and kind
    layers = load_model(tiny_models["bert-mlm"]).layers
    tokens = rows(db_url, "SELECT count(*) FROM tokens")[0][0]
    assert before["vectors"] == [(tokens * layers * 2, tokens)]


def test_rows_handed_to_the_writer_early_store_the_same(make_db, tiny_models, nlp, monkeypatch):
    """Big documents go to the writer as soon as HOLD_SENTENCES is reached, not
    at the end of their group; what is stored must not change."""
    import ingest.groups

    whole, early = make_db(), make_db()
    runner = load_model(tiny_models["bert-mlm"])
    Ingestor(sessions(whole), runner, "test", nlp=nlp).run(DOCS + MORE)
    monkeypatch.setattr(ingest.groups, "HOLD_SENTENCES", 1)
    summary = Ingestor(sessions(early), runner, "test", nlp=nlp).run(DOCS + MORE, group=3)
    assert (summary.documents_added, summary.sentences) == (4, 8)
    assert snapshot(early) == snapshot(whole)


def test_the_same_content_twice_in_one_transaction_is_stored_once(db_url, tiny_models, nlp):
    copy = RawDocument("copy-of-a.txt", DOCS[0].text)
    summary = ingest(db_url, tiny_models["bert-mlm"], [DOCS[0], copy, DOCS[1]], nlp=nlp)
    assert (summary.documents_added, summary.documents_skipped) == (2, 1)
    assert rows(db_url, "SELECT source FROM documents ORDER BY id") == [("a.txt",), ("b.txt",)]
    assert rows(db_url, "SELECT count(*) FROM document_models") == [(2,)]


def test_incremental_growth_keeps_earlier_rows(db_url, tiny_models, nlp):
    ingest(db_url, tiny_models["bert-mlm"], DOCS, nlp=nlp)
    earlier = rows(db_url, "SELECT id, sentence_id, position, text FROM tokens ORDER BY id")
    earlier_vectors = rows(
        db_url, "SELECT space_id, token_id, embedding::text FROM vectors ORDER BY 1, 2"
    )
    summary = ingest(db_url, tiny_models["bert-mlm"], DOCS + MORE, nlp=nlp)
    assert (summary.documents_added, summary.documents_skipped) == (1, 3)
    now = rows(db_url, "SELECT id, sentence_id, position, text FROM tokens ORDER BY id")
    assert now[: len(earlier)] == earlier and len(now) > len(earlier)
    vectors = rows(db_url, "SELECT space_id, token_id, embedding::text FROM vectors ORDER BY 1, 2")
    assert set(earlier_vectors) <= set(vectors)
    assert rows(db_url, "SELECT count(*) FROM documents")[0][0] == 4


def test_second_model_on_the_same_corpus(db_url, tiny_models, nlp):
    ingest(db_url, tiny_models["bert-mlm"], DOCS, nlp=nlp)
    words_before = rows(db_url, "SELECT id, text, pos FROM words ORDER BY id")
    summary = ingest(db_url, tiny_models["gpt2"], DOCS, nlp=nlp)
    assert summary.documents_added == 3 and summary.sentences == 6
    assert rows(db_url, "SELECT id, text, pos FROM words ORDER BY id") == words_before
    per_model = dict(
        rows(
            db_url,
            "SELECT m.name, count(*) FROM tokens t JOIN models m ON m.id = t.model_id GROUP BY 1",
        )
    )
    assert set(per_model) == {tiny_models["bert-mlm"], tiny_models["gpt2"]}
    # gpt2 tokens link to the same spaCy words
    with psycopg.connect(db_url) as conn:
        linked = conn.execute(
            "SELECT count(*) FROM tokens t JOIN models m ON m.id = t.model_id WHERE m.name = %s AND t.word_id IS NOT NULL",
            (tiny_models["gpt2"],),
        ).fetchone()
    assert linked[0] == per_model[tiny_models["gpt2"]]
    assert ingest(db_url, tiny_models["gpt2"], DOCS, nlp=nlp).documents_skipped == 3


def test_stored_vectors_equal_the_runner_output(db_url, tiny_models, nlp):
    ingest(db_url, tiny_models["bert-mlm"], DOCS[:1], layers=[0, 1], nlp=nlp)
    runner = load_model(tiny_models["bert-mlm"])
    sentence_id, text = rows(db_url, "SELECT id, text FROM sentences ORDER BY index LIMIT 1")[0]
    a = runner.analyze(text)
    from pgvector.psycopg import register_vector

    with psycopg.connect(db_url) as conn:
        register_vector(conn)
        for layer in (0, 1):
            for kind, expected in (
                ("hidden", unit(a.hidden_states[layer + 1])),
                ("context", unit_heads(a.contexts[layer], runner.heads)),
            ):
                got = conn.execute(
                    "SELECT v.embedding FROM vectors v JOIN vector_spaces sp ON sp.id = v.space_id "
                    "JOIN tokens t ON t.id = v.token_id WHERE t.sentence_id = %s AND sp.layer = %s "
                    "AND sp.kind = %s ORDER BY t.position",
                    (sentence_id, layer, kind),
                ).fetchall()
                stored = np.array([g[0].to_numpy() for g in got], dtype=np.float32)
                np.testing.assert_allclose(stored, expected, atol=2e-3)  # halfvec precision
        weights, heads, n = conn.execute(
            "SELECT weights, heads, tokens FROM attentions WHERE sentence_id = %s AND layer = 1",
            (sentence_id,),
        ).fetchone()
        np.testing.assert_allclose(
            dequantize(weights, heads, n), a.attentions[1], atol=0.5 / 255 + 1e-6
        )


def test_layers_option_limits_vectors(db_url, tiny_models, nlp):
    ingest(db_url, tiny_models["bert-mlm"], DOCS[:1], layers=[1], nlp=nlp)
    assert rows(db_url, "SELECT DISTINCT layer FROM vector_spaces") == [(1,)]
    with pytest.raises(ValueError, match="out of range"):
        ingest(db_url, tiny_models["bert-mlm"], DOCS[:1], layers=[7], nlp=nlp)


def test_chunking_keeps_every_character():
    text = ("word " * 50_000 + "\n") * 3
    pieces = chunk_text(text, limit=30_000)
    assert "".join(p for _, p in pieces) == text
    assert all(len(p) <= 30_000 for _, p in pieces)
    assert all(text[o : o + len(p)] == p for o, p in pieces)


# -- the command line: bad input, a database that is down, a killed run ------------


def cli(url, *args, input=None, env=None):
    return CliRunner().invoke(
        main, list(args), input=input, env={"EXBERT_DATABASE_URL": url, **(env or {})}
    )


def _killed_helper(texts, limit):
    """In place of spaCy's helper's work: the helper is killed, as by the out-of-memory
    killer (at module level: the helper is handed its work by name)."""
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_dead_spacy_helper_ends_the_run_with_what_to_do_and_keeps_what_was_stored(
    db_url, tiny_models, tmp_path, monkeypatch
):
    """The helper killed mid-run (as by the out-of-memory killer): the command says what
    happened and what to do, the first group is stored whole, nothing of the rest."""
    from ingest import spacy_process

    monkeypatch.setattr(spacy_process, "_annotate", _killed_helper)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(
            f'{{"id": {i}, "text": "Document {i} is short. It has two sentences."}}\n'
            for i in range(20)
        )
    )
    result = cli(db_url, "ingest", "--corpus", "c", "--model", tiny_models["bert-mlm"], str(corpus))
    assert result.exit_code == 1
    assert "helper process stopped" in result.output and "run the same command" in result.output
    assert rows(db_url, "SELECT count(*), count(DISTINCT source) FROM documents") == [(8, 8)]
    assert rows(db_url, "SELECT count(*) FROM sentences") == [(16,)]
    monkeypatch.undo()
    again = cli(db_url, "ingest", "--corpus", "c", "--model", tiny_models["bert-mlm"], str(corpus))
    assert again.exit_code == 0 and "12 documents added, 8 already stored" in again.output


def test_cli_reports_bad_files_and_keeps_good_ones(db_url, tiny_models, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("The cat sat on the mat.")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\x00\x01\x02PNG\x00")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": 1, "text": "A fine line."}\n{not json\n{"id": 3}\n')
    model = tiny_models["bert-mlm"]
    result = cli(
        db_url,
        "ingest",
        "--corpus",
        "c",
        "--model",
        model,
        str(good),
        str(binary),
        str(latin1),
        str(empty),
        str(broken),
        str(tmp_path / "missing.txt"),
    )
    assert result.exit_code == 1, result.output
    out = result.output
    assert "binary.txt looks binary" in out
    assert "latin1.txt is not UTF-8" in out
    assert "empty.txt is empty" in out
    assert "broken.jsonl:2 is not a JSON object" in out and "broken.jsonl:3" in out
    assert "missing.txt does not exist" in out
    assert rows(db_url, "SELECT count(*) FROM documents")[0][0] == 2  # good.txt and broken.jsonl#1


def test_cli_huge_single_line_and_stdin(db_url, tiny_models, tmp_path):
    huge = tmp_path / "huge.txt"
    huge.write_text("x" * 1_000_000)  # a 1 MB single line: no sentence a person could read
    long_line = tmp_path / "long.txt"
    long_line.write_text("The cat sat on the mat. " * 2_000)  # 48 KB on one line: 2,000 sentences
    model = tiny_models["bert-mlm"]
    result = cli(
        db_url, "ingest", "--corpus", "c", "--model", model, "--no-index", str(huge), str(long_line)
    )
    assert result.exit_code == 1, result.output
    assert "huge.txt has no sentence exbert can store" in result.output
    assert "10 over-long sentences skipped" in result.output  # one per 100k-character chunk
    assert rows(db_url, "SELECT source FROM documents") == [(str(long_line),)]
    assert rows(db_url, "SELECT count(*) FROM sentences")[0][0] == 2_000
    result = cli(
        db_url,
        "ingest",
        "--corpus",
        "c",
        "--model",
        model,
        "-",
        input='{"id": "x", "text": "From stdin, as JSON."}\n',
    )
    assert result.exit_code == 0, result.output
    assert rows(db_url, "SELECT source FROM documents WHERE source LIKE 'stdin%'") == [("stdin#x",)]
    result = cli(db_url, "corpora")
    assert result.exit_code == 0 and "c " in result.output and model in result.output


def test_cli_unknown_model_and_database_down(db_url, tiny_models, tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text("The cat sat.")
    result = cli(db_url, "ingest", "--corpus", "c", "--model", "no-such/model", str(doc))
    assert result.exit_code != 0 and "Could not load model 'no-such/model'" in result.output
    down = "postgresql://exbert@127.0.0.1:9/none"
    result = cli(down, "ingest", "--corpus", "c", "--model", tiny_models["bert-mlm"], str(doc))
    assert result.exit_code != 0 and "Cannot reach the database" in result.output
    result = cli(down, "corpora")
    assert result.exit_code != 0 and "Cannot reach the database" in result.output
    assert rows(db_url, "SELECT count(*) FROM documents")[0][0] == 0


def test_kill_9_then_rerun_equals_a_clean_run(make_db, tiny_models, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(40):
        (folder / f"{i:02}.txt").write_text(
            f"Document {i} is here. The cat number {i} sat on mat {i}. " * 3
        )
    model = tiny_models["bert-mlm"]
    killed, clean = make_db(), make_db()
    env = {**os.environ, "EXBERT_DATABASE_URL": killed}
    cmd = [
        sys.executable,
        "-m",
        "exbert.cli",
        "ingest",
        "--corpus",
        "k",
        "--model",
        model,
        "--no-index",
        "--batch",
        "4",
        str(folder),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        done = (
            rows(killed, "SELECT count(*) FROM document_models")[0][0] if _has_tables(killed) else 0
        )
        if done >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = rows(killed, "SELECT count(*) FROM documents")[0][0]
    assert 0 < partial < 40, "the run should have been killed part-way"
    # no partial document: every stored document has all its tokens
    assert rows(
        killed,
        "SELECT count(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM document_models dm WHERE dm.document_id = d.id)",
    ) == [(0,)]
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    assert (
        subprocess.run(
            cmd[:-1] + [str(folder)], env={**env, "EXBERT_DATABASE_URL": clean}, capture_output=True
        ).returncode
        == 0
    )
    assert snapshot(killed) == snapshot(clean)
    assert rows(killed, "SELECT count(*) FROM documents")[0][0] == 40


def _has_tables(url):
    return bool(rows(url, "SELECT to_regclass('document_models')")[0][0])


def test_spacy_in_its_helper_process_stores_what_it_would_store_here(
    db_url, tiny_models, nlp, monkeypatch
):
    """A run of several groups reads with spaCy in a helper process from the second group
    on (ingest/spacy_process.py); the store is the same as when every group is read here."""
    from ingest.spacy_process import can_fork

    assert can_fork(nlp)  # so the first run below does use the helper
    docs = [
        RawDocument(f"{i}.txt", f"Document {i} is here. {d.text}") for i, d in enumerate(DOCS * 6)
    ]
    ingest(db_url, tiny_models["bert-mlm"], docs, corpus="helper", nlp=nlp)
    helped = snapshot(db_url)
    assert len(helped["documents"]) == 18
    with sessions(db_url).begin() as s:
        removal.delete_corpus(s, rows(db_url, "SELECT id FROM corpora")[0][0])
    assert snapshot(db_url)["vectors"] == [(0, 0)]
    monkeypatch.setattr("ingest.spacy_process.can_fork", lambda nlp: False)
    ingest(db_url, tiny_models["bert-mlm"], docs, corpus="helper", nlp=nlp)
    assert snapshot(db_url) == helped


def test_a_group_looked_up_at_once_still_stores_a_repeated_document_once(db_url, tiny_models, nlp):
    """The store is asked about a whole group of documents in one statement, before any
    of them is written: a content repeated within the group, new or stored for another
    model, is still stored once and counted as skipped the second time."""
    first = ingest(db_url, tiny_models["bert-mlm"], [DOCS[0], DOCS[1], DOCS[1]], nlp=nlp)
    assert (first.documents_added, first.documents_skipped) == (2, 1)
    assert first.sentences == 4
    second = ingest(db_url, tiny_models["gpt2"], [DOCS[0], DOCS[0], DOCS[2]], nlp=nlp)
    assert (second.documents_added, second.documents_skipped) == (2, 1)
    assert second.sentences == 4 and second.tokens > 0
    assert rows(db_url, "SELECT count(*) FROM documents")[0][0] == 3
    assert rows(db_url, "SELECT model_id, count(*) FROM document_models GROUP BY 1 ORDER BY 1") == [
        (1, 2),
        (2, 2),
    ]
    assert rows(db_url, "SELECT sentences FROM head_coverage ORDER BY model_id") == [(4,), (4,)]
    # a document stored for the other model only is still told apart from those done
    again = ingest(db_url, tiny_models["gpt2"], [DOCS[0], DOCS[1], DOCS[2]], nlp=nlp)
    assert (again.documents_added, again.documents_skipped, again.sentences) == (1, 2, 2)
    (corpus,) = rows(db_url, "SELECT id FROM corpora")[0]
    (gpt,) = rows(db_url, "SELECT id FROM models WHERE name LIKE '%%gpt2%%'")[0]
    asked = [DOCS[0].content_hash, MORE[0].content_hash]
    with sessions(db_url).begin() as s:
        found = writes.stored_documents(s, corpus, gpt, asked)
        other = writes.stored_documents(s, corpus, gpt + 1000, asked)
    assert list(found) == [DOCS[0].content_hash]  # only what was asked, if stored
    assert (found[DOCS[0].content_hash].done, found[DOCS[0].content_hash].sentences) == (True, 2)
    assert not other[DOCS[0].content_hash].done


def test_a_model_added_twice_to_a_stored_document_is_stored_once(db_url, tiny_models, nlp):
    """The check under the document's lock that two workers adding the same model at once
    rely on: the second finds the document done, writes nothing, and the statistics
    count its sentences once."""
    ingest(db_url, tiny_models["bert-mlm"], DOCS[:1], nlp=nlp)
    ing = Ingestor(sessions(db_url), load_model(tiny_models["gpt2"]), "test", nlp=nlp)
    (doc_id,) = rows(db_url, "SELECT id FROM documents")[0]
    first = ing._store_for_model(doc_id)
    assert first[0] == 2 and first[1] > 0  # two sentences, their tokens
    before = snapshot(db_url)
    coverage = rows(db_url, "SELECT sentences, tokens FROM head_coverage ORDER BY model_id")
    assert ing._store_for_model(doc_id) == (2, 0)  # its sentences, no token written
    assert snapshot(db_url) == before
    assert rows(db_url, "SELECT sentences, tokens FROM head_coverage ORDER BY model_id") == coverage
    assert coverage[-1][0] == 2
    # the document counts as counted for the head statistics: no backfill would add it again
    assert rows(db_url, "SELECT count(*) FROM document_models WHERE NOT head_stats") == [(0,)]


def test_the_summary_line_says_rates_and_only_the_problems_there_were():
    from ingest.groups import IngestSummary
    from ingest.readers import ReadError

    line = IngestSummary(2, 1, 10, 0, 200, 4.0).line()
    assert line == (
        "2 documents added, 1 already stored, 10 sentences, 200 tokens in 4.0 s "
        "(0.5 docs/s, 2 sentences/s, 50 tokens/s)"
    )
    assert "(0.0 docs/s, 0 sentences/s, 0 tokens/s)" in IngestSummary().line()  # no time yet
    bad = IngestSummary(1, 0, 3, 2, 30, 1.0, errors=[ReadError("x.bin", "binary")])
    assert bad.line().endswith("; 2 over-long sentences skipped; 1 inputs rejected")


def test_the_same_text_in_two_corpora_is_stored_in_each_with_its_metadata(db_url, tiny_models, nlp):
    """A document is "already stored" only within its own corpus: the same text added to
    another corpus is stored there too, and each keeps the metadata it came with."""
    doc = RawDocument("a.jsonl:1", DOCS[0].text, {"title": "Cats", "year": 2020})
    assert (
        ingest(db_url, tiny_models["bert-mlm"], [doc], corpus="one", nlp=nlp).documents_added == 1
    )
    other = RawDocument("b.jsonl:7", DOCS[0].text, {"title": "Again"})
    again = ingest(db_url, tiny_models["bert-mlm"], [other], corpus="two", nlp=nlp)
    assert again.documents_added == 1 and again.documents_skipped == 0
    stored = rows(
        db_url,
        "SELECT c.name, d.source, d.metadata, count(s.id) FROM documents d "
        "JOIN corpora c ON c.id = d.corpus_id JOIN sentences s ON s.document_id = d.id "
        "GROUP BY 1, 2, 3 ORDER BY 1",
    )
    assert stored == [
        ("one", "a.jsonl:1", {"title": "Cats", "year": 2020}, 2),
        ("two", "b.jsonl:7", {"title": "Again"}, 2),
    ]
    assert (
        ingest(db_url, tiny_models["bert-mlm"], [other], corpus="two", nlp=nlp).documents_skipped
        == 1
    )


def test_sentences_of_a_chunked_document_keep_their_place_in_it(nlp):
    """A document longer than spaCy takes is read in chunks; each sentence's offset is
    still its place in the whole document."""
    from ingest.text import annotate_documents

    para = "The cat sat on the mat. A dog barked at the mailman. "
    text = para * 20
    (sentences,) = annotate_documents([text], nlp, limit=300)
    assert len(sentences) == 40
    assert sentences[-1].start > 300  # from a later chunk
    for s in sentences:
        assert text[s.start : s.start + len(s.text)] == s.text


def test_layers_out_of_range_are_refused_with_the_range(db_url, tiny_models, nlp):
    runner = load_model(tiny_models["bert-mlm"])  # 2 layers
    Ingestor(sessions(db_url), runner, "test", layers=[0, 1], nlp=nlp)
    with pytest.raises(ValueError, match=r"Layers \[2\] are out of range: .* has layers 0-1\."):
        Ingestor(sessions(db_url), runner, "test", layers=[0, 2], nlp=nlp)


def test_chunks_end_at_the_last_break_within_reach():
    """A long text is cut after the last line break or sentence end in the window's
    second half, else after its last space, else at the limit."""
    text = "a" * 10 + "\n" + "b" * 49 + "\n" + "c" * 100
    assert chunk_text(text, limit=100)[0] == (0, text[:61])  # the later break
    text = "a" * 50 + "\n" + "b" * 150  # a break at exactly half of an odd limit counts
    assert chunk_text(text, limit=101)[0] == (0, text[:51])
    text = "a" * 10 + "\n" + ("b" * 9 + " ") * 20  # a break in the first half only
    assert chunk_text(text, limit=100)[0] == (0, text[:91])  # the last space
    text = " " + "z" * 150  # a space at the very start is no place to cut
    assert chunk_text(text, limit=100) == [(0, text[:100]), (100, text[100:])]
    assert [len(p) for _, p in chunk_text("z" * 250, limit=100)] == [100, 100, 50]
    assert chunk_text("z" * 100, limit=100) == [(0, "z" * 100)]  # no empty piece after
    assert chunk_text("a " + "z" * 150, limit=100)[0] == (0, "a ")  # a space at 1 will do


def test_a_limit_counts_the_sentences_already_stored(db_url, tiny_models, nlp):
    """--limit means sentences in the corpus for this model: a run over stored documents
    counts theirs, all of them, before it reads anything new."""
    runner = load_model(tiny_models["bert-mlm"])
    first = Ingestor(sessions(db_url), runner, "test", nlp=nlp).run(DOCS, limit_sentences=4)
    assert (first.documents_added, first.sentences) == (2, 4)  # 2 + 2: reached, no more
    Ingestor(sessions(db_url), runner, "test", nlp=nlp).run(DOCS)
    stored = rows(db_url, "SELECT count(*) FROM sentences")[0][0]
    again = Ingestor(sessions(db_url), runner, "test", nlp=nlp).run(
        DOCS + MORE, limit_sentences=stored
    )
    assert (again.documents_added, again.documents_skipped) == (0, 3)
    assert rows(db_url, "SELECT count(*) FROM documents") == [(3,)]


def test_stop_ends_the_run_between_documents(db_url, tiny_models, nlp):
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 1  # after the first document

    taken, seconds = [], []

    def reader():  # three groups of 8; stopped in the first, the rest is never read
        for i in range(24):
            taken.append(i)
            yield DOCS[0] if i == 0 else RawDocument(f"{i}.txt", f"Document {i} is short.")

    def progress(summary) -> None:
        seconds.append((summary.seconds, time.perf_counter() - started))

    ing = Ingestor(sessions(db_url), load_model(tiny_models["bert-mlm"]), "test", nlp=nlp)
    started = time.perf_counter()
    summary = ing.run(reader(), stop=stop, progress=progress)
    assert summary.stopped and summary.documents_added == 1
    assert rows(db_url, "SELECT source FROM documents") == [("a.txt",)]
    assert rows(db_url, "SELECT count(*) FROM sentences") == [(2,)]  # stored whole
    assert len(taken) == 8
    # what a progress bar shows: the time the run has taken so far
    assert seconds and all(0 < shown <= elapsed for shown, elapsed in seconds)


def test_documents_are_read_a_group_at_a_time(db_url, tiny_models, nlp):
    """A corpus is streamed: the run takes one group of documents from its reader,
    stores it, then takes the next (a big corpus never sits in memory whole)."""
    docs = DOCS + MORE
    taken = 0

    def reader():
        nonlocal taken
        for doc in docs:
            taken += 1
            yield doc

    taken_before_each = []

    def stop() -> bool:  # asked before each document is stored
        taken_before_each.append(taken)
        return False

    ing = Ingestor(sessions(db_url), load_model(tiny_models["bert-mlm"]), "test", nlp=nlp)
    summary = ing.run(reader(), group=2, stop=stop)
    assert summary.documents_added == len(docs) == 4
    assert taken_before_each == [2, 2, 4, 4]


def test_a_new_corpus_keeps_its_description(db_url, tiny_models, nlp):
    """`exbert ingest --description`: read back with SQL (the corpora table)."""
    runner = load_model(tiny_models["bert-mlm"])
    Ingestor(sessions(db_url), runner, "test", nlp=nlp, description="Three short texts").run(DOCS)
    assert rows(db_url, "SELECT name, description FROM corpora") == [("test", "Three short texts")]


def test_a_document_stored_meanwhile_by_another_process_is_skipped(db_url, tiny_models, nlp):
    """Two workers may both find a document new; the one that writes second finds it
    under the document's lock and writes nothing (another ingestion runs, and commits,
    between this run's look-up and its write)."""
    runner = load_model(tiny_models["bert-mlm"])
    other = Ingestor(sessions(db_url), runner, "test", nlp=nlp)

    def meanwhile() -> bool:
        if not rows(db_url, "SELECT count(*) FROM documents")[0][0]:
            other.run(DOCS)
        return False

    summary = Ingestor(sessions(db_url), runner, "test", nlp=nlp).run(DOCS, stop=meanwhile)
    assert (summary.documents_added, summary.documents_skipped) == (0, 3)
    assert rows(db_url, "SELECT count(*), count(DISTINCT content_hash) FROM documents") == [(3, 3)]
    assert rows(db_url, "SELECT count(*) FROM document_models") == [(3,)]


def test_a_rerun_reads_no_stored_document_with_spacy_again(db_url, tiny_models, nlp, monkeypatch):
    """Resuming a big corpus must not spend spaCy's or the model's time on what is stored
    already."""
    from ingest import pipeline
    from ingest import text as text_side

    ingest(db_url, tiny_models["bert-mlm"], DOCS, nlp=nlp)
    read = []
    annotate = text_side.annotate_documents

    def reading(texts, *args, **kwargs):
        read.extend(texts)
        return annotate(texts, *args, **kwargs)

    monkeypatch.setattr(text_side, "annotate_documents", reading)
    model_rows = pipeline.Ingestor._model_rows
    ran = []

    def running(self, sentences):
        ran.extend(text for text, _ in sentences)
        return model_rows(self, sentences)

    monkeypatch.setattr(pipeline.Ingestor, "_model_rows", running)
    summary = ingest(db_url, tiny_models["bert-mlm"], DOCS + MORE, nlp=nlp)
    assert (summary.documents_added, summary.documents_skipped) == (1, 3)
    assert read == [MORE[0].text]
    assert ran == ["Paris is the capital of France.", "Berlin is the capital of Germany."]


def test_a_limit_holds_when_a_model_is_added_to_stored_documents(db_url, tiny_models, nlp):
    ingest(db_url, tiny_models["bert-mlm"], DOCS, nlp=nlp)
    ing = Ingestor(sessions(db_url), load_model(tiny_models["gpt2"]), "test", nlp=nlp)
    summary = ing.run(DOCS, limit_sentences=3)
    assert (summary.documents_added, summary.sentences) == (2, 4)  # whole documents, 2 + 2 >= 3
    assert rows(db_url, "SELECT count(*) FROM document_models") == [(5,)]  # 3 + 2
    stored = "SELECT count(*) FROM tokens t JOIN models m ON m.id = t.model_id WHERE m.name = %s"
    with psycopg.connect(db_url) as conn:
        tokens = conn.execute(stored, (tiny_models["gpt2"],)).fetchone()[0]
    assert summary.tokens == tokens > 0


def test_over_long_sentences_are_counted_and_the_rest_stored(db_url, tiny_models, nlp):
    from ingest.text import MAX_SENTENCE_CHARS

    long = "word " * (MAX_SENTENCE_CHARS // 5 + 10)
    doc = RawDocument("long.txt", "A short sentence comes first.\n\n" + long.strip() + ".")
    summary = ingest(db_url, tiny_models["bert-mlm"], [doc], nlp=nlp)
    assert (summary.sentences, summary.sentences_skipped) == (1, 1)
    assert rows(db_url, "SELECT text FROM sentences") == [("A short sentence comes first.",)]


def test_a_sentence_of_exactly_the_longest_length_is_stored(db_url, tiny_models, nlp):
    """The limit is inclusive: a sentence of MAX_SENTENCE_CHARS characters is stored, one
    character more is not."""
    from ingest.text import MAX_SENTENCE_CHARS

    def sentence(n: int) -> str:
        return ("word " * n)[: n - 1] + "."

    at, over = sentence(MAX_SENTENCE_CHARS), sentence(MAX_SENTENCE_CHARS + 1)
    assert (len(at), len(over)) == (MAX_SENTENCE_CHARS, MAX_SENTENCE_CHARS + 1)
    docs = [RawDocument("at.txt", at), RawDocument("over.txt", over)]
    summary = ingest(db_url, tiny_models["bert-mlm"], docs, nlp=nlp)
    assert (summary.sentences, summary.sentences_skipped) == (1, 1)
    assert rows(db_url, "SELECT length(text) FROM sentences") == [(MAX_SENTENCE_CHARS,)]


def test_the_pipeline_given_is_the_one_that_reads(db_url, tiny_models, nlp):
    """An operator's choice of spaCy pipeline is what annotates the corpus: here the
    installed one without its entity recogniser, so nothing is stored as an entity."""
    import spacy

    without_ner = spacy.load(nlp.meta["lang"] + "_" + nlp.meta["name"], exclude=["ner"])
    ingest(db_url, tiny_models["bert-mlm"], DOCS[:1], nlp=without_ner)  # "New York"
    assert rows(db_url, "SELECT count(*) FROM words WHERE ent_type <> ''") == [(0,)]
    assert rows(db_url, "SELECT count(*) FROM words WHERE pos = 'PROPN'")[0][0] > 0
