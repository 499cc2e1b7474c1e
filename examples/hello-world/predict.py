from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def setup(self) -> None:
        """Nothing to load: a real model would read its weights here, once per process."""

    def predict(
        self,
        text: str = Input(description="Text to prefix with 'hello '"),
    ) -> str:
        return "hello " + text
