"""The errors a person or a client can be shown, each with what to do about it."""

from __future__ import annotations


class UserError(ValueError):
    """Bad input from a person or an API client (a 4xx); the message says what to send."""


class StoreUnavailable(RuntimeError):
    """The corpus database cannot be reached (a 503); the message says what to check."""


class QueryTimeout(RuntimeError):
    """A query ran past the configured time limit and was cancelled (a 504)."""
