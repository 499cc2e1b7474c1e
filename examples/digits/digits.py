"""What predict.py and train.py share: turning a picture of a digit into the 64 features of
scikit-learn's digits data, and the classifier's weights as a plain .npz file (no pickle)."""

from __future__ import annotations

import io
import urllib.request

import numpy as np
from PIL import Image, ImageOps

SIDE = 32  # the UCI digits were drawn on 32×32 bitmaps and counted in 4×4 blocks
BLOCK = 4
MAX_SIDE = 4096


def features(picture: Image.Image) -> np.ndarray:
    """64 numbers from 0 to 16, made the way the UCI digits were: the digit's ink, cropped to its
    box, scaled to fit 32×32 and centred, then summed in 4×4 blocks. Dark ink on a light background
    and light ink on a dark one both work (the border decides which is which)."""
    if max(picture.size) > MAX_SIDE:
        raise ValueError(f"image: {picture.width}×{picture.height} is too large; at most {MAX_SIDE} pixels a side")
    picture = ImageOps.exif_transpose(picture)
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        flat = Image.new("RGBA", picture.size, "white")
        flat.alpha_composite(picture.convert("RGBA"))
        picture = flat
    grey = np.asarray(picture.convert("L"), dtype=np.float32) / 255.0
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    ink = 1.0 - grey if border.mean() > 0.5 else grey
    span = ink.max() - ink.min()
    if span < 0.1:
        raise ValueError("image: no digit found (the picture is one flat colour)")
    ink = (ink - ink.min()) / span
    rows, cols = np.nonzero(ink > 0.2)
    ink = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    height, width = ink.shape
    scale = SIDE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    glyph = Image.fromarray((ink * 255).astype(np.uint8)).resize(size, Image.Resampling.BOX)
    canvas = Image.new("L", (SIDE, SIDE), 0)
    canvas.paste(glyph, ((SIDE - size[0]) // 2, (SIDE - size[1]) // 2))
    # Grey levels count as part of a pixel, so an anti-aliased edge weighs what it covers.
    coverage = np.asarray(canvas, dtype=np.float64) / 255.0
    return coverage.reshape(SIDE // BLOCK, BLOCK, SIDE // BLOCK, BLOCK).sum(axis=(1, 3)).ravel()


def open_image(path: str) -> Image.Image:
    """The picture, or a ValueError a person can act on; its size is checked before it is decoded."""
    try:
        picture = Image.open(path)
    except Exception as exc:
        raise ValueError(f"image: not an image this model can read ({exc})") from None
    if max(picture.size) > MAX_SIDE:
        raise ValueError(f"image: {picture.width}×{picture.height} is too large; at most {MAX_SIDE} pixels a side")
    try:
        picture.load()
    except Exception as exc:
        raise ValueError(f"image: not an image this model can read ({exc})") from None
    return picture


class Classifier:
    """Multinomial logistic regression: probabilities = softmax(x · coefᵀ + intercept)."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, accuracy: float | None = None):
        if coef.shape != (10, 64) or intercept.shape != (10,):
            raise ValueError(f"weights of shape {coef.shape}/{intercept.shape} are not a digits classifier")
        self.coef, self.intercept, self.accuracy = coef, intercept, accuracy

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, c: float, seed: int) -> Classifier:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=c, max_iter=5000, random_state=seed)
        model.fit(x / 16.0, y)
        if list(model.classes_) != list(range(10)):
            raise ValueError(f"the training data must hold every digit 0-9; it holds {list(model.classes_)}")
        return cls(model.coef_, model.intercept_)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        scores = (x / 16.0) @ self.coef.T + self.intercept
        scores -= scores.max(axis=-1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=-1, keepdims=True)

    def save(self, path: str) -> None:
        np.savez(path, coef=self.coef, intercept=self.intercept,
                 accuracy=np.array(np.nan if self.accuracy is None else self.accuracy))

    @classmethod
    def load(cls, weights: str) -> Classifier:
        """From train.py's .npz: a local path, or a URL as Replicate gives trained weights."""
        if weights.startswith(("http://", "https://")):
            with urllib.request.urlopen(weights, timeout=60) as response:
                source = io.BytesIO(response.read())
        else:
            source = weights
        with np.load(source, allow_pickle=False) as saved:
            accuracy = float(saved["accuracy"]) if "accuracy" in saved.files else float("nan")
            return cls(saved["coef"], saved["intercept"], None if np.isnan(accuracy) else accuracy)
