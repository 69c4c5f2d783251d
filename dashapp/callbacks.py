"""Callbacks declared beside their page and registered on each app that is built.

Dash's global `dash.callback` hands every callback to the first app built in a
process; declaring them on a `Callbacks` list instead lets tests and servers
build as many apps as they like, each from its own settings. The functions stay
plain module-level functions that a unit test can call.
"""

from __future__ import annotations

from collections.abc import Callable

from dash import Dash
from flask import current_app

from explore.explorer import Explorer


class Callbacks:
    def __init__(self) -> None:
        self._specs: list[tuple[tuple, dict, Callable]] = []
        self._clientside: list[tuple] = []

    def __call__(self, *args, **kwargs) -> Callable[[Callable], Callable]:
        """Use like `dash.callback`: `@callbacks(Output(...), Input(...))`."""

        def record(function: Callable) -> Callable:
            self._specs.append((args, kwargs, function))
            return function

        return record

    def clientside(self, function, *args, **kwargs) -> None:
        """A clientside callback (`function`: a dash.ClientsideFunction in assets/)."""
        self._clientside.append((function, args, kwargs))

    def register(self, app: Dash) -> None:
        for args, kwargs, function in self._specs:
            app.callback(*args, **kwargs)(function)
        for function, args, kwargs in self._clientside:
            app.clientside_callback(function, *args, **kwargs)


def explorer() -> Explorer:
    """The explorer of the app serving this request (callbacks and API routes alike)."""
    return current_app.extensions["exbert"]
