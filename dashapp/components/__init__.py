"""Self-contained page components: each owns its ids, layout and callbacks."""
