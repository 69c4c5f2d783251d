"""The JSON API: the pages' twins, on the app's Flask server under /api.

Routes parse the body, call the explorer (the same one the pages call) and
answer JSON; any error is JSON with a message and a 4xx (503 when the store is
unavailable, 504 when a query ran too long), never a traceback.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from dashapp.callbacks import explorer
from exbert import __version__
from explore import serialize
from explore.errors import QueryTimeout, StoreUnavailable, UserError
from explore.sql import SQLError

log = logging.getLogger(__name__)
api = Blueprint("api", __name__, url_prefix="/api")


@api.errorhandler(UserError)
def _user_error(err: UserError):
    return jsonify({"error": str(err)}), 400


@api.errorhandler(StoreUnavailable)
def _store_error(err: StoreUnavailable):
    return jsonify({"error": str(err)}), 503


@api.errorhandler(QueryTimeout)
def _timeout(err: QueryTimeout):
    return jsonify({"error": str(err)}), 504


@api.errorhandler(HTTPException)
def _http_error(err: HTTPException):
    if err.code == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        message = f"The request body is too large (at most {limit // 2**20} MB)."
        return jsonify({"error": message}), 413
    return jsonify({"error": err.description}), err.code


@api.errorhandler(Exception)
def _unexpected(err: Exception):
    log.exception("unexpected error in %s", request.path)
    return jsonify({"error": f"internal error: {err.__class__.__name__}; see the server log"}), 500


def body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise UserError(
            'Send a JSON object, e.g. {"sentence": "The cat sat."}, with Content-Type application/json.'
        )
    return data


@api.get("/health")
def health():
    return jsonify({"status": "ok", "version": __version__, **explorer().health()})


@api.get("/models")
def list_models():
    return jsonify({"models": explorer().models.available()})


@api.get("/corpora")
def list_corpora():
    return jsonify({"corpora": [serialize.corpus_json(r) for r in explorer().corpora()]})


@api.post("/attention")
def attention():
    data = body()
    view = explorer().attention(data.get("model"), data.get("sentence"), data.get("masks"))
    return jsonify(serialize.attention_json(view))


@api.post("/search")
def search():
    return jsonify(serialize.search_json(explorer().search(body())))


@api.get("/heads")
def head_atlas():
    args = request.args
    return jsonify(explorer().heads(args.get("corpus"), args.get("model")))


@api.post("/sql")
def sql():
    return jsonify(explorer().sql(body().get("sql")).to_json())


@api.errorhandler(SQLError)
def _sql_error(err: SQLError):
    return jsonify({"error": str(err), "position": err.position}), 400


@api.get("/attention")
@api.get("/search")
@api.get("/sql")
def post_only():
    return jsonify({"error": f"Use POST with a JSON body for {request.path}."}), 405


@api.route("/<path:rest>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def not_found(rest: str):
    return jsonify(
        {
            "error": f"No API route /api/{rest[:100]}; see GET /api/health, /api/models, "
            "/api/corpora, /api/heads, POST /api/attention, /api/search, /api/sql."
        }
    ), 404
