"""The Dash app: navigation, a router on the path, the pages, and the JSON API.

The router listens to the path only, so a page can keep its state in the
query string without being re-rendered on every change.
"""

from __future__ import annotations

import functools

import dash_bootstrap_components as dbc
import orjson
from dash import Dash, Input, Output, dcc, html
from flask.json.provider import DefaultJSONProvider

from dashapp import services, store_access
from dashapp.api import api
from dashapp.pages import attention, corpora

PAGES = (attention, corpora)


def _navbar() -> dbc.Navbar:
    links = [dbc.NavItem(dbc.NavLink(p.TITLE, href=p.PATH, active="exact")) for p in PAGES]
    return dbc.Navbar(
        dbc.Container(
            [dbc.NavbarBrand("exbert", href="/"), dbc.Nav(links, navbar=True)], fluid=True
        ),
        color="dark",
        dark=True,
        className="mb-3",
    )


class OrjsonProvider(DefaultJSONProvider):
    """The API's JSON through orjson: every attention matrix of a 40-word sentence
    is ~130,000 numbers, which the standard library's encoder takes tens of ms for."""

    def dumps(self, obj, **kwargs) -> str:
        option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
        return orjson.dumps(obj, default=self.default, option=option).decode()

    def loads(self, s, **kwargs):
        return orjson.loads(s)


@functools.lru_cache(maxsize=1)
def create_app() -> Dash:
    """The app, built once per process: the pages register their callbacks with
    Dash's global `callback`, which the first app built takes for itself."""
    app = Dash(
        __name__,
        title="exbert",
        suppress_callback_exceptions=True,
        serve_locally=True,
        update_title=None,
    )
    app.server.json = OrjsonProvider(app.server)
    app.server.register_blueprint(api)
    app.layout = html.Div([dcc.Location(id="url"), _navbar(), dbc.Container(id="page", fluid=True)])

    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def route(pathname: str | None):
        if pathname in (None, "", attention.PATH):
            try:
                store_access.session_factory()
                notice = None
            except store_access.StoreUnavailable as err:
                notice = str(err)
            models = services.available_models(store_access.stored_models())
            return attention.layout(models, models[0], notice)
        if pathname == corpora.PATH:
            return corpora.layout()
        return dbc.Alert(f"No page at {pathname}.", color="warning")

    return app
