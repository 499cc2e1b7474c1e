"""Background removal for photos of people: MediaPipe's selfie segmentation (Apache-2.0), on the CPU.

The segmentation network gives each pixel a probability of being part of a person; that becomes the
alpha channel of a PNG (or the background is painted, or blurred). It is made for people: objects
and animals are not "foreground" to it. The TFLite models ship inside the mediapipe 0.10.21 wheel
(later releases dropped them), so nothing is downloaded.
"""

from __future__ import annotations

import mediapipe as mp
import numpy as np
from cog import BasePredictor, Input, Path
from PIL import Image, ImageFilter, ImageOps

MAX_SIDE = 4096
MODELS = {"general": 0, "landscape": 1}  # 256×256 input / 144×256 input, faster


def open_rgb(path: Path) -> Image.Image:
    """The image upright (EXIF orientation applied) in RGB, or a ValueError a person can act on. Its
    size is checked before its pixels are decoded."""
    try:
        picture = Image.open(path)
    except Exception as exc:
        raise ValueError(f"image: not an image this model can read ({exc})") from None
    if max(picture.size) > MAX_SIDE:
        raise ValueError(f"image: {picture.width}×{picture.height} is too large; at most {MAX_SIDE} pixels a side")
    try:
        picture = ImageOps.exif_transpose(picture)
        picture.load()
    except Exception as exc:
        raise ValueError(f"image: not an image this model can read ({exc})") from None
    return picture.convert("RGB")


class Predictor(BasePredictor):
    def setup(self) -> None:
        self.segmenters = {name: mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=number)
                           for name, number in MODELS.items()}

    def predict(
        self,
        image: Path = Input(description="A photo with one or more people in it"),
        background: str = Input(
            description="transparent: a PNG with an alpha channel; white: painted white; "
            "blur: the photo's own background, blurred",
            choices=["transparent", "white", "blur"],
            default="transparent",
        ),
        model: str = Input(description="general: most photos; landscape: a smaller, faster network",
                           choices=list(MODELS), default="general"),
        edge: float = Input(
            description="How soft the cut is: 0 keeps the network's soft edge, 1 cuts hard at 50%",
            ge=0.0, le=1.0, default=0.3,
        ),
    ) -> Path:
        picture = open_rgb(image)
        mask = self.segmenters[model].process(np.asarray(picture)).segmentation_mask
        mask = np.clip(mask, 0.0, 1.0)
        if edge > 0:  # steepen the ramp around 0.5
            steepness = 1.0 + 19.0 * edge
            mask = np.clip((mask - 0.5) * steepness + 0.5, 0.0, 1.0)
        alpha = Image.fromarray((mask * 255.0 + 0.5).astype(np.uint8), "L")
        person = int((mask > 0.5).sum())
        print(f"person pixels: {person} of {mask.size} ({100.0 * person / mask.size:.1f}%)")
        if background == "transparent":
            result = picture.copy()
            result.putalpha(alpha)
        else:
            if background == "white":
                behind = Image.new("RGB", picture.size, "white")
            else:
                behind = picture.filter(ImageFilter.GaussianBlur(radius=max(picture.size) / 60))
            result = Image.composite(picture, behind, alpha)
        target = Path("/tmp/without-background.png")
        result.save(target)
        return target
