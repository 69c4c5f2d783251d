"""Annotation labels as the small codes that vector rows carry (migration 0003).

A filtered search compares 2-byte codes in the vector rows instead of joining
the words table; these functions map labels to codes and back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.schema import Label
from exbert.shapes import Word

KINDS = ("pos", "tag", "dep", "ent_type")  # the order of a code row


def label_codes(session: Session, labels: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Every stored label's code after adding `labels` ((kind, value) pairs).

    Run it in a transaction of its own before the rows that use the codes, so a
    rolled-back document never leaves codes that point nowhere.
    """
    new = [{"kind": k, "value": v} for k, v in sorted(set(labels))]
    if new:
        session.execute(
            insert(Label).values(new).on_conflict_do_nothing(index_elements=["kind", "value"])
        )
    return {(k, v): i for k, v, i in session.execute(select(Label.kind, Label.value, Label.id))}


def word_label_pairs(words: Iterable[Word]) -> set[tuple[str, str]]:
    return {(kind, getattr(w, kind)) for w in words for kind in KINDS}


def word_code_rows(words: Sequence[Word], codes: dict[tuple[str, str], int]) -> np.ndarray:
    """[words, 4] label codes of one sentence's words, in KINDS order."""
    return np.array(
        [[codes[(kind, getattr(w, kind))] for kind in KINDS] for w in words], dtype=np.int16
    ).reshape(len(words), len(KINDS))


def codes_of(session: Session, kind: str, values: Sequence[str]) -> list[int]:
    return list(
        session.scalars(select(Label.id).where(Label.kind == kind, Label.value.in_(list(values))))
    )


def known_labels(session: Session) -> dict[str, set[str]]:
    """The annotation labels present in the store, to tell an unknown label from a rare one."""
    out: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for kind, value in session.execute(select(Label.kind, Label.value)):
        out[kind].add(value)
    return out
