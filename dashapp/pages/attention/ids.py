"""Component ids of the Attention page (the search panel has its own)."""

URL = "attn-url"
STATE = "attn-state"  # the view state: the URL's query as a dict (urlstate.ViewState)
INPUT = "attn-input"  # what the model reads: {sentence, model, masks, token}; renders start here
SENTENCE = "attn-sentence"
RUN = "attn-run"
MODEL = "attn-model"
LAYER = "attn-layer"
HEADS = "attn-heads"
MASKS = "attn-masks"
TOKEN = "attn-token"
HIDE = "attn-hide-special"
ABLATE = "attn-ablate"  # switch the selected heads off: predictions before and after
ABLATED = "attn-ablated"  # which heads are off: [layer, heads] while the switch is on
MODE = "attn-mode"
THRESHOLD = "attn-threshold"
ALL_HEADS = "attn-all-heads"
NO_HEADS = "attn-no-heads"
GRAPH = "attn-graph"
THUMBS = "attn-thumbs"
MESSAGES = "attn-messages"
TOKEN_PANEL = "attn-token-panel"
MASK_BUTTON = "attn-mask-button"
PREDICTIONS = "attn-predictions"
COMBINE_NOTE = "attn-combine-note"
EXAMPLE = "attn-example"  # pattern-matching: {"type": EXAMPLE, "index": i}
