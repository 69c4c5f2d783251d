"""The Attention page's components and where they sit; no behaviour here."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashapp.components import figure_export, search_panel
from dashapp.figures.charts import empty_figure
from dashapp.pages.attention import ids
from dashapp.pages.attention.state import EXAMPLES, input_of
from dashapp.urlstate import ViewState
from explore.attention import MAX_CHARS


def layout(
    models: list[str],
    view: ViewState,
    notice: str | None = None,
    corpora: list[str] = (),
    filter_labels: dict[str, list[str]] | None = None,
    problem: str | None = None,
) -> html.Div:
    """The page as `view` (from the URL) asks; `notice` says why the store is unavailable,
    `corpora` and `filter_labels` feed the search panel (which shows `problem` instead
    when the store is down)."""
    controls = dbc.Card(
        dbc.CardBody(
            [
                html.Label("Layer", className="fw-semibold"),
                dcc.Slider(
                    id=ids.LAYER,
                    min=0,
                    max=max(5, view.layer),
                    step=1,
                    value=view.layer,
                    marks=layer_marks(max(6, view.layer + 1)),
                    tooltip={"placement": "top", "always_visible": False},
                    updatemode="drag",  # the graph follows while the handle moves
                    className="mb-2",
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
                dbc.Switch(
                    id=ids.ABLATE,
                    label="Switch off the selected heads (predictions before and after)",
                    value=view.ablate,
                    className="mt-2 small",
                ),
                html.Hr(),
                dbc.Switch(
                    id=ids.HIDE, label="Hide special tokens (renormalise)", value=view.hide_special
                ),
                dbc.RadioItems(
                    id=ids.MODE,
                    inline=True,
                    value=view.mode,
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
                    value=view.threshold,
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
            dcc.Store(id=ids.STATE, data=view.to_dict()),
            dcc.Store(id=ids.INPUT, data=input_of(view.to_dict())),
            dcc.Store(id=ids.HEADS, data=None if view.heads is None else list(view.heads)),
            dcc.Store(id=ids.ABLATED),
            dcc.Store(id=ids.MASKS, data=list(view.masks)),
            dcc.Store(id=ids.TOKEN, data=view.token),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.InputGroup(
                            [
                                dbc.Input(
                                    id=ids.SENTENCE,
                                    value=view.sentence,
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
                            id=ids.MODEL, options=models, value=view.model, clearable=False
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
                            html.Div(
                                [
                                    html.Small(id=ids.COMBINE_NOTE, className="text-muted"),
                                    figure_export.buttons(ids.GRAPH, "attention"),
                                ],
                                className="d-flex justify-content-between align-items-start",
                            ),
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


def layer_marks(layers: int) -> dict[int, str]:
    """A mark per layer (every fifth past 12 layers), so the slider needs no tooltip."""
    step = 1 if layers <= 12 else 5
    marks = {i: str(i) for i in range(0, layers, step)}
    marks[layers - 1] = str(layers - 1)
    return marks
