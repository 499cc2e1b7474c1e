"""Speech-to-text and speech translation with Whisper through faster-whisper (CTranslate2).

setup() downloads the default model (large-v3-turbo, about 1.6 GB) from the Hugging Face Hub
into MODEL_CACHE and loads it on the GPU in float16; another size is downloaded the first time
a prediction asks for it, and replaces the loaded one. Without CUDA it runs on the CPU with int8
weights and says so in the log.

CTranslate2 looks for cuBLAS 12 and cuDNN 9 by library name at run time. They are installed as
NVIDIA's pip wheels (see cog.yaml), whose folders are not on the loader's path, so they are
loaded here by full path first; CTranslate2's later lookups then find them already loaded.

Environment (all optional):
  MODEL_CACHE     where downloads go (default $TMPDIR/model-cache)
  HF_HUB_OFFLINE  1: use only what MODEL_CACHE already holds, never the network
"""

from __future__ import annotations

import ctypes
import gc
import glob
import importlib.util
import os
import tempfile
import time
from typing import Optional, TypedDict

# Read when huggingface_hub is imported (by faster_whisper): keep no second copy of the weights
# in the Xet chunk cache, which would count against the same disk as the weights themselves.
os.environ.setdefault("HF_XET_CHUNK_CACHE_SIZE_BYTES", "0")

MODEL_CACHE = os.environ.get("MODEL_CACHE") or os.path.join(tempfile.gettempdir(), "model-cache")
MODEL_SIZES = ["tiny", "base", "small", "medium", "large-v3", "turbo"]
DEFAULT_SIZE = "turbo"  # faster-whisper's name for large-v3-turbo


def _load_nvidia_libraries() -> None:
    """dlopen cuBLAS and cuDNN from the nvidia-* wheels, globally, in an order that satisfies their
    dependencies on each other (retried until nothing more loads)."""
    pending = []
    for package, pattern in (("nvidia.cublas", "libcublas*.so*"), ("nvidia.cudnn", "libcudnn*.so*")):
        try:
            spec = importlib.util.find_spec(package)
        except ModuleNotFoundError:
            spec = None
        for folder in (spec.submodule_search_locations or []) if spec else []:
            pending += sorted(glob.glob(os.path.join(folder, "lib", pattern)))
    while pending:
        failed = []
        for path in pending:
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            except OSError:
                failed.append(path)
        if len(failed) == len(pending):
            print("Not loaded (fine on a CPU, and for parts CTranslate2 does not use): "
                  + ", ".join(os.path.basename(p) for p in failed))
            break
        pending = failed


_load_nvidia_libraries()

import ctranslate2  # noqa: E402
from cog import BaseModel, BasePredictor, Input, Path  # noqa: E402
from faster_whisper import WhisperModel  # noqa: E402
from faster_whisper.tokenizer import _LANGUAGE_CODES  # noqa: E402


class Segment(TypedDict):
    """One stretch of speech. Cog 0.23 takes no BaseModel inside a BaseModel: a TypedDict (a
    plain JSON object in the output) is what it allows."""

    start: float  # seconds from the start of the audio
    end: float
    text: str


class Output(BaseModel):
    text: str
    language: str
    language_probability: float
    segments: list[Segment]


class Predictor(BasePredictor):
    def setup(self) -> None:
        if ctranslate2.get_cuda_device_count() > 0:
            self.device, self.compute_type = "cuda", "float16"
            print("Using the GPU in float16")
        else:
            self.device, self.compute_type = "cpu", "int8"
            print("No CUDA device: running on the CPU with int8 weights (slow for the larger models)")
        self.size: Optional[str] = None
        self.model: Optional[WhisperModel] = None
        self._load(DEFAULT_SIZE)

    def _load(self, size: str) -> None:
        if size == self.size:
            return
        self.model = None  # one model on the GPU at a time
        gc.collect()
        print(f"Loading Whisper {size} (cache: {MODEL_CACHE})")
        started = time.monotonic()
        self.model = WhisperModel(size, device=self.device, compute_type=self.compute_type, download_root=MODEL_CACHE)
        self.size = size
        print(f"Whisper {size} ready in {time.monotonic() - started:.0f} s")

    def predict(
        self,
        audio: Path = Input(description="Audio (or video) file: anything FFmpeg decodes, such as mp3, wav, m4a, ogg"),
        model: str = Input(
            default=DEFAULT_SIZE, choices=MODEL_SIZES,
            description="Whisper model. turbo is large-v3-turbo: near large-v3 quality, much faster, "
                        "but trained for transcription only",
        ),
        language: Optional[str] = Input(
            default=None, description="Language code of the speech, such as en or fr. Leave empty to detect it",
        ),
        task: str = Input(
            default="transcribe", choices=["transcribe", "translate"],
            description="transcribe: text in the spoken language; translate: English text "
                        "(use large-v3 or medium for this, not turbo)",
        ),
        vad_filter: bool = Input(
            default=True, description="Skip silence with the Silero voice activity detector before transcribing",
        ),
    ) -> Output:
        language = (language or "").strip().lower() or None
        if language is not None and language not in _LANGUAGE_CODES:
            raise ValueError(f"unknown language code {language!r}; use one of: {', '.join(_LANGUAGE_CODES)}")
        self._load(model)

        started = time.monotonic()
        pieces, info = self.model.transcribe(str(audio), language=language, task=task, vad_filter=vad_filter)
        print(f"Language: {info.language} (probability {info.language_probability:.2f}), "
              f"{info.duration:.1f} s of audio")
        segments, texts = [], []
        for piece in pieces:  # transcribes as it is read
            print(f"[{piece.start:7.2f} -> {piece.end:7.2f}] {piece.text.strip()}")
            segments.append(Segment(start=round(piece.start, 3), end=round(piece.end, 3), text=piece.text.strip()))
            texts.append(piece.text)  # with Whisper's own spacing, right for languages without spaces too
        elapsed = time.monotonic() - started
        print(f"Done in {elapsed:.1f} s ({info.duration / max(elapsed, 1e-9):.1f}x real time)")
        return Output(
            text="".join(texts).strip(),
            language=info.language,
            language_probability=round(info.language_probability, 4),
            segments=segments,
        )
