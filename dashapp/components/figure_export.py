"""Save any figure on a page as PNG or SVG (Plotly's own export, run in the browser).

`buttons(graph_id, name)` places two small buttons; one clientside callback, shared
by every page, finds the graph and asks Plotly for the image: nothing goes to the
server, and an SVG of the attention graph is a standalone vector drawing for papers.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import ALL, ClientsideFunction, Input, Output, dcc, html

from dashapp.callbacks import Callbacks

registry = Callbacks()
EXPORT = "figure-export"  # pattern-matching: {"type": EXPORT, "graph": id, "format": f, "name": n}
DONE = "figure-export-done"


def buttons(graph_id: str, name: str) -> html.Div:
    return html.Div(
        [
            html.Small("Save as ", className="text-muted me-1"),
            dbc.ButtonGroup(
                [
                    dbc.Button(
                        fmt.upper(),
                        id={"type": EXPORT, "graph": graph_id, "format": fmt, "name": name},
                        size="sm",
                        color="secondary",
                        outline=True,
                        className=f"py-0 px-1 figure-export-{name}-{fmt}",
                        title=f"Download this figure as {fmt.upper()}",
                    )
                    for fmt in ("png", "svg")
                ],
                size="sm",
            ),
        ],
        className="d-inline-flex align-items-center",
    )


def store() -> dcc.Store:
    """The (unused) output of the export callback; once in the app's layout."""
    return dcc.Store(id=DONE)


registry.clientside(
    ClientsideFunction(namespace="exbert", function_name="exportFigure"),
    Output(DONE, "data"),
    Input({"type": EXPORT, "graph": ALL, "format": ALL, "name": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
