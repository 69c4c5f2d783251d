"""The Dash app: navigation, a router on the path, the pages, and the JSON API.

`create_app` builds an app from settings (or an explorer); nothing is cached
per process, so tests and servers build as many as they like. The router
listens to the path only, so a page can keep its state in the query string
without being re-rendered on every change.
"""

from __future__ import annotations

import time

import dash_bootstrap_components as dbc
import orjson
from dash import Dash, Input, Output, State, dcc, html
from flask import g, request
from flask.json.provider import DefaultJSONProvider

from dashapp.api import api
from dashapp.callbacks import Callbacks, explorer
from dashapp.components import figure_export, search_panel
from dashapp.pages import attention, corpora, heads, sql
from exbert.config import Settings
from explore.corpora import MAX_UPLOAD_BYTES
from explore.errors import QueryTimeout, StoreUnavailable
from explore.explorer import Explorer

PAGES = (attention, heads, corpora, sql)
MAX_BODY_BYTES = 2 * 2**20
UPLOAD_BODY_BYTES = MAX_UPLOAD_BYTES * 4 // 3 + 2**20  # base64 of the largest upload, and JSON
routes = Callbacks()


def _navbar(sql_enabled: bool) -> dbc.Navbar:
    pages = [p for p in PAGES if sql_enabled or p is not sql]
    links = [dbc.NavItem(dbc.NavLink(p.TITLE, href=p.PATH, active="exact")) for p in pages]
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


def create_app(settings: Settings | None = None, explorer_: Explorer | None = None) -> Dash:
    """The app for these settings (default: the environment's), or around an explorer."""
    ex = explorer_ or Explorer(settings or Settings.from_env())
    ex.index_in_background = True  # a searched space gets its index (explore/indexing.py)
    app = Dash(
        __name__,
        title="exbert",
        suppress_callback_exceptions=True,
        serve_locally=True,
        update_title=None,
    )
    app.server.extensions["exbert"] = ex
    app.server.extensions["dash"] = app  # for dashapp/wsgi.py and tests
    # a request body larger than this is refused with 413 (the API says so in JSON)
    app.server.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.server.json = OrjsonProvider(app.server)
    app.server.register_blueprint(api)
    app.layout = html.Div(
        [
            dcc.Location(id="url"),
            figure_export.store(),
            _navbar(ex.settings.sql_enabled),
            dbc.Container(id="page", fluid=True),
        ]
    )
    registries = (
        routes,
        attention.registry,
        search_panel.registry,
        figure_export.registry,
        sql.registry,
        heads.registry,
        corpora.registry,
    )
    for registry in registries:
        registry.register(app)
    _time_requests(app.server)
    _allow_uploads(app.server)
    return app


def _allow_uploads(server) -> None:
    """The Corpora page's uploads travel in a Dash callback, base64 in JSON: that route
    alone takes bodies up to the upload limit (the page checks sizes before sending)."""

    @server.before_request
    def _limit() -> None:
        if request.path.endswith("/_dash-update-component"):
            request.max_content_length = UPLOAD_BODY_BYTES


def _time_requests(server) -> None:
    """A Server-Timing header on every answer: the browser's devtools (and
    bench/browser.py) then show the server's share of what a person waits for."""

    @server.before_request
    def _start() -> None:
        g.exbert_started = time.perf_counter()

    @server.after_request
    def _stamp(response):
        started = g.get("exbert_started")
        if started is not None:
            response.headers["Server-Timing"] = (
                f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
            )
        return response


@routes(Output("page", "children"), Input("url", "pathname"), State("url", "search"))
def route(pathname: str | None, search: str | None):
    """A page for the path, built as the query string asks (the page keeps its state there)."""
    ex = explorer()
    if pathname in (None, "", attention.PATH):
        try:
            corpora_, labels, problem = sorted({r.corpus for r in ex.corpora()}), ex.labels(), None
        except (StoreUnavailable, QueryTimeout) as err:
            corpora_, labels, problem = [], {}, str(err)
        models = ex.models.available()
        view = attention.initial(search, models[0])
        return attention.layout(models, view, problem, corpora_, labels, problem)
    if pathname == heads.PATH:
        try:
            return heads.layout(
                sorted({r.corpus for r in ex.corpora()}), ex.models.stored(), search=search
            )
        except (StoreUnavailable, QueryTimeout) as err:
            return heads.layout([], [], str(err))
    if pathname == sql.PATH:
        return sql.layout(search, ex.settings.sql_enabled)
    if pathname == corpora.PATH:
        try:
            return corpora.layout(ex.corpus_overview(), models=ex.models.available())
        except (StoreUnavailable, QueryTimeout) as err:
            return corpora.layout([], str(err))
    return dbc.Alert(f"No page at {pathname}.", color="warning")
