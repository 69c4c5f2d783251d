"""What the Attention page draws from a view: the graph, the side panels, hover texts.

Functions of a view and a state, returning figures and Dash components; the
callbacks only fetch the view and hand these their results.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashapp import urlstate
from dashapp.figures import attention as figures
from dashapp.figures.charts import FIGURE_CONFIG, empty_figure, prediction_bars
from dashapp.urlstate import ViewState
from explore.attention import AttentionView


def hover_text(view: AttentionView, i: int) -> str:
    t = view.tokens[i]
    lines = [f"<b>{t.text}</b> (token {i})"]
    if view.masked(i):
        lines.append(f"masked with {view.mask_token}")
    if t.word:
        w = t.word
        lines += [
            f"word: {w.text}, lemma: {w.lemma}",
            f"POS: {w.pos} ({w.tag})",
            f"dependency: {w.dep} → {w.head_text}",
        ]
        if w.ent_type:
            lines.append(f"entity: {w.ent_type} ({w.ent_iob})")
    elif t.is_special:
        lines.append("special token")
    elif not view.annotated:
        lines.append("<i>reading the sentence with spaCy…</i>")
    predictions = view.token_predictions(i)
    if predictions:
        lines.append(
            f"<i>{view.prediction_label}</i>: "
            + ", ".join(f"{p!r} {q:.0%}" for p, q in predictions[:5])
        )
    return "<br>".join(lines)


def labels(view: AttentionView) -> list[str]:
    return [
        figures.display_label(t.text, view.masked(t.position), view.mask_token) for t in view.tokens
    ]


def graph(
    view: AttentionView, state: ViewState, preview_head: int | None, focus: int | None
) -> tuple[dict, str]:
    """The attention figure and the line above it that says what it shows."""
    state = urlstate.clamp(state, view.layers, view.heads, len(view.tokens))
    heads = list(range(view.heads)) if state.heads is None else list(state.heads)
    note = (
        f"Layer {state.layer}, mean of {len(heads)} selected head{'s' if len(heads) != 1 else ''}"
    )
    if preview_head is not None:
        heads = [preview_head]
        note = f"Layer {state.layer}, previewing head {preview_head} alone"
    fig = figures.attention_figure(
        view.attentions[state.layer],
        heads,
        labels(view),
        [t.is_special for t in view.tokens],
        [hover_text(view, i) for i in range(len(view.tokens))],
        threshold=state.threshold,
        hide_special=state.hide_special,
        mode=state.mode,
        focus=focus,
        selected=state.token,
        masked=list(state.masks),
        causal=view.kind == "causal",
    )
    if view.kind == "causal":
        note += "; a causal model's tokens see only earlier tokens (later ones greyed)"
    return fig, note


def _point(event: object) -> dict:
    """The first point of a Plotly hover or click event ({} when there is none)."""
    points = event.get("points") if isinstance(event, dict) else None
    if isinstance(points, list) and points and isinstance(points[0], dict):
        return points[0]
    return {}


def hovered_head(event: object, view: AttentionView) -> int | None:
    """The head under the pointer in the thumbnail grid."""
    point = _point(event)
    x, y = point.get("x"), point.get("y")
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) and abs(v) < 1e6 for v in (x, y)
    ):
        return None
    return figures.head_at(x, y, len(view.tokens), view.heads)


def hovered_token(event: object) -> int | None:
    """The token (its position in the full list) under the pointer in the graph."""
    value = _point(event).get("customdata")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10_000:
        return None
    return value


def truncation_notice(view: AttentionView) -> list:
    if not view.truncated:
        return []
    return [
        dbc.Alert(
            f"The input was longer than {view.model} reads at once; it was cut after "
            f"{len(view.tokens)} tokens.",
            color="warning",
        )
    ]


def thumbnails(view: AttentionView, state: ViewState) -> dict:
    state = urlstate.clamp(state, view.layers, view.heads, len(view.tokens))
    heads = list(range(view.heads)) if state.heads is None else list(state.heads)
    return figures.head_thumbnails(view.attentions[state.layer], heads)


def token_panel(view: AttentionView, token: int | None):
    if token is None or not 0 <= token < len(view.tokens):
        return html.Small(
            "Click a token on the left of the graph to select it.", className="text-muted"
        )
    t = view.tokens[token]
    rows = [("token", f"{figures.display_label(t.text)} (position {token})")]
    if t.word:
        w = t.word
        rows += [
            ("word", w.text),
            ("lemma", w.lemma),
            ("POS", f"{w.pos} ({w.tag})"),
            ("dependency", f"{w.dep} → {w.head_text}"),
            ("entity", f"{w.ent_type} ({w.ent_iob})" if w.ent_type else "–"),
        ]
    table = dbc.Table([html.Tbody([html.Tr([html.Th(k), html.Td(v)]) for k, v in rows])], size="sm")
    body = [table]
    predictions = view.token_predictions(token)
    if not view.has_predictions:
        body.append(dbc.Alert(f"{view.model}: {view.prediction_label}.", color="secondary"))
    elif predictions:
        body.append(
            dcc.Graph(
                figure=prediction_bars(predictions, f"{view.model} {view.prediction_label}"),
                config=FIGURE_CONFIG,
                id="attn-token-predictions",
            )
        )
    return body


def mask_button(view: AttentionView, state: ViewState) -> tuple[bool, str]:
    """(disabled, label) of the mask button."""
    label = "Unmask token" if state.token in state.masks else "Mask selected token"
    token = state.token
    usable = token is not None and 0 <= token < len(view.tokens)
    disabled = not usable or not view.can_mask or view.tokens[token].is_special
    return disabled, label


def _top(predictions) -> str:
    return ", ".join(f"{tok!r} {p:.1%}" for tok, p in predictions or ())


def predictions_table(
    view: AttentionView,
    ablated: list[list[tuple[str, float]]] | None = None,
    layer: int | None = None,
    heads: list[int] | None = None,
):
    """Each token's top predictions; with `ablated`, beside them the predictions with
    `heads` of `layer` switched off, the first prediction marked where it changed."""
    if not view.has_predictions:
        return dbc.Alert(
            f"{view.model} has no language-model head, so it predicts nothing; "
            "attention and search still work.",
            color="secondary",
        )
    columns = [html.Th("token"), html.Th(f"top 5: {view.prediction_label}")]
    if ablated is not None:
        off = ", ".join(map(str, heads or ())) or "none"
        columns.append(html.Th(f"with layer {layer}'s heads {off} switched off"))
    body = []
    for t, label in zip(view.tokens, labels(view), strict=True):
        style = {"color": "#d62728"} if view.masked(t.position) else None
        before = view.token_predictions(t.position)
        cells = [html.Td(label, style=style), html.Td(_top(before), className="small")]
        if ablated is not None:
            after = ablated[t.position]
            changed = bool(before and after and before[0][0] != after[0][0])
            cells.append(
                html.Td(_top(after), className="small fw-bold text-danger" if changed else "small")
            )
        body.append(html.Tr(cells))
    return dbc.Table(
        [html.Thead(html.Tr(columns)), html.Tbody(body)],
        size="sm",
        striped=True,
        id="attn-predictions-table",
    )


def placeholder() -> dict:
    return empty_figure()
