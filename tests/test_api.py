"""The JSON API on the app's server: what the page shows, and clear 4xx errors."""

import numpy as np
import pytest

from exbert.model import load_model
from tests.conftest import settings_for


def test_health_and_models(client, app_env):
    health = client.get("/api/health").get_json()
    assert health["status"] == "ok" and health["database"] == "ok"
    models = client.get("/api/models").get_json()["models"]
    assert models[0] == app_env["model"]


def test_attention_returns_what_the_model_computes(client, app_env):
    resp = client.post("/api/attention", json={"sentence": "The cat sat on the mat.", "masks": [2]})
    assert resp.status_code == 200
    data = resp.get_json()
    runner = load_model(app_env["model"])
    expected = runner.analyze("The cat sat on the mat.", masks=[2])
    assert [t["text"] for t in data["tokens"]] == [t.text for t in expected.tokens]
    np.testing.assert_allclose(np.array(data["attentions"]), expected.attentions, atol=1e-4)
    assert data["tokens"][0]["is_special"] and data["tokens"][0]["word"] is None
    assert data["tokens"][2]["masked"] and data["tokens"][2]["word"]["pos"] == "NOUN"
    cat = data["tokens"][2]["word"]
    assert cat["head_text"] == "sat" and data["tokens"][3]["word"]["index"] == cat["head_index"]
    assert data["kind"] == "mlm" and len(data["predictions"]) == len(data["tokens"])
    top = data["predictions"][2][0]
    assert top["token"] == expected.predictions[2][0][0]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (None, "Send a JSON object"),
        ({"sentence": ""}, "Type a sentence"),
        ({"sentence": "   \n"}, "Type a sentence"),
        ({"sentence": 42}, '"sentence" must be a string'),
        ({"sentence": "The cat.", "masks": "2"}, '"masks" must be a list'),
        ({"sentence": "The cat.", "masks": [0]}, "Cannot mask token 0"),
        ({"sentence": "The cat.", "masks": [99]}, "Cannot mask token 99"),
        ({"sentence": "The cat.", "model": "'; DROP TABLE tokens; --"}, "Unknown model"),
        ({"sentence": "The cat.", "model": "../../etc"}, "Unknown model"),
    ],
)
def test_bad_requests_get_a_clear_4xx(client, payload, message):
    resp = (
        client.post("/api/attention", json=payload)
        if payload is not None
        else client.post("/api/attention", data="not json")
    )
    assert resp.status_code == 400
    assert message in resp.get_json()["error"]


def test_long_and_unicode_input(client):
    data = client.post("/api/attention", json={"sentence": "The cat sat. " * 400}).get_json()
    assert data["truncated"] and len(data["tokens"]) <= 64
    data = client.post("/api/attention", json={"sentence": "Zoë's café 😀 naïve"}).get_json()
    assert not data["truncated"] and any(
        t["word"] and t["word"]["text"] == "😀" for t in data["tokens"]
    )


def test_unknown_route_and_method_are_json(client):
    assert client.get("/api/nothing").status_code == 404
    resp = client.get("/api/attention")
    assert resp.status_code == 405 and "error" in resp.get_json()


def test_database_down_keeps_attention_working(app_env):
    from dashapp.app import create_app

    app = create_app(settings_for(app_env["model"], "postgresql://exbert@127.0.0.1:9/none"))
    client = app.server.test_client()
    health = client.get("/api/health").get_json()
    assert "corpus database is unavailable" in health["database"]
    assert client.post("/api/attention", json={"sentence": "Still works."}).status_code == 200


def test_the_page_draws_before_spacy_reads_the_sentence(explorer, app_env):
    """The first paint waits for the model only; spaCy's words follow in the background
    and are the same as a view that waited for them."""
    import time

    sentence = "The mailman read the letter aloud."
    views = explorer.views
    first = views.view(app_env["model"], sentence, words=False)
    assert not first.annotated and all(t.word is None for t in first.tokens)
    views.annotate_later(sentence)
    deadline = time.monotonic() + 30
    while not (later := views.view(app_env["model"], sentence, words=False)).annotated:
        assert time.monotonic() < deadline, "spaCy never finished in the background"
        time.sleep(0.05)
    waited = views.view(app_env["model"], sentence)
    assert later.tokens == waited.tokens
    assert later.attentions is first.attentions  # the model ran once
    mailman = [t.word for t in later.tokens if t.word and t.word.text == "mailman"]
    assert mailman and mailman[0].pos == "NOUN"
    # renders in a row start one background reading, not one each
    other = "A second sentence nobody has read."
    assert views.claim_reading(other) and not views.claim_reading(other)
    views.words(other)
    assert not views.claim_reading(other)
