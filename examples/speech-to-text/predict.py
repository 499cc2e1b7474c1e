"""Speech-to-text with CMU PocketSphinx 5.1.1 (BSD licence) and its US English acoustic model,
dictionary and language model, all inside the pocketsphinx wheel.

PocketSphinx is a small, classic (HMM) recogniser: fast on one CPU core, best on clear speech from
one speaker, far less accurate than a modern neural model on noisy or accented audio. Audio is read
with libsndfile (WAV, FLAC, OGG, MP3), mixed down to mono and resampled to 16 kHz.
"""

from __future__ import annotations

import math

import numpy as np
import soundfile
from cog import BaseModel, BasePredictor, Input, Path
from pocketsphinx import Decoder
from scipy.signal import resample_poly

RATE = 16_000
FRAMES_PER_SECOND = 100  # PocketSphinx's frame rate
MAX_SECONDS = 600


class Output(BaseModel):
    text: str
    words: list[dict]
    duration: float


class Predictor(BasePredictor):
    def setup(self) -> None:
        self.decoder = Decoder(samprate=RATE, loglevel="ERROR")

    def predict(
        self,
        audio: Path = Input(description="Speech in English: WAV, FLAC, OGG or MP3, up to 10 minutes"),
    ) -> Output:
        samples = _read(audio)
        duration = len(samples) / RATE
        self.decoder.start_utt()
        self.decoder.process_raw(samples.tobytes(), full_utt=True)
        self.decoder.end_utt()
        hypothesis = self.decoder.hyp()
        words = [
            {"word": segment.word.split("(")[0], "start": round(segment.start_frame / FRAMES_PER_SECOND, 2),
             "end": round((segment.end_frame + 1) / FRAMES_PER_SECOND, 2)}
            for segment in self.decoder.seg()
            if not (segment.word.startswith(("<", "[")) or segment.word in ("<sil>",))
        ]
        text = hypothesis.hypstr if hypothesis is not None else ""
        print(f"{duration:.1f} s of audio, {len(words)} word(s)")
        return Output(text=text, words=words, duration=round(duration, 2))


def _read(path: Path) -> np.ndarray:
    """The audio as 16 kHz mono 16-bit samples, or a ValueError a person can act on."""
    try:
        info = soundfile.info(str(path))
    except Exception:
        raise ValueError("audio: not a sound file this model can read; send WAV, FLAC, OGG or MP3") from None
    if info.duration > MAX_SECONDS:
        raise ValueError(f"audio: {info.duration:.0f} s long; at most {MAX_SECONDS // 60} minutes a run")
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise ValueError(f"audio: the file could not be read to its end ({exc})") from None
    mono = data.mean(axis=1)
    if rate != RATE:
        divisor = math.gcd(rate, RATE)
        mono = resample_poly(mono, RATE // divisor, rate // divisor)
    return (np.clip(mono, -1.0, 1.0) * 32767.0).astype("<i2")
