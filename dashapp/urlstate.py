"""The attention view's state <-> the URL query string, so a view can be shared.

Parsing is forgiving (a hand-edited URL falls back to defaults, never to an
error page); `clamp` fits a state to the model it is shown with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from urllib.parse import parse_qs, urlencode

DEFAULT_THRESHOLD = 0.7


@dataclass(frozen=True)
class ViewState:
    sentence: str = ""
    model: str = ""
    layer: int = 0
    heads: tuple[int, ...] | None = None  # None: all heads
    masks: tuple[int, ...] = ()
    token: int | None = None
    hide_special: bool = False
    ablate: bool = False  # switch the selected heads of the layer off (predictions compared)
    mode: str = "graph"
    threshold: float = DEFAULT_THRESHOLD
    extra: dict = field(default_factory=dict, compare=False)  # other pages' keys, kept as they are

    def to_dict(self) -> dict:
        d = asdict(self)
        d["heads"] = None if self.heads is None else list(self.heads)
        d["masks"] = list(self.masks)
        return d

    @classmethod
    def from_dict(cls, d: object) -> ViewState:
        """A state from a page's store. Forgiving like `parse`: the browser sends it back,
        and a hostile client can send anything."""
        if not isinstance(d, dict):
            return cls()
        heads = d.get("heads")
        threshold = _number(d.get("threshold"), DEFAULT_THRESHOLD)
        return cls(
            sentence=d.get("sentence") if isinstance(d.get("sentence"), str) else "",
            model=d.get("model") if isinstance(d.get("model"), str) else "",
            layer=_int(d.get("layer")) or 0,
            heads=None if heads is None else _int_list(heads),
            masks=_int_list(d.get("masks")),
            token=_int(d.get("token")),
            hide_special=d.get("hide_special") is True,
            ablate=d.get("ablate") is True,
            mode="heatmap" if d.get("mode") == "heatmap" else "graph",
            threshold=min(1.0, max(0.0, threshold)),
            extra={k: v for k, v in (d.get("extra") or {}).items() if isinstance(v, str)}
            if isinstance(d.get("extra"), dict)
            else {},
        )


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) < value < 2**31:
        return None
    return value


def _int_list(value: object) -> tuple[int, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(dict.fromkeys(v for v in map(_int, value) if v is not None))


def _number(value: object, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return default
    return float(value)


def _query_ints(value: str | None) -> tuple[int, ...]:
    out = []
    for part in (value or "").split(","):
        part = part.strip()
        if part.lstrip("-").isdigit():
            out.append(int(part))
    return tuple(dict.fromkeys(out))


def names_sentence(search: str | None) -> bool:
    """Whether the query string has a sentence at all (blank counts: it asks for one)."""
    return "sentence" in parse_qs((search or "").lstrip("?"), keep_blank_values=True)


def parse(search: str | None) -> ViewState:
    q = {k: v[-1] for k, v in parse_qs((search or "").lstrip("?"), keep_blank_values=True).items()}
    known = {
        "sentence",
        "model",
        "layer",
        "heads",
        "masks",
        "token",
        "hide_special",
        "ablate",
        "mode",
        "threshold",
    }
    try:
        threshold = min(1.0, max(0.0, float(q.get("threshold", DEFAULT_THRESHOLD))))
    except ValueError:
        threshold = DEFAULT_THRESHOLD
    layer = _query_ints(q.get("layer"))
    token = _query_ints(q.get("token"))
    heads = q.get("heads")
    return ViewState(
        sentence=q.get("sentence", ""),
        model=q.get("model", ""),
        layer=layer[0] if layer else 0,
        heads=None if heads in (None, "all") else _query_ints(heads),
        masks=_query_ints(q.get("masks")),
        token=token[0] if token else None,
        hide_special=q.get("hide_special") in ("1", "true", "on"),
        ablate=q.get("ablate") in ("1", "true", "on"),
        mode="heatmap" if q.get("mode") == "heatmap" else "graph",
        threshold=threshold,
        extra={k: v for k, v in q.items() if k not in known},
    )


def encode(state: ViewState) -> str:
    """'?sentence=...&model=...': defaults left out, so URLs stay short."""
    q: dict[str, str] = {}
    if state.sentence:
        q["sentence"] = state.sentence
    if state.model:
        q["model"] = state.model
    q["layer"] = str(state.layer)
    if state.heads is not None:
        q["heads"] = ",".join(map(str, state.heads))
    if state.masks:
        q["masks"] = ",".join(map(str, state.masks))
    if state.token is not None:
        q["token"] = str(state.token)
    if state.hide_special:
        q["hide_special"] = "1"
    if state.ablate:
        q["ablate"] = "1"
    if state.mode != "graph":
        q["mode"] = state.mode
    if abs(state.threshold - DEFAULT_THRESHOLD) > 1e-9:
        q["threshold"] = f"{state.threshold:g}"
    q.update(state.extra)
    return "?" + urlencode(q)


def clamp(state: ViewState, layers: int, heads: int, tokens: int) -> ViewState:
    """Fit a state to a model and sentence: out-of-range layer, heads, token and masks dropped."""
    layer = state.layer if 0 <= state.layer < layers else 0
    sel = None if state.heads is None else tuple(h for h in state.heads if 0 <= h < heads)
    token = state.token if state.token is not None and 0 <= state.token < tokens else None
    masks = tuple(m for m in state.masks if 0 <= m < tokens)
    return replace(state, layer=layer, heads=sel, token=token, masks=masks)
