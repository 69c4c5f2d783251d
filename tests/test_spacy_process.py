"""spaCy's helper process during ingestion (ingest/spacy_process.py): it reads as the
ingesting process would, starts only with a run's second group, and says what to do
when it dies."""

from __future__ import annotations

import os
import signal

import pytest
import spacy

from ingest.spacy_process import HelperStopped, SpacyHelper, can_fork
from ingest.text import annotate_documents

GROUPS = [
    ["The cat sat on the mat. Then it slept in New York.", "A dog barked."],
    ["Attention heads learn syntax.  Some learn semantics; others learn position."],
    ["Paris is the capital of France.\nBerlin is the capital of Germany. " * 3],
]


def test_the_helper_reads_as_this_process_does_from_the_second_group_on(nlp):
    assert can_fork(nlp)
    with SpacyHelper(nlp) as helper:
        first = helper.annotate(GROUPS[0], 100_000)
        assert helper.pid is None  # a run of one group never starts a helper
        assert first == annotate_documents(GROUPS[0], nlp)
        assert helper.annotate([], 100_000) == []
        for group in GROUPS[1:]:
            # a small chunk limit: the long document is read in pieces, offsets kept
            assert helper.annotate(group, 40) == annotate_documents(group, nlp, 40)
        assert helper.pid is not None and helper.pid != os.getpid()
        pid = helper.pid
    with pytest.raises(ProcessLookupError):  # closed with the run
        os.kill(pid, 0)


def test_a_helper_that_dies_says_what_to_do(nlp):
    with SpacyHelper(nlp) as helper:
        helper.annotate(GROUPS[0], 100_000)
        helper.annotate(GROUPS[1], 100_000)
        os.kill(helper.pid, signal.SIGKILL)
        with pytest.raises(HelperStopped, match="helper process stopped.*run the same command"):
            helper.annotate(GROUPS[2], 100_000)


def test_ctrl_c_is_left_to_the_ingesting_process(nlp):
    """Ctrl+C reaches the whole process group; the helper ignores it, so the run ends
    where the ingesting process decides (and closes the helper) without a second
    traceback."""
    with SpacyHelper(nlp) as helper:
        helper.annotate(GROUPS[0], 100_000)
        helper.annotate(GROUPS[1], 100_000)
        os.kill(helper.pid, signal.SIGINT)
        assert helper.annotate(GROUPS[2], 100_000) == annotate_documents(GROUPS[2], nlp)


def test_pipelines_that_run_torch_are_read_in_this_process():
    blank = spacy.blank("en")
    assert can_fork(blank)
    blank.add_pipe("sentencizer", name="transformer")
    assert not can_fork(blank)
    with SpacyHelper(blank) as helper:
        for group in GROUPS:
            assert helper.annotate(group, 100_000) == annotate_documents(group, blank)
        assert helper.pid is None
