"""The Heads page: what every head does over a corpus, and the sentences that show it.

A layer x head heatmap of one statistic of the head atlas (explore/heads.py);
hovering a cell gives its value and rank, clicking it lists the corpus sentences
where that head does it most, each a link that opens the Attention page at that
layer with only that head selected.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, dcc, html, no_update

from dashapp.callbacks import Callbacks, explorer
from dashapp.figures import heads as figures
from dashapp.figures.charts import FIGURE_CONFIG, empty_figure
from exbert.head_stats import DIRECTIONS, POSITIONAL
from explore.errors import QueryTimeout, StoreUnavailable, UserError
from explore.heads import DEPENDENCY

PATH = "/heads"
TITLE = "Heads"
registry = Callbacks()

CORPUS, MODEL, STATISTIC = "heads-corpus", "heads-model", "heads-statistic"
RELATION, DIRECTION = "heads-relation", "heads-direction"
GRAPH, NOTE, EXAMPLES = "heads-graph", "heads-note", "heads-examples"
URL = "heads-url"
FAILURES = (UserError, StoreUnavailable, QueryTimeout)
STATISTICS = [*POSITIONAL, "entropy", DEPENDENCY]


def _choice(query: dict, key: str, allowed: list[str], default: str | None) -> str | None:
    value = query.get(key, [None])[-1]
    return value if value in allowed else default


def layout(
    corpora: list[str], models: list[str], problem: str | None = None, search: str | None = None
) -> html.Div:
    """The page, with the corpus, model and statistic the URL names (?corpus=&model=&
    statistic=&relation=&direction=), so a link shows the same atlas."""
    if problem:
        return dbc.Alert(problem, color="danger")
    query = parse_qs((search or "").lstrip("?"))
    corpus = _choice(query, "corpus", corpora, corpora[0] if corpora else None)
    model = _choice(query, "model", models, models[0] if models else None)
    statistic = _choice(query, "statistic", STATISTICS, "previous")
    relation = query.get("relation", ["all"])[-1][:32]
    direction = _choice(query, "direction", list(DIRECTIONS), DIRECTIONS[0])
    controls = dbc.Row(
        [
            dbc.Col(
                dcc.Dropdown(
                    id=CORPUS, options=corpora, value=corpus, clearable=False, placeholder="corpus"
                ),
                md=2,
            ),
            dbc.Col(dcc.Dropdown(id=MODEL, options=models, value=model, clearable=False), md=3),
            dbc.Col(
                dcc.Dropdown(
                    id=STATISTIC,
                    options=[{"label": figures.STAT_TITLES[s], "value": s} for s in STATISTICS],
                    value=statistic,
                    clearable=False,
                ),
                md=3,
            ),
            dbc.Col(
                dcc.Dropdown(id=RELATION, options=[relation], value=relation, clearable=False),
                md=2,
            ),
            dbc.Col(
                dbc.RadioItems(
                    id=DIRECTION,
                    value=direction,
                    options=[{"label": d.replace("_", " "), "value": d} for d in DIRECTIONS],
                ),
                md=2,
            ),
        ],
        className="g-2 mb-2",
    )
    return html.Div(
        [
            dcc.Location(id=URL, refresh=False),
            html.H4("Heads"),
            html.Small(
                "What each head does over the whole corpus. Hover a cell for its value and "
                "rank; click it for the sentences where that head does it most.",
                className="text-muted",
            ),
            controls,
            html.Div(id=NOTE),
            dbc.Row(
                [
                    dbc.Col(
                        dcc.Loading(
                            dcc.Graph(id=GRAPH, figure=empty_figure(), config=FIGURE_CONFIG),
                            delay_show=150,
                        ),
                        lg=7,
                    ),
                    dbc.Col(html.Div(id=EXAMPLES), lg=5),
                ]
            ),
        ]
    )


def _grid(atlas: dict, statistic: str, relation: str, direction: str):
    """The chosen grid, whether higher is stronger, and its reference value."""
    if statistic == DEPENDENCY:
        entry = atlas["dependency"].get(relation) or atlas["dependency"]["all"]
        return entry[direction], True, entry["baselines"][direction]["accuracy"]
    if statistic == "entropy":
        uniform = float(np.mean(atlas["stats"]["uniform_entropy"]))
        return atlas["stats"]["entropy"], False, uniform
    return atlas["stats"][statistic], True, None


@registry(
    output=dict(
        figure=Output(GRAPH, "figure"),
        note=Output(NOTE, "children"),
        relations=Output(RELATION, "options"),
        relation_off=Output(RELATION, "disabled"),
        direction_off=Output(DIRECTION, "options"),
        url=Output(URL, "search"),
    ),
    inputs=dict(
        corpus=Input(CORPUS, "value"),
        model=Input(MODEL, "value"),
        statistic=Input(STATISTIC, "value"),
        relation=Input(RELATION, "value"),
        direction=Input(DIRECTION, "value"),
    ),
)
def render(corpus, model, statistic, relation, direction):
    directions = [{"label": d.replace("_", " "), "value": d, "disabled": statistic != DEPENDENCY}
                  for d in DIRECTIONS]  # fmt: skip
    out = {
        "relations": no_update,
        "relation_off": statistic != DEPENDENCY,
        "direction_off": directions,
        "url": no_update,
    }
    try:
        atlas = explorer().heads(corpus, model)
    except FAILURES as err:
        return {**out, "figure": empty_figure(), "note": dbc.Alert(str(err), color="warning")}
    if statistic not in STATISTICS or direction not in DIRECTIONS:
        return {
            **out,
            "figure": empty_figure(),
            "note": dbc.Alert("Pick a statistic.", color="warning"),
        }
    relations = sorted(
        atlas["dependency"], key=lambda r: (r != "all", -atlas["dependency"][r]["count"])
    )
    relation = relation if relation in atlas["dependency"] else "all"
    grid, descending, reference = _grid(atlas, statistic, relation, direction)
    title = figures.STAT_TITLES[statistic]
    if statistic == DEPENDENCY:
        title = f"{relation}: {direction.replace('_', ' ')} accuracy"
    note = (
        f"{atlas['corpus']} with {atlas['model']}: {atlas['sentences']:,} sentences, "
        f"{atlas['tokens']:,} tokens."
    )
    if statistic == "entropy":
        note += f" Uniform attention over the keys a token sees would be {reference:.2f} nats."
    if statistic == DEPENDENCY:
        count = atlas["dependency"][relation]["count"]
        offset = atlas["dependency"][relation]["baselines"][direction]["offset"]
        note += f" {count:,} {relation} links; the best fixed offset ({offset:+d}) gets {reference:.1%}."
    return {
        **out,
        "figure": figures.atlas_figure(
            grid, title, descending, reference if statistic == DEPENDENCY else None
        ),
        "note": html.Small(note, className="text-muted", id="heads-note-text"),
        "relations": [
            {"label": f"{r} ({atlas['dependency'][r]['count']:,})", "value": r} for r in relations
        ],
        "url": "?"
        + urlencode(
            {
                "corpus": corpus,
                "model": model,
                "statistic": statistic,
                "relation": relation,
                "direction": direction,
            }
        ),
    }


@registry(
    Output(EXAMPLES, "children"),
    Input(GRAPH, "clickData"),
    State(CORPUS, "value"),
    State(MODEL, "value"),
    State(STATISTIC, "value"),
    State(RELATION, "value"),
    State(DIRECTION, "value"),
    prevent_initial_call=True,
)
def show_examples(click, corpus, model, statistic, relation, direction):
    point = (click or {}).get("points", [{}])[0] if isinstance(click, dict) else {}
    layer, head = point.get("y"), point.get("x")
    try:
        found = explorer().head_examples(corpus, model, layer, head, statistic, relation, direction)
    except FAILURES as err:
        return dbc.Alert(str(err), color="warning")
    if not found:
        return dbc.Alert("No sentence of the sample shows it.", color="secondary")
    items = [
        html.Li(
            [
                html.A(
                    e.text,
                    href="/?"
                    + urlencode(
                        {"sentence": e.text, "model": model, "layer": layer, "heads": head}
                    ),
                ),  # fmt: skip
                html.Small(f"  ({e.detail})", className="text-muted"),
            ],
            className="mb-2 head-example",
        )
        for e in found
    ]
    return html.Div(
        [
            html.H6(f"Layer {layer}, head {head}: where it does it most"),
            html.Small(
                "Of a fixed sample of the corpus; a link opens the sentence with this head alone.",
                className="text-muted",
            ),  # fmt: skip
            html.Ol(items, className="mt-2 small", id="heads-example-list"),
        ]
    )
