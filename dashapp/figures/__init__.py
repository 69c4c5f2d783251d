"""Pure figure builders: attention.py for the attention view, charts.py for the rest."""
