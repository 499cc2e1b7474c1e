"""Streaming chat with an instruction-tuned LLM (default Qwen/Qwen2.5-1.5B-Instruct) through transformers.

setup() downloads the weights from the Hugging Face Hub into MODEL_CACHE (about 3.1 GB) and
loads them on the GPU (bfloat16, or float16 where the GPU has no bfloat16). Without CUDA it
runs on the CPU in float32 and says so in the log. predict() streams text as it is generated:
generate() runs in a thread and hands text to a TextIteratorStreamer that predict() yields from.

A gated model (a Llama, say) needs a Hugging Face token: the HF_TOKEN environment variable at
setup(), or the hf_token input, used by the first prediction when setup() could not download.

Environment (all optional):
  MODEL_ID        a Hub repository or a local folder (default Qwen/Qwen2.5-1.5B-Instruct)
  MODEL_CACHE     where downloads go (default $TMPDIR/model-cache)
  HF_TOKEN        a Hugging Face token, for gated or private repositories
  HF_HUB_OFFLINE  1: use only what MODEL_CACHE already holds, never the network
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from typing import Optional

# Read when huggingface_hub is imported: keep no second copy of the weights in the Xet chunk
# cache, which would count against the same disk as the weights themselves.
os.environ.setdefault("HF_XET_CHUNK_CACHE_SIZE_BYTES", "0")

import torch  # noqa: E402
from cog import BasePredictor, ConcatenateIterator, Input, Secret  # noqa: E402
from huggingface_hub import snapshot_download  # noqa: E402
from huggingface_hub.errors import GatedRepoError  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    AutoTokenizer,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

MODEL_ID = os.environ.get("MODEL_ID", "Qwen/Qwen2.5-1.5B-Instruct")
MODEL_CACHE = os.environ.get("MODEL_CACHE") or os.path.join(tempfile.gettempdir(), "model-cache")
# What a transformers checkpoint needs; never a repository's other copies of the weights
# (Meta's repositories also hold the original checkpoint under original/).
ALLOW = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "*.jinja"]
IGNORE = ["original/*"]
MAX_SEED = 2**32 - 1


class _Stop(StoppingCriteria):
    """Ends generate() once the prediction stops reading (canceled, or failed)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class Predictor(BasePredictor):
    def setup(self) -> None:
        self.model = None
        self.tokenizer = None
        if torch.cuda.is_available():
            self.device = "cuda"
            self.dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            print(f"Using {torch.cuda.get_device_name(0)} in {str(self.dtype).removeprefix('torch.')}")
        else:
            self.device, self.dtype = "cpu", torch.float32
            print("CUDA is not available: running on the CPU in float32 (slow)")
        try:
            self._load(os.environ.get("HF_TOKEN") or None)
        except GatedRepoError:
            print(f"{MODEL_ID} is gated and HF_TOKEN is missing or has no access to it: "
                  "the first prediction must pass hf_token")

    def _load(self, token: Optional[str]) -> None:
        started = time.monotonic()
        if os.path.isdir(MODEL_ID):
            folder = MODEL_ID
        else:
            print(f"Fetching {MODEL_ID} (cache: {MODEL_CACHE})")
            folder = snapshot_download(MODEL_ID, cache_dir=MODEL_CACHE, token=token,
                                       allow_patterns=ALLOW, ignore_patterns=IGNORE)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=self.dtype, device_map=self.device)
        self.model.eval()
        print(f"{MODEL_ID} ready in {time.monotonic() - started:.0f} s")

    def predict(
        self,
        prompt: str = Input(description="The user's message"),
        system_prompt: str = Input(
            default="You are a helpful assistant.", description="Instructions the model follows for this chat",
        ),
        max_new_tokens: int = Input(default=512, ge=1, le=4096, description="The most tokens to generate"),
        temperature: float = Input(
            default=0.7, ge=0.0, le=2.0, description="Randomness of sampling; 0 always picks the likeliest token",
        ),
        top_p: float = Input(
            default=0.9, ge=0.01, le=1.0, description="Sample only from the likeliest tokens that make up this probability",
        ),
        seed: Optional[int] = Input(
            default=None, ge=0, le=MAX_SEED, description="Random seed. Leave empty for a random one",
        ),
        hf_token: Optional[Secret] = Input(
            default=None,
            description="Hugging Face token, only for a gated model that setup() could not download",
        ),
    ) -> ConcatenateIterator[str]:
        if self.model is None:
            token = hf_token.get_secret_value() if hf_token is not None else None
            if not token:
                raise ValueError(f"{MODEL_ID} is gated: pass hf_token (a token with access to it)")
            self._load(token)
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "big")
        print(f"Using seed: {seed}")
        torch.manual_seed(seed)

        messages = [{"role": "user", "content": prompt}]
        if system_prompt:
            messages.insert(0, {"role": "system", "content": system_prompt})
        inputs = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True,
        ).to(self.model.device)
        input_tokens = inputs["input_ids"].shape[1]

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        stop = threading.Event()
        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else {
            "do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        pad_token_id = self.tokenizer.pad_token_id
        if pad_token_id is None:
            pad_token_id = self.tokenizer.eos_token_id
        result: dict[str, object] = {}

        def generate() -> None:
            try:
                with torch.inference_mode():
                    result["ids"] = self.model.generate(
                        input_ids=inputs["input_ids"],
                        attention_mask=inputs.get("attention_mask"),
                        max_new_tokens=max_new_tokens,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([_Stop(stop)]),
                        pad_token_id=pad_token_id,
                        **sampling,
                    )
            except BaseException as exc:  # handed to predict(), which raises it
                result["error"] = exc
                streamer.end()  # lets the loop below finish

        thread = threading.Thread(target=generate, name="generate", daemon=True)
        started = time.monotonic()
        first_token_at = None
        thread.start()
        try:
            for text in streamer:
                if text:
                    if first_token_at is None:
                        first_token_at = time.monotonic()
                    yield text
        finally:
            stop.set()  # canceled or failed: generate() ends at its next token
            thread.join()
        if "error" in result:
            raise result["error"]

        elapsed = max(time.monotonic() - started, 1e-9)
        output_tokens = int(result["ids"].shape[1]) - input_tokens
        print(f"{output_tokens} tokens in {elapsed:.1f} s ({output_tokens / elapsed:.1f} tokens/s)")
        self.record_metric("input_token_count", input_tokens)
        self.record_metric("output_token_count", output_tokens)
        self.record_metric("tokens_per_second", round(output_tokens / elapsed, 1))
        if first_token_at is not None:
            self.record_metric("time_to_first_token", round(first_token_at - started, 3))
