"""The head atlas: statistics recounted by brute force from the model's own attentions,
exact as documents arrive one by one, a backfill equal to ingestion, and the twins."""

import json
import math

import numpy as np
import psycopg
import pytest
from click.testing import CliRunner

from db.engine import sessions
from exbert.cli import main
from exbert.head_stats import each_sentence_counts, group_counts, sentence_counts, total
from exbert.model import load_model
from exbert.shapes import Token, Word
from ingest.pipeline import Ingestor
from ingest.readers import RawDocument
from tests.conftest import settings_for

DOCS = [
    RawDocument("a.txt", "The cat sat on the mat. Then it slept in New York, happily."),
    RawDocument("b.txt", "A dog barked at the old mailman. The mailman didn't mind!"),
    RawDocument("c.txt", "Attention heads learn syntax; some learn semantics, others position."),
    RawDocument("d.txt", "Paris is the capital of France. Berlin is the capital of Germany."),
]


def ingest(url, model, docs, nlp, corpus="heads"):
    return Ingestor(sessions(url), load_model(model), corpus, nlp=nlp).run(docs)


def api(url, model, corpus="heads"):
    from dashapp.app import create_app

    app = create_app(settings_for(model, url))
    try:
        resp = app.server.test_client().get(f"/api/heads?corpus={corpus}&model={model}")
        return resp.status_code, resp.get_json()
    finally:
        app.server.extensions["exbert"].store.dispose()


def stored_sentences(url, model):
    """Every stored sentence with its words (index, pos, dep, head) and each token's word."""
    with psycopg.connect(url) as conn:
        sentences = conn.execute("SELECT id, text FROM sentences ORDER BY id").fetchall()
        out = []
        for sid, text in sentences:
            words = conn.execute(
                "SELECT index, pos, dep, head_index FROM words WHERE sentence_id = %s ORDER BY index",
                (sid,),
            ).fetchall()
            token_words = [
                r[0]
                for r in conn.execute(
                    "SELECT w.index FROM tokens t JOIN models m ON m.id = t.model_id "
                    "LEFT JOIN words w ON w.id = t.word_id "
                    "WHERE t.sentence_id = %s AND m.name = %s ORDER BY t.position",
                    (sid, model),
                )
            ]
            out.append((text, words, token_words))
    return out


def brute_force(url, model, causal=False):
    """Every statistic recounted with plain loops from the model's own attentions."""
    runner = load_model(model)
    L, H = runner.layers, runner.heads
    sums = {
        name: np.zeros((L, H))
        for name in (
            "previous",
            "next",
            "self",
            "first",
            "last",
            "punctuation",
            "entropy",
            "uniform_entropy",
        )
    }
    counts = dict.fromkeys(sums, 0)
    right, links = {}, {}
    for text, words, token_words in stored_sentences(url, model):
        att = runner.analyze(text).attentions.astype(np.float64)  # [L, H, T, T]
        quantised = np.rint(att * 255) / 255  # as stored: what the syntax argmax sees
        T = att.shape[-1]
        for layer in range(L):
            for head in range(H):
                a = att[layer, head]
                for q in range(T):
                    if q > 0:
                        sums["previous"][layer, head] += a[q, q - 1]
                    if q < T - 1:
                        sums["next"][layer, head] += a[q, q + 1]
                    sums["self"][layer, head] += a[q, q]
                    sums["first"][layer, head] += a[q, 0]
                    sums["last"][layer, head] += a[q, T - 1]
                    sums["punctuation"][layer, head] += sum(
                        a[q, k] for k in range(T)
                        if token_words[k] is not None and words[token_words[k]][1] == "PUNCT"
                    )  # fmt: skip
                    sums["entropy"][layer, head] -= sum(p * math.log(p) for p in a[q] if p > 0)
                    sums["uniform_entropy"][layer, head] += math.log(q + 1 if causal else T)
        for name in sums:
            counts[name] += T - 1 if name in ("previous", "next") else T
        # syntax, as Clark et al.
        W = len(words)
        pieces = {w: [t for t in range(T) if token_words[t] == w] for w in range(W)}
        for layer in range(L):
            for head in range(H):
                a = quantised[layer, head]

                def merged(src, dst, a=a, pieces=pieces):
                    return sum(a[t, s] for t in pieces[src] for s in pieces[dst]) / len(pieces[src])

                for w, (_, _, dep, g) in enumerate(words):
                    if g == w or not pieces[w] or not pieces[g]:
                        continue
                    for direction, src, dst in (
                        ("dependent_to_head", w, g),
                        ("head_to_dependent", g, w),
                    ):
                        candidates = [v for v in range(W) if v != src and pieces[v]]
                        best = max(candidates, key=lambda v: (merged(src, v), -v))
                        for relation in (dep.lower(), "all"):
                            key = (relation, direction)
                            right.setdefault(key, np.zeros((L, H)))
                            right[key][layer, head] += best == dst
                            if layer == head == 0:
                                links[key] = links.get(key, 0) + 1
    means = {name: sums[name] / counts[name] for name in sums}
    accuracy = {key: right[key] / links[key] for key in right}
    return means, accuracy, links


@pytest.mark.parametrize("kind", ["bert-mlm", "gpt2"])
def test_statistics_equal_a_brute_force_count_from_the_models_attentions(
    db_url, tiny_models, nlp, kind
):
    model = tiny_models[kind]
    ingest(db_url, model, DOCS, nlp)
    status, atlas = api(db_url, model)
    assert status == 200, atlas
    means, accuracy, links = brute_force(db_url, model, causal=kind == "gpt2")
    for name, expected in means.items():
        # the counts read the bytes as stored: each weight within half a level of the model's
        tolerance = 0.5 / 255 * (40 if name == "punctuation" else 1) + 1e-6
        if name == "entropy":
            tolerance = 0.05
        np.testing.assert_allclose(atlas["stats"][name], expected, atol=tolerance, err_msg=name)
    assert set(atlas["dependency"]) == {relation for relation, _ in accuracy}
    for (relation, direction), expected in accuracy.items():
        entry = atlas["dependency"][relation]
        np.testing.assert_allclose(  # the same counts; the JSON has 6 places
            entry[direction], expected, atol=1e-6, err_msg=(relation, direction)
        )
        assert entry["count"] == links[(relation, direction)]
    assert atlas["sentences"] == len(stored_sentences(db_url, model))
    assert 0 <= atlas["dependency"]["all"]["baseline"] <= 1


def test_documents_one_at_a_time_equal_all_at_once(make_db, tiny_models, nlp):
    model = tiny_models["bert-mlm"]
    together, apart = make_db(), make_db()
    ingest(together, model, DOCS, nlp)
    for doc in DOCS:
        ingest(apart, model, [doc], nlp)
    _, a = api(together, model)
    _, b = api(apart, model)
    assert a["sentences"] == b["sentences"] and a["tokens"] == b["tokens"]
    for name in a["stats"]:
        np.testing.assert_allclose(a["stats"][name], b["stats"][name], atol=1e-12)
    assert a["dependency"] == b["dependency"]


def test_a_backfill_equals_counting_at_ingestion(make_db, tiny_models, nlp):
    """A store written before the statistics existed: `exbert heads --backfill` counts it,
    and the answer is what ingestion would have counted; a second backfill adds nothing."""
    model = tiny_models["bert-mlm"]
    counted, later = make_db(), make_db()
    ingest(counted, model, DOCS, nlp)
    ingest(later, model, DOCS, nlp)
    with psycopg.connect(later) as conn:
        for table in ("head_stats", "head_syntax", "syntax_baselines", "head_coverage"):
            conn.execute(f"DELETE FROM {table}")
        conn.execute("UPDATE document_models SET head_stats = false")
    status, body = api(later, model)
    assert status == 400 and "--backfill" in body["error"]
    env = {"EXBERT_DATABASE_URL": later}
    out = CliRunner().invoke(
        main, ["heads", "--corpus", "heads", "--model", model, "--backfill", "--json"], env=env
    )
    assert out.exit_code == 0, out.output
    backfilled = json.loads(out.output[out.output.index("{") :])
    _, expected = api(counted, model)
    assert backfilled == expected
    again = CliRunner().invoke(
        main, ["heads", "--corpus", "heads", "--model", model, "--backfill", "--json"], env=env
    )
    assert json.loads(again.output[again.output.index("{") :]) == expected


def synthetic_sentence(rng, n_words):
    """Random attention levels over [CLS] + words (some in two pieces) + [SEP], with
    dependency heads that point back, forward and at punctuation."""
    deps = ["det", "nsubj", "obj", "amod", "prep", "pobj", "punct"]
    words = [
        Word(i, "w", "w", "PUNCT" if i % 7 == 6 else "NOUN", "NN", deps[i % 7],
             (i + 1) % n_words if i % 5 == 0 else max(0, i - 1 - i % 3), "", "O", False, 0, 1)
        for i in range(n_words)
    ]  # fmt: skip
    tokens = [Token(0, "[CLS]", True, 0, 0)]
    for w in words:
        for _ in range(1 + (rng.random() < 0.3)):
            tokens.append(Token(len(tokens), "t", False, 0, 1, w))
    tokens.append(Token(len(tokens), "[SEP]", True, 0, 0))
    n = len(tokens)
    weights = rng.random((2, 3, n, n)) ** 6
    weights /= weights.sum(-1, keepdims=True)
    return np.rint(weights * 255).astype(np.uint8), tokens, words


@pytest.mark.parametrize("causal", [False, True])
def test_sentences_counted_together_equal_each_counted_alone(causal):
    """Counting pads a group's sentences to one array: the padding must add nothing, and
    the group's totals equal the sum of each sentence's, per statistic and relation."""
    rng = np.random.default_rng(7)
    group = [synthetic_sentence(rng, int(k)) for k in rng.integers(1, 45, 60)]
    together = group_counts(group, 2, 3, causal)
    alone = total([sentence_counts(*one, causal=causal) for one in group], 2, 3)
    each = each_sentence_counts(group, causal)
    for counts in (alone, total(each, 2, 3)):
        np.testing.assert_allclose(together.sums, counts.sums, rtol=1e-9)
        assert (together.counts == counts.counts).all()
        assert together.sentences == 60 and together.tokens == counts.tokens
        assert together.correct.keys() == counts.correct.keys()
        for key in counts.correct:
            assert (together.correct[key] == counts.correct[key]).all(), key
            assert together.links[key] == counts.links[key]
            assert (together.baseline[key] == counts.baseline[key]).all()
    assert together.links[("all", "dependent_to_head")] > 100  # links were counted at all


def plain_counts(levels, tokens, words, causal):
    """Every statistic of one sentence with plain loops over its stored levels: the
    reference for exbert/head_stats.py's arrays (no database, no model)."""
    L, H, n, _ = levels.shape
    a = levels.astype(np.float64) / 255
    token_words = [t.word.index if t.word is not None else None for t in tokens]
    punct = [w is not None and words[w].pos == "PUNCT" for w in token_words]
    sums = np.zeros((L, H, 8))
    for layer in range(L):
        for head in range(H):
            x = a[layer, head]
            for q in range(n):
                sums[layer, head, 0] += x[q, q - 1] if q > 0 else 0
                sums[layer, head, 1] += x[q, q + 1] if q < n - 1 else 0
                sums[layer, head, 2] += x[q, q]
                sums[layer, head, 3] += x[q, 0]
                sums[layer, head, 4] += x[q, n - 1]
                sums[layer, head, 5] += sum(x[q, k] for k in range(n) if punct[k])
                sums[layer, head, 6] -= sum(p * math.log(p) for p in x[q] if p > 0)
                sums[layer, head, 7] += math.log(q + 1 if causal else n)
    counts = [n - 1, n - 1, n, n, n, n, n, n]
    pieces = {w: [t for t in range(n) if token_words[t] == w] for w in range(len(words))}
    right, links, baseline = {}, {}, {}
    for w, word in enumerate(words):
        g = word.head_index
        if g == w or not pieces[w] or not pieces.get(g):
            continue
        for direction, src, dst in (("dependent_to_head", w, g), ("head_to_dependent", g, w)):
            for key in ((word.dep.lower(), direction), ("all", direction)):
                links[key] = links.get(key, 0) + 1
                baseline.setdefault(key, np.zeros(6, dtype=int))
                for i, offset in enumerate((-3, -2, -1, 1, 2, 3)):
                    baseline[key][i] += src + offset == dst
                right.setdefault(key, np.zeros((L, H), dtype=int))
            candidates = [v for v in range(len(words)) if v != src and pieces[v]]
            for layer in range(L):
                for head in range(H):
                    x = levels[layer, head].astype(np.int64)

                    def merged(v, x=x, src=src):
                        return sum(x[t, s] for t in pieces[src] for s in pieces[v]) / len(
                            pieces[src]
                        )

                    best = max(candidates, key=lambda v: (merged(v), -v))
                    for key in ((word.dep.lower(), direction), ("all", direction)):
                        right[key][layer, head] += best == dst
    return sums, counts, right, links, baseline


@pytest.mark.parametrize("causal", [False, True])
def test_counts_equal_plain_loops_over_the_stored_levels(causal):
    """Each statistic, per sentence and for a group, against plain loops: positional
    sums, the entropy from its pair table, the uniform entropy, and every relation's
    correct links and offset baselines in both directions."""
    from exbert import head_stats

    head_stats._TABLES.clear()  # the entropy's table is built here, not cached from before
    rng = np.random.default_rng(11)
    group = [synthetic_sentence(rng, int(k)) for k in rng.integers(1, 14, 12)]
    want = [plain_counts(*one, causal) for one in group]
    for got, (sums, counts, right, links, baseline) in zip(
        each_sentence_counts(group, causal), want, strict=True
    ):
        np.testing.assert_allclose(got.sums, sums, atol=1e-6)
        assert got.counts.tolist() == counts
        assert got.correct.keys() == right.keys() and got.links == links
        for key in right:
            assert (got.correct[key] == right[key]).all(), key
            assert (got.baseline[key] == baseline[key]).all(), key
    together = group_counts(group, 2, 3, causal)
    np.testing.assert_allclose(together.sums, sum(w[0] for w in want), atol=1e-5)
    means = together.means()
    assert means["self"].shape == (2, 3)
    np.testing.assert_allclose(
        means["self"], sum(w[0] for w in want)[:, :, 2] / sum(w[1][2] for w in want)
    )
    assert together.tokens == sum(len(t) for _, t, _ in group)


def test_api_and_cli_twins_and_what_a_corpus_removal_takes_along(db_url, tiny_models, nlp):
    model = tiny_models["bert-mlm"]
    ingest(db_url, model, DOCS, nlp)
    _, atlas = api(db_url, model)
    out = CliRunner().invoke(
        main,
        ["heads", "--corpus", "heads", "--model", model, "--json"],
        env={"EXBERT_DATABASE_URL": db_url},
    )
    assert out.exit_code == 0 and json.loads(out.output) == atlas
    text = CliRunner().invoke(
        main, ["heads", "--corpus", "heads", "--model", model], env={"EXBERT_DATABASE_URL": db_url}
    )
    assert "previous:" in text.output and "best head" in text.output
    assert len(atlas["stats"]["previous"]) == 2 and len(atlas["stats"]["previous"][0]) == 4
    with psycopg.connect(db_url) as conn:
        conn.execute("DELETE FROM corpora WHERE name = 'heads'")
        left = conn.execute(
            "SELECT (SELECT count(*) FROM head_stats) + (SELECT count(*) FROM head_syntax) + "
            "(SELECT count(*) FROM syntax_baselines) + (SELECT count(*) FROM head_coverage)"
        ).fetchone()[0]
    assert left == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("corpus=nothing&model={model}", "No corpus named"),
        ("corpus=heads&model=../../etc", "Unknown model"),
        ("model={model}", '"corpus" must name'),
        ("corpus=empty&model={model}", "No head statistics"),
        ("corpus=heads%00&model={model}", '"corpus" must name'),
    ],
)
def test_bad_requests_get_a_clear_4xx(db_url, tiny_models, nlp, query, message):
    from dashapp.app import create_app

    model = tiny_models["bert-mlm"]
    ingest(db_url, model, DOCS[:1], nlp)
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO corpora (name) VALUES ('empty')")
    app = create_app(settings_for(model, db_url))
    resp = app.server.test_client().get("/api/heads?" + query.format(model=model))
    assert resp.status_code == 400 and message in resp.get_json()["error"], resp.get_json()
    app.server.extensions["exbert"].store.dispose()


def test_the_sentences_behind_a_cell_are_where_the_head_does_it_most(db_url, tiny_models, nlp):
    from explore.explorer import Explorer

    model = tiny_models["bert-mlm"]
    ingest(db_url, model, DOCS, nlp)
    explorer = Explorer(settings_for(model, db_url))
    found = explorer.head_examples("heads", model, 1, 2, "previous")
    runner = load_model(model)
    share = {}
    for text, _, _ in stored_sentences(db_url, model):
        a = np.rint(runner.analyze(text).attentions[1, 2] * 255) / 255
        share[text] = np.mean([a[q, q - 1] for q in range(1, len(a))])
    assert [e.text for e in found] == sorted(share, key=lambda t: -share[t])[: len(found)]
    assert found[0].score == pytest.approx(max(share.values()), abs=1e-3)
    nouns = explorer.head_examples("heads", model, 0, 0, "dependency", "det", "dependent_to_head")
    assert all("det links right" in e.detail for e in nouns)
    explorer.store.dispose()


def test_the_heads_page_draws_the_chosen_statistic_and_keeps_it_in_the_url(
    db_url, tiny_models, nlp
):
    from dashapp.app import create_app
    from dashapp.pages import heads

    model = tiny_models["bert-mlm"]
    ingest(db_url, model, DOCS, nlp)
    page = heads.layout(["heads"], [model], search="?corpus=heads&statistic=self&model=nope")
    values = {c.id: c.value for c in _walk(page) if getattr(c, "id", None) and hasattr(c, "value")}
    assert values[heads.STATISTIC] == "self" and values[heads.MODEL] == model  # unknown -> first
    app = create_app(settings_for(model, db_url))
    _, atlas = api(db_url, model)
    with app.server.app_context():
        out = heads.render("heads", model, "self", "all", "dependent_to_head")
        syntax = heads.render("heads", model, "dependency", "det", "head_to_dependent")
    drawn = out["figure"]["data"][0]
    assert np.allclose(drawn["z"], atlas["stats"]["self"], atol=5e-5)  # drawn to 4 places
    assert "statistic=self" in out["url"] and "corpus=heads" in out["url"]
    det = atlas["dependency"]["det"]["head_to_dependent"]
    assert np.allclose(syntax["figure"]["data"][0]["z"], det, atol=5e-5)
    assert "best fixed offset" in syntax["note"].children
    app.server.extensions["exbert"].store.dispose()


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and hasattr(child, "to_plotly_json"):
            yield from _walk(child)
