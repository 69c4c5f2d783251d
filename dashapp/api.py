"""The JSON API: the pages' twins, on the app's Flask server under /api.

Routes parse and validate, call the same services the pages call, and answer
JSON; any error is JSON with a message and a 4xx (or 503) status, never a
traceback.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import HTTPException

from dashapp import services, store_access
from db.search import SearchError
from exbert import __version__

log = logging.getLogger(__name__)
api = Blueprint("api", __name__, url_prefix="/api")


class ApiError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


@api.errorhandler(ApiError)
def _api_error(err: ApiError):
    return jsonify({"error": err.message}), err.status


@api.errorhandler(services.UserError)
def _user_error(err: services.UserError):
    return jsonify({"error": str(err)}), 400


@api.errorhandler(store_access.StoreUnavailable)
def _store_error(err: store_access.StoreUnavailable):
    return jsonify({"error": str(err)}), 503


@api.errorhandler(HTTPException)
def _http_error(err: HTTPException):
    return jsonify({"error": err.description}), err.code


@api.errorhandler(Exception)
def _unexpected(err: Exception):
    log.exception("unexpected error in %s", request.path)
    return jsonify({"error": f"internal error: {err.__class__.__name__}; see the server log"}), 500


def body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(
            'Send a JSON object, e.g. {"sentence": "The cat sat."}, with Content-Type application/json.'
        )
    return data


def models() -> list[str]:
    return services.available_models(store_access.stored_models())


@api.get("/health")
def health():
    try:
        store_access.session_factory()
        database = "ok"
    except store_access.StoreUnavailable as err:
        database = str(err)
    return jsonify({"status": "ok", "version": __version__, "database": database})


@api.get("/models")
def list_models():
    return jsonify({"models": models()})


@api.get("/corpora")
def list_corpora():
    from db.stats import corpus_counts

    with store_access.session_factory().begin() as s:
        return jsonify({"corpora": [r.__dict__ for r in corpus_counts(s)]})


@api.post("/attention")
def attention():
    data = body()
    sentence = data.get("sentence")
    if not isinstance(sentence, str):
        raise ApiError('"sentence" must be a string.')
    masks = data.get("masks") or []
    if not isinstance(masks, list) or not all(
        isinstance(m, int) and not isinstance(m, bool) for m in masks
    ):
        raise ApiError('"masks" must be a list of token positions (integers).')
    model = services.check_model(data.get("model"), models())
    return jsonify(services.attention_json(services.attention_view(model, sentence, masks)))


@api.post("/search")
def search():
    from dashapp import search as search_service

    request_ = search_service.parse_request(body(), models())
    result = search_service.search(store_access.session_factory(), request_)
    return jsonify(result.to_json())


@api.errorhandler(SearchError)
def _search_error(err: SearchError):
    return jsonify({"error": str(err)}), 400


@api.get("/attention")
def attention_get():
    raise ApiError('Use POST with a JSON body: {"model", "sentence", "masks"?}.', 405)


@api.route("/<path:rest>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def not_found(rest: str):
    raise ApiError(
        f"No API route /api/{rest[:100]}; see GET /api/health, /api/models, POST /api/attention.",
        404,
    )
