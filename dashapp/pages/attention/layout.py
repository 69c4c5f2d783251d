"""The Attention page's components and where they sit; no behaviour here."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashapp.components import search_panel
from dashapp.figures.charts import empty_figure
from dashapp.pages.attention import ids
from dashapp.pages.attention.state import EXAMPLES
from explore.attention import MAX_CHARS


def layout(
    models: list[str],
    default_model: str,
    notice: str | None = None,
    corpora: list[str] = (),
    filter_labels: dict[str, list[str]] | None = None,
    problem: str | None = None,
) -> html.Div:
    """The page; `notice` says why the store is unavailable, `corpora` and `filter_labels`
    feed the search panel (which shows `problem` instead when the store is down)."""
    controls = dbc.Card(
        dbc.CardBody(
            [
                html.Label("Layer", className="fw-semibold"),
                dcc.Slider(
                    id=ids.LAYER,
                    min=0,
                    max=5,
                    step=1,
                    value=0,
                    marks=None,
                    tooltip={"placement": "bottom", "always_visible": True},
                ),
                html.Div(
                    [
                        html.Span("Heads", className="fw-semibold me-2"),
                        dbc.Button(
                            "all",
                            id=ids.ALL_HEADS,
                            size="sm",
                            color="secondary",
                            outline=True,
                            className="me-1",
                        ),
                        dbc.Button(
                            "none", id=ids.NO_HEADS, size="sm", color="secondary", outline=True
                        ),
                    ],
                    className="mt-3 mb-1",
                ),
                html.Small(
                    "Click a head to toggle it; hover to preview it alone.", className="text-muted"
                ),
                dcc.Graph(
                    id=ids.THUMBS,
                    config={"displayModeBar": False},
                    figure=empty_figure(),
                    clear_on_unhover=True,
                ),
                html.Hr(),
                dbc.Switch(id=ids.HIDE, label="Hide special tokens (renormalise)", value=False),
                dbc.RadioItems(
                    id=ids.MODE,
                    inline=True,
                    value="graph",
                    options=[
                        {"label": "Lines", "value": "graph"},
                        {"label": "Heatmap", "value": "heatmap"},
                    ],
                ),
                html.Label(
                    "Keep each token's strongest lines up to this share of its attention",
                    className="mt-2 small",
                ),
                dcc.Slider(
                    id=ids.THRESHOLD,
                    min=0.1,
                    max=1.0,
                    step=0.05,
                    value=0.7,
                    marks={0.1: "0.1", 0.7: "0.7", 1: "1"},
                    tooltip={"placement": "bottom"},
                ),
            ]
        ),
        className="mb-3",
    )
    return html.Div(
        [
            dcc.Location(id=ids.URL, refresh=False),
            dcc.Store(id=ids.STATE),
            dcc.Store(id=ids.HEADS),
            dcc.Store(id=ids.MASKS, data=[]),
            dcc.Store(id=ids.TOKEN),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.InputGroup(
                            [
                                dbc.Input(
                                    id=ids.SENTENCE,
                                    placeholder="Type a sentence and press Enter",
                                    debounce=False,
                                    maxLength=MAX_CHARS * 5,
                                    autoFocus=True,
                                ),
                                dbc.Button("Run", id=ids.RUN, color="primary"),
                            ]
                        ),
                        md=8,
                    ),
                    dbc.Col(
                        dcc.Dropdown(
                            id=ids.MODEL, options=models, value=default_model, clearable=False
                        ),
                        md=4,
                    ),
                ],
                className="g-2 mb-2",
            ),
            html.Div(
                [html.Small("Examples: ", className="text-muted")]
                + [
                    dbc.Button(
                        e,
                        id={"type": ids.EXAMPLE, "index": i},
                        color="link",
                        size="sm",
                        className="p-0 me-3",
                    )
                    for i, e in enumerate(EXAMPLES)
                ],
                className="mb-2",
            ),
            html.Div(dbc.Alert(notice, color="warning") if notice else None),
            html.Div(id=ids.MESSAGES),
            dbc.Row(
                [
                    dbc.Col(controls, lg=3),
                    dbc.Col(
                        [
                            html.Small(id=ids.COMBINE_NOTE, className="text-muted"),
                            dcc.Loading(
                                dcc.Graph(
                                    id=ids.GRAPH,
                                    figure=empty_figure(),
                                    clear_on_unhover=True,
                                    config={"displayModeBar": False},
                                ),
                                delay_show=150,
                            ),
                        ],
                        lg=5,
                    ),
                    dbc.Col(
                        [
                            dbc.Button(
                                "Mask selected token",
                                id=ids.MASK_BUTTON,
                                color="danger",
                                outline=True,
                                size="sm",
                                className="mb-2",
                                disabled=True,
                            ),
                            html.Div(id=ids.TOKEN_PANEL),
                        ],
                        lg=4,
                    ),
                ]
            ),
            search_panel.layout(corpora, filter_labels, problem),
            html.H5("Predictions", className="mt-4"),
            html.Div(id=ids.PREDICTIONS),
        ]
    )
