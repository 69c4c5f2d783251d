"""A search's matches as CSV: one row per match with its and its attended token's annotation."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from explore.summary import Match

COLUMNS = (
    "rank",
    "score",
    "sentence_id",
    "document",
    "sentence",
    "match_position",
    "match_token",
    "match_word",
    "match_lemma",
    "match_pos",
    "match_tag",
    "match_dep",
    "match_ent_type",
    "attended_position",
    "attended_token",
    "attended_word",
    "attended_pos",
    "attended_dep",
    "attended_ent_type",
    "offset",
)


def to_csv(matches: Sequence[Match]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for rank, m in enumerate(matches, 1):
        token = m.token(m.match_index)
        w = token.word if token else None
        a = m.token(m.max_attention_index)
        aw = a.word if a else None
        writer.writerow(
            [
                rank,
                m.score,
                m.sentence_id,
                m.document,
                m.text,
                m.match_index,
                token.text if token else None,
                w and w.text,
                w and w.lemma,
                w and w.pos,
                w and w.tag,
                w and w.dep,
                w and w.ent_type,
                None if a is None else a.position,
                None if a is None else a.text,
                aw and aw.text,
                aw and aw.pos,
                aw and aw.dep,
                aw and aw.ent_type,
                None if a is None else a.position - m.match_index,
            ]
        )
    return out.getvalue()
