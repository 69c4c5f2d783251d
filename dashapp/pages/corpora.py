"""The Corpora page: what the store holds, per corpus and model."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from dashapp import store_access

PATH = "/corpora"
TITLE = "Corpora"


def layout() -> html.Div:
    try:
        from db.stats import corpus_counts

        with store_access.session_factory().begin() as s:
            rows = corpus_counts(s)
    except store_access.StoreUnavailable as err:
        return dbc.Alert(str(err), color="danger")
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
