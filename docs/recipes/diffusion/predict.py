"""Text-to-image with SDXL-Turbo (stabilityai/sdxl-turbo) through diffusers.

setup() loads the pipeline from the Hugging Face Hub into MODEL_CACHE (the fp16 files only,
about 7 GB) and moves it to the GPU in float16. Without CUDA it runs on the CPU in float32 and
says so in the log: that works, but takes minutes per image and about 14 GB of memory.

Environment (all optional):
  MODEL_ID        a Hub repository or a local folder in diffusers layout (default stabilityai/sdxl-turbo)
  MODEL_VARIANT   the weights variant to load (default fp16; empty for the repository's default files)
  MODEL_CACHE     where downloads go (default $TMPDIR/model-cache)
  HF_HUB_OFFLINE  1: use only what MODEL_CACHE already holds, never the network
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Optional

# Read when huggingface_hub is imported (by diffusers): keep no second copy of the weights in
# the Xet chunk cache, which would count against the same disk as the weights themselves.
os.environ.setdefault("HF_XET_CHUNK_CACHE_SIZE_BYTES", "0")

import torch  # noqa: E402
from cog import BasePredictor, Input, Path  # noqa: E402
from diffusers import AutoPipelineForText2Image  # noqa: E402

MODEL_ID = os.environ.get("MODEL_ID", "stabilityai/sdxl-turbo")
MODEL_VARIANT = os.environ.get("MODEL_VARIANT", "fp16") or None
MODEL_CACHE = os.environ.get("MODEL_CACHE") or os.path.join(tempfile.gettempdir(), "model-cache")
MAX_SEED = 2**32 - 1


class Predictor(BasePredictor):
    def setup(self) -> None:
        if torch.cuda.is_available():
            self.device, dtype = "cuda", torch.float16
            print(f"Using {torch.cuda.get_device_name(0)} in float16")
        else:
            self.device, dtype = "cpu", torch.float32
            print("CUDA is not available: running on the CPU in float32 (minutes per image, ~14 GB of memory)")
        print(f"Loading {MODEL_ID} (cache: {MODEL_CACHE}); a first start downloads about 7 GB")
        started = time.monotonic()
        self.pipe = AutoPipelineForText2Image.from_pretrained(
            MODEL_ID,
            torch_dtype=dtype,
            variant=MODEL_VARIANT,
            use_safetensors=True,
            cache_dir=MODEL_CACHE,
        )
        self.pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        print(f"Pipeline ready in {time.monotonic() - started:.0f} s")

    def predict(
        self,
        prompt: str = Input(description="What the image shows"),
        negative_prompt: Optional[str] = Input(
            default=None,
            description="What to keep out of the image. Used only when guidance_scale is above 1",
        ),
        width: int = Input(
            default=512, ge=256, le=1536,
            description="Width in pixels, rounded down to a multiple of 8. SDXL-Turbo was trained at 512",
        ),
        height: int = Input(
            default=512, ge=256, le=1536,
            description="Height in pixels, rounded down to a multiple of 8. SDXL-Turbo was trained at 512",
        ),
        num_outputs: int = Input(default=1, ge=1, le=4, description="How many images to make"),
        num_inference_steps: int = Input(
            default=1, ge=1, le=50,
            description="Denoising steps. SDXL-Turbo needs 1 to 4; other SDXL models about 30",
        ),
        guidance_scale: float = Input(
            default=0.0, ge=0.0, le=20.0,
            description="Classifier-free guidance. SDXL-Turbo was trained without it: keep 0",
        ),
        seed: Optional[int] = Input(
            default=None, ge=0, le=MAX_SEED, description="Random seed. Leave empty for a random one",
        ),
    ) -> list[Path]:
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "big")
        print(f"Using seed: {seed}")
        width, height = width - width % 8, height - height % 8
        generator = torch.Generator(device=self.device).manual_seed(seed)
        images = self.pipe(
            prompt=prompt,
            negative_prompt=negative_prompt or None,
            width=width,
            height=height,
            num_images_per_prompt=num_outputs,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            generator=generator,
        ).images

        out_dir = Path(tempfile.mkdtemp(prefix="sdxl-"))
        paths = []
        for index, image in enumerate(images):
            path = out_dir / f"output-{index}.png"
            image.save(path)
            paths.append(Path(path))
        return paths
