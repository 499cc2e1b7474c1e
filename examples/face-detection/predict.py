"""Face detection with MediaPipe's BlazeFace (Apache-2.0), on the CPU.

Each face comes back as a box in pixels, a confidence and six keypoints (eyes, nose tip, mouth,
ears), and the photo comes back with the boxes drawn on it. The TFLite models ship inside the
mediapipe 0.10.21 wheel (later releases dropped them), so nothing is downloaded.
"""

from __future__ import annotations

import mediapipe as mp
import numpy as np
from cog import BaseModel, BasePredictor, Input, Path
from PIL import Image, ImageDraw, ImageOps

MAX_SIDE = 4096
MODELS = {"short-range": 0, "full-range": 1}  # faces within about 2 m / within about 5 m
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")
COLOURS = ("#22d3ee", "#a3e635", "#f472b6", "#facc15", "#fb923c", "#c084fc")


class Output(BaseModel):
    faces: list[dict]
    image: Path


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
        # Each run builds its detector (its threshold is an input); this checks the models load.
        for number in MODELS.values():
            mp.solutions.face_detection.FaceDetection(model_selection=number).close()

    def predict(
        self,
        image: Path = Input(description="A photo"),
        model: str = Input(description="short-range: faces within about 2 m (selfies); "
                           "full-range: smaller faces further away", choices=list(MODELS), default="short-range"),
        min_confidence: float = Input(description="Faces the network is less sure of are left out",
                                      ge=0.05, le=0.99, default=0.5),
    ) -> Output:
        picture = open_rgb(image)
        width, height = picture.size
        detector = mp.solutions.face_detection.FaceDetection(
            model_selection=MODELS[model], min_detection_confidence=min_confidence)
        with detector:
            found = detector.process(np.asarray(picture)).detections or []
        faces = []
        for detection in found:
            box = detection.location_data.relative_bounding_box
            left, top = max(box.xmin, 0.0) * width, max(box.ymin, 0.0) * height
            right = min(box.xmin + box.width, 1.0) * width
            bottom = min(box.ymin + box.height, 1.0) * height
            faces.append({
                "box": {"x": round(left), "y": round(top), "width": round(right - left),
                        "height": round(bottom - top)},
                "confidence": round(float(detection.score[0]), 4),
                "keypoints": {name: {"x": round(point.x * width), "y": round(point.y * height)}
                              for name, point in zip(KEYPOINTS, detection.location_data.relative_keypoints)},
            })
        faces.sort(key=lambda face: -face["confidence"])
        print(f"{len(faces)} face(s) found")
        target = Path("/tmp/faces.png")
        _draw(picture, faces).save(target)
        return Output(faces=faces, image=target)


def _draw(picture: Image.Image, faces: list[dict]) -> Image.Image:
    drawn = picture.copy()
    pen = ImageDraw.Draw(drawn)
    line = max(2, round(max(picture.size) / 200))
    for number, face in enumerate(faces):
        colour = COLOURS[number % len(COLOURS)]
        box = face["box"]
        pen.rectangle((box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"]),
                      outline=colour, width=line)
        label = f"{face['confidence']:.2f}"
        pen.rectangle((box["x"], max(box["y"] - 6 * line - 4, 0), box["x"] + 4 * line * len(label),
                       max(box["y"], 6 * line + 4)), fill=colour)
        pen.text((box["x"] + line, max(box["y"] - 6 * line - 2, 2)), label, fill="#0b1020",
                 font_size=5 * line)
        for point in face["keypoints"].values():
            pen.ellipse((point["x"] - line, point["y"] - line, point["x"] + line, point["y"] + line), fill=colour)
    return drawn
