"""Text → vectors for hybrid search. Pluggable; the default needs nothing downloaded.

- `wordllama` (default): WordLlama's static token embeddings (MIT; the 256-dimension
  weights ship inside the `wordllama` wheel, 16 MB), cut to their first 128 dimensions.
  Chosen because it works offline on a fresh machine with nothing downloaded, is a lookup
  and a mean (no transformer: ~1,200 chunks of 400 words per second on one core here), and
  still carries meaning: "weeks off after having a baby" finds "parental leave".
- `upstream`: any OpenAI-compatible `/v1/embeddings` server (vLLM, Ollama, OpenAI …), for
  better vectors where one is available.
- `none`: keyword search only.

Vectors are L2-normalised float32 rows, so a dot product is the cosine similarity.
`embed` blocks; callers run it on a worker thread.

numpy and httpx are imported where they are used: a server whose users never index or
search a file does not hold them (~16 MiB of memory with httpx's CLI extras).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np


class Embedder(Protocol):
    name: str
    """Names the vector space ("wordllama-128", "upstream:<model>"): vectors made by two
    embedders of different names are never compared."""

    def embed(self, texts: list[str]) -> np.ndarray: ...

    def close(self) -> None: ...


class EmbedderError(Exception):
    """The embedder could not embed (an upstream down or refusing)."""


def _normalised(vectors: Any) -> np.ndarray:
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


DIMENSIONS = 128


class WordLlamaEmbedder:
    name = f"wordllama-{DIMENSIONS}"

    def __init__(self) -> None:
        # Loaded on first use (~0.3 s): a server whose users never index a file never pays.
        self._model: Any = None
        self._loading = threading.Lock()

    def _load(self) -> Any:
        # From the files inside the wheel: WordLlama.load() looks for its tokenizer in a
        # directory the wheel does not have, then downloads it; this never downloads.
        import wordllama
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer
        from wordllama.inference import WordLlamaInference

        root = Path(wordllama.__file__).parent
        weights = load_file(str(root / "weights" / "l2_supercat_256.safetensors"))
        tokenizer = Tokenizer.from_file(
            str(root / "tokenizers" / "l2_supercat_tokenizer_config.json")
        )
        return WordLlamaInference(weights["embedding.weight"], tokenizer)

    def embed(self, texts: list[str]) -> np.ndarray:
        with self._loading:
            if self._model is None:
                self._model = self._load()
        # Its first 128 of 256 dimensions (trained Matryoshka-style, so a prefix is itself an
        # embedding): on bench/retrieval.py's set they rank as well as all 256, and half
        # the dimensions halve the memory a vector search reads.
        return _normalised(self._model.embed(texts)[:, :DIMENSIONS])

    def close(self) -> None:
        return None


class UpstreamEmbedder:
    def __init__(self, base_url: str, model: str, api_key: str | None, timeout: float = 60.0):
        self.name = f"upstream:{model}"
        self._model = model
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def embed(self, texts: list[str]) -> np.ndarray:
        import httpx

        vectors: list[list[float]] = []
        for start in range(0, len(texts), 256):  # servers cap the inputs per request
            batch = texts[start : start + 256]
            try:
                reply = self._client.post(
                    "/embeddings", json={"model": self._model, "input": batch}
                )
                reply.raise_for_status()
                data = sorted(reply.json()["data"], key=lambda d: d["index"])
                vectors.extend(d["embedding"] for d in data)
            except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
                raise EmbedderError(f"The embeddings upstream failed: {exc}") from exc
        return _normalised(vectors)

    def close(self) -> None:
        self._client.close()


def build_embedder(
    kind: str, url: str | None = None, model: str | None = None, api_key: str | None = None
) -> Embedder | None:
    if kind == "none":
        return None
    if kind == "upstream":
        if not url or not model:
            raise ValueError(
                "RESPONSD_EMBEDDINGS=upstream needs RESPONSD_EMBEDDINGS_URL and _MODEL"
            )
        return UpstreamEmbedder(url, model, api_key)
    return WordLlamaEmbedder()


def pack(vector: np.ndarray) -> bytes:
    """A vector as stored: float16 halves the bytes; cosine ranking is unchanged by it."""
    return vector.astype("<f2").tobytes()


def unpack_all(blobs: list[bytes], dimensions: int) -> np.ndarray:
    import numpy as np

    matrix = np.frombuffer(b"".join(blobs), dtype="<f2").reshape(len(blobs), dimensions)
    return matrix.astype(np.float32)
