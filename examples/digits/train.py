"""Train the digit classifier again: with another regularisation strength, and with your own
labelled images beside (or instead of) the bundled digits. The new weights become a new version.

Your images come as a .zip with one folder per digit (``0/``, ``1/``, … ``9/``), any image format;
they are read in memory, never extracted. A share of all the digits (``test_fraction``) is held out
and the accuracy on it is printed and recorded as the training's ``accuracy`` metric.
"""

from __future__ import annotations

import io
import zipfile
from typing import Optional

import numpy as np
from cog import BaseModel, Input, Path, current_scope
from digits import MAX_SIDE, Classifier, features
from PIL import Image

MAX_IMAGES = 20_000
MAX_UNZIPPED = 200 * 1024 * 1024
MIN_DIGITS = 50
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")


class TrainingOutput(BaseModel):
    weights: Path


def read_zip(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of the images in a zip's digit folders."""
    if not zipfile.is_zipfile(path):
        raise ValueError("images: not a .zip file")
    xs, ys, total = [], [], 0
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            parts = [p for p in member.filename.replace("\\", "/").split("/") if p]
            if member.is_dir() or len(parts) < 2 or not member.filename.lower().endswith(IMAGE_SUFFIXES):
                continue
            label = parts[-2]
            if label not in {str(d) for d in range(10)}:
                raise ValueError(f"images: {member.filename} is not in a folder named 0 to 9")
            total += member.file_size
            if total > MAX_UNZIPPED or len(xs) >= MAX_IMAGES:
                raise ValueError(f"images: at most {MAX_IMAGES:,} images and {MAX_UNZIPPED // 2**20} MB unzipped")
            try:
                picture = Image.open(io.BytesIO(archive.read(member)))
                if max(picture.size) > MAX_SIDE:
                    raise ValueError(f"{picture.width}×{picture.height} is too large; at most {MAX_SIDE} pixels a side")
                picture.load()
                xs.append(features(picture))
            except ValueError as exc:
                raise ValueError(f"images: {member.filename}: {exc}") from None
            except Exception as exc:
                raise ValueError(f"images: {member.filename} is not an image ({exc})") from None
            ys.append(int(label))
    if not xs:
        raise ValueError("images: the zip holds no images in folders named 0 to 9")
    return np.array(xs), np.array(ys)


def train(
    images: Optional[Path] = Input(description="Your own digits: a .zip with folders 0/ to 9/ of images",
                                   default=None),
    include_bundled: bool = Input(description="Learn from the 1,797 bundled digits as well", default=True),
    regularization: float = Input(description="Inverse regularisation strength C: smaller is smoother",
                                  ge=0.0001, le=10000.0, default=1.0),
    test_fraction: float = Input(description="Share of the digits held out to measure accuracy",
                                 ge=0.05, le=0.5, default=0.2),
    seed: int = Input(description="Random seed of the split, for a repeatable training", default=42),
) -> TrainingOutput:
    parts_x, parts_y = [], []
    if include_bundled:
        from sklearn.datasets import load_digits

        bundled = load_digits()
        parts_x.append(bundled.data)
        parts_y.append(bundled.target)
        print(f"bundled digits: {len(bundled.target)}")
    if images is not None:
        x, y = read_zip(str(images))
        parts_x.append(x)
        parts_y.append(y)
        print(f"your images: {len(y)}")
    if not parts_x:
        raise ValueError("nothing to learn from: give images, or include the bundled digits")
    x, y = np.concatenate(parts_x), np.concatenate(parts_y)
    if len(y) < MIN_DIGITS:
        raise ValueError(f"at least {MIN_DIGITS} digits are needed, to learn from most and measure the rest; "
                         f"{len(y)} were given")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    held = max(10, round(len(y) * test_fraction))
    test, fit = order[:held], order[held:]
    classifier = Classifier.fit(x[fit], y[fit], c=regularization, seed=seed)
    accuracy = float((classifier.probabilities(x[test]).argmax(axis=1) == y[test]).mean())
    print(f"accuracy on {held} held-out digits: {accuracy:.1%}")
    current_scope().record_metric("accuracy", round(accuracy, 4))
    # The version's weights are learnt from every digit, now that the held-out ones have done their job.
    final = Classifier.fit(x, y, c=regularization, seed=seed)
    final.accuracy = accuracy
    target = Path("/tmp/digits-weights.npz")
    final.save(str(target))
    return TrainingOutput(weights=target)
