"""Text-to-speech with CMU Flite 2.2 (BSD-style licence), the `flite` program of Debian's package.

Flite is a small synthesiser from Carnegie Mellon University; its voices are compiled into the
program, so nothing is downloaded. It speaks English only. kal is a diphone voice (8 kHz); the
others are clustergen voices (16 kHz) recorded from CMU ARCTIC speakers.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave

from cog import BasePredictor, Input, Path

VOICES = {
    "slt": "US English, female (CMU ARCTIC slt)",
    "rms": "US English, male (CMU ARCTIC rms)",
    "awb": "Scottish English, male (CMU ARCTIC awb)",
    "kal16": "US English, male, diphone (16 kHz)",
    "kal": "US English, male, diphone (8 kHz, the smallest)",
}
MAX_CHARS = 5000


class Predictor(BasePredictor):
    def setup(self) -> None:
        self.flite = shutil.which("flite")
        if self.flite is None:
            raise RuntimeError("the flite program is not installed on this machine (Debian package flite)")
        listed = subprocess.run([self.flite, "-lv"], capture_output=True, text=True, check=True).stdout
        missing = [voice for voice in VOICES if voice not in listed.split()]
        if missing:
            raise RuntimeError(f"this flite lacks the voices {', '.join(missing)}: {listed.strip()}")

    def predict(
        self,
        text: str = Input(description="English text to speak", max_length=MAX_CHARS),
        voice: str = Input(description="; ".join(f"{k}: {v}" for k, v in VOICES.items()),
                           choices=list(VOICES), default="slt"),
        speed: float = Input(description="Speaking rate: 0.5 is half as fast, 2 twice as fast",
                             ge=0.5, le=2.0, default=1.0),
    ) -> Path:
        if not text.strip():
            raise ValueError("text: give some words to speak")
        target = Path("/tmp/speech.wav")
        with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as script:
            script.write(text)
            script.flush()
            subprocess.run(
                [self.flite, "-voice", voice, "--setf", f"duration_stretch={1.0 / speed:.3f}",
                 "-f", script.name, "-o", str(target)],
                check=True, capture_output=True, timeout=120,
            )
        with wave.open(str(target)) as audio:
            seconds = audio.getnframes() / audio.getframerate()
            print(f"{seconds:.1f} s of speech at {audio.getframerate()} Hz ({voice})")
        return target
