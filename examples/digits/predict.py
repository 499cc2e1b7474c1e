"""Which digit is this? A logistic-regression classifier on scikit-learn's bundled digits data (the
UCI "Optical Recognition of Handwritten Digits" set: 1,797 digits by 43 people, as 8×8 images).

The base version learns from all the bundled digits when it starts (about a second). A training
(train.py) makes a new version with its own weights: other settings, and your own images as well.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from cog import BaseModel, BasePredictor, Input, Path
from digits import Classifier, features, open_image


class Output(BaseModel):
    digit: int
    confidence: float
    probabilities: dict


class Predictor(BasePredictor):
    def setup(self, weights: Optional[str] = None) -> None:
        if weights:
            self.classifier = Classifier.load(str(weights))
            print("weights: a trained version's")
        else:
            from sklearn.datasets import load_digits

            data = load_digits()
            self.classifier = Classifier.fit(data.data, data.target, c=1.0, seed=0)
            print(f"weights: learnt from the {len(data.target)} bundled digits")

    def predict(
        self,
        image: Path = Input(description="A picture of one handwritten digit, 0 to 9: dark on light or light "
                            "on dark, any size"),
    ) -> Output:
        x = features(open_image(str(image)))
        probabilities = self.classifier.probabilities(x[None, :])[0]
        digit = int(np.argmax(probabilities))
        return Output(digit=digit, confidence=round(float(probabilities[digit]), 4),
                      probabilities={str(d): round(float(p), 4) for d, p in enumerate(probabilities)})
