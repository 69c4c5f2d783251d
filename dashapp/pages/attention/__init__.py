"""The Attention page: exBERT's view of one sentence, layer by layer and head by head.

layout.py places the components, state.py says how the view state (kept in the
URL's query, dashapp/urlstate.py) changes, components.py draws from a view, and
callbacks.py wires them to the explorer.
"""

from dashapp.pages.attention.callbacks import registry
from dashapp.pages.attention.layout import layout
from dashapp.pages.attention.state import initial

PATH = "/"
TITLE = "Attention"

__all__ = ["PATH", "TITLE", "initial", "layout", "registry"]
