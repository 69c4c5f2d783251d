import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Converted models are cached here between runs; the tests' databases are temporary.
os.environ.setdefault(
    "EXBERT_HOME", os.path.join(os.path.dirname(os.path.dirname(__file__)), ".exbert-test")
)

import pytest  # noqa: E402

from tests import tiny  # noqa: E402

TINY_KINDS = ("bert-mlm", "bert-encoder", "gpt2", "llama")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    """Paths of tiny offline models, built once per test session."""
    root = tmp_path_factory.mktemp("tiny-models")
    return {kind: str(tiny.build(kind, root / kind)) for kind in TINY_KINDS}


@pytest.fixture(scope="session")
def nlp():
    from exbert.annotate import load_spacy

    return load_spacy()
