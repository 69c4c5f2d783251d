"""The Corpora page: what the store holds, per corpus and model."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from db.stats import CorpusModelCounts

PATH = "/corpora"
TITLE = "Corpora"


def layout(rows: list[CorpusModelCounts], problem: str | None = None) -> html.Div:
    if problem:
        return dbc.Alert(problem, color="danger")
    if not rows:
        return dbc.Alert(
            [
                "No corpora yet. Add one with ",
                html.Code("exbert ingest --corpus NAME PATH..."),
                " or ",
                html.Code("exbert demo"),
                ".",
            ],
            color="info",
        )
    head = html.Thead(
        html.Tr(
            [
                html.Th(h)
                for h in (
                    "corpus",
                    "documents",
                    "sentences",
                    "model",
                    "documents for model",
                    "tokens",
                )
            ]
        )
    )
    body = html.Tbody(
        [
            html.Tr(
                [
                    html.Td(r.corpus),
                    html.Td(f"{r.documents:,}"),
                    html.Td(f"{r.sentences:,}"),
                    html.Td(r.model or "–"),
                    html.Td(f"{r.model_documents:,}"),
                    html.Td(f"{r.tokens:,}"),
                ]
            )
            for r in rows
        ]
    )
    return html.Div(
        [html.H4("Corpora"), dbc.Table([head, body], striped=True, size="sm", id="corpora-table")]
    )
