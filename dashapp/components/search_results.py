"""What the search panel shows of a result: one compact row per match for the results grid.

Only what the page shows crosses the wire: a row carries its sentence, the
character spans of the match and of the token it attends to most, and per word
its span, head and an index into one table of annotation labels shared by all
rows (the grid's context); the grid's cell renderer,
assets/dashAgGridComponentFunctions.js, builds each word's hover label from them.
The whole result stays on the server, where the CSV is made.
"""

from __future__ import annotations

from collections.abc import Sequence

from dashapp.figures.attention import display_label
from explore.summary import Match

COLUMNS = [
    {"field": "rank", "headerName": "#", "width": 64, "filter": "agNumberColumnFilter"},
    {"field": "score", "width": 86, "filter": "agNumberColumnFilter",
     "valueFormatter": {"function": "params.value == null ? '' : params.value.toFixed(3)"}},
    {"field": "sentence", "headerName": "sentence (match in blue, most attended underlined)",
     "cellRenderer": "SentenceCell", "flex": 1, "minWidth": 360, "wrapText": True,
     "autoHeight": True, "filter": "agTextColumnFilter", "sortable": False},
    {"field": "match", "width": 104},
    {"field": "match_pos", "headerName": "POS", "width": 86},
    {"field": "match_dep", "headerName": "dep", "width": 96},
    {"field": "attended", "headerName": "attends to", "width": 110},
    {"field": "attended_pos", "headerName": "its POS", "width": 90},
    {"field": "offset", "width": 84, "filter": "agNumberColumnFilter"},
    {"field": "document", "width": 160, "hide": True},
]  # fmt: skip


class Labels:
    """A table of distinct (POS, tag, dep, entity) annotations; words point into it."""

    def __init__(self) -> None:
        self.index: dict[tuple, int] = {}

    def __call__(self, key: tuple) -> int:
        return self.index.setdefault(key, len(self.index))

    def table(self) -> list[list[str]]:
        return [list(key) for key in self.index]


def _words(match: Match, labels: Labels) -> list[list]:
    """Per word of the sentence: start, end, label index, head index, and its lemma
    when it is not the word itself (lower-cased): what its hover label says."""
    words = {}
    for t in match.tokens:
        w = t.word
        if w is not None and w.index not in words:
            entry = [w.start, w.end, labels((w.pos, w.tag, w.dep, w.ent_type)), w.head_index]
            if w.lemma not in (w.text, w.text.lower()):
                entry.append(w.lemma)
            words[w.index] = entry
    return [words[i] for i in sorted(words)]


def _span(match: Match, position: int | None) -> list[int] | None:
    token = match.token(position)
    if token is None or token.is_special:
        return None
    word = token.word
    return [word.start, word.end] if word is not None else [token.start, token.end]


def grid_rows(matches: Sequence[Match]) -> tuple[list[dict], list[list[str]]]:
    """The grid's rows and the label table their words point into."""
    labels = Labels()
    rows = []
    for rank, m in enumerate(matches, 1):
        token, attended = m.token(m.match_index), m.token(m.max_attention_index)
        word = token.word if token else None
        rows.append(
            {
                "id": str(rank),  # the grid's row id (a click reports it)
                "rank": rank,
                "score": m.score,
                "sentence": m.text,
                "words": _words(m, labels),
                "match_span": _span(m, m.match_index),
                "attended_span": _span(m, m.max_attention_index),
                "match": display_label(token.text) if token else "",
                "match_pos": word.pos if word else "",
                "match_dep": word.dep if word else "",
                "attended": display_label(attended.text) if attended else "",
                "attended_pos": attended.word.pos if attended and attended.word else "",
                "offset": None if attended is None else attended.position - m.match_index,
                "document": m.document,
            }
        )
    return rows, labels.table()
