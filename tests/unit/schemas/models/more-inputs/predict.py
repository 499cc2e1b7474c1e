# ruff: noqa: B008 - Input() defaults are how Cog declares inputs

from cog import BasePredictor, Input, Path, Secret

LONG = "A watercolor painting of a lighthouse on a cliff at dawn, soft light, gentle waves below"


class Predictor(BasePredictor):
    def predict(
        self,
        files: list[Path] = Input(description="Some files"),
        numbers: list[int] = Input(default=[1, 2]),
        caption: str = Input(default=LONG),
        mode: str = Input(choices=["fast", "best"]),
        token: Secret = Input(description="A required secret"),
        enabled: bool = True,
        ratio: float = Input(default=1.5, ge=0.5),
    ) -> str:
        return f"{len(files)} {numbers} {caption} {mode} {enabled} {ratio} {len(token.get_secret_value())}"
