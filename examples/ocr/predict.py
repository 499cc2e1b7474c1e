"""Text recognition (OCR): PaddleOCR's PP-OCRv4 detection and recognition models (Apache-2.0) as
RapidOCR 1.4.4 packages them for ONNX Runtime, on the CPU.

The detector finds lines of text, the angle classifier turns upside-down lines round, and the
recogniser reads each line (Chinese and English). Lines come back in reading order (top to bottom,
then left to right), with their boxes and confidences, and drawn on the image.
"""

from __future__ import annotations

import numpy as np
from cog import BaseModel, BasePredictor, Input, Path
from PIL import Image, ImageDraw, ImageOps
from rapidocr_onnxruntime import RapidOCR

MAX_SIDE = 4096


class Output(BaseModel):
    text: str
    lines: list[dict]
    image: Path


class Predictor(BasePredictor):
    def setup(self) -> None:
        self.engine = RapidOCR()

    def predict(
        self,
        image: Path = Input(description="A photo, scan or screenshot with text in it"),
        min_confidence: float = Input(description="Lines read with less confidence are left out",
                                      ge=0.0, le=1.0, default=0.5),
    ) -> Output:
        try:
            picture = Image.open(image)
        except Exception as exc:
            raise ValueError(f"image: not an image this model can read ({exc})") from None
        if max(picture.size) > MAX_SIDE:  # before its pixels are decoded
            raise ValueError(f"image: {picture.width}×{picture.height} is too large; "
                             f"at most {MAX_SIDE} pixels a side")
        try:
            picture = ImageOps.exif_transpose(picture)
            picture.load()
        except Exception as exc:
            raise ValueError(f"image: not an image this model can read ({exc})") from None
        picture = picture.convert("RGB")
        # RapidOCR reads arrays in OpenCV's channel order.
        found, elapsed = self.engine(np.asarray(picture)[:, :, ::-1].copy(), text_score=min_confidence)
        lines = [
            {"text": text, "confidence": round(float(score), 4),
             "box": [[round(float(x)), round(float(y))] for x, y in box]}
            for box, text, score in (found or [])
        ]
        rows = _rows(lines)
        print(f"{len(lines)} line(s) found" + (f" in {sum(elapsed):.2f} s" if elapsed else ""))
        target = Path("/tmp/text.png")
        _draw(picture, lines).save(target)
        return Output(text="\n".join(" ".join(line["text"] for line in row) for row in rows),
                      lines=[line for row in rows for line in row], image=target)


def _rows(lines: list[dict]) -> list[list[dict]]:
    """Boxes grouped into rows of text (a box whose middle lies within the row's height joins it),
    top to bottom, each row left to right."""
    rows: list[list[dict]] = []
    for line in sorted(lines, key=lambda item: _middle(item)[1]):
        _, middle_y = _middle(line)
        for row in rows:
            top = min(y for item in row for _, y in item["box"])
            bottom = max(y for item in row for _, y in item["box"])
            if top <= middle_y <= bottom:
                row.append(line)
                break
        else:
            rows.append([line])
    return [sorted(row, key=lambda item: _middle(item)[0]) for row in rows]


def _middle(line: dict) -> tuple[float, float]:
    xs, ys = zip(*line["box"])
    return sum(xs) / len(xs), sum(ys) / len(ys)


def _draw(picture: Image.Image, lines: list[dict]) -> Image.Image:
    drawn = picture.copy()
    pen = ImageDraw.Draw(drawn)
    width = max(2, round(max(picture.size) / 400))
    for line in lines:
        pen.polygon([tuple(point) for point in line["box"]], outline="#e11d48", width=width)
    return drawn
