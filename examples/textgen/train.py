"""Fine-tune textgen on your own text, on CPU in well under a minute.

The embedding and both LSTM layers stay as they were pretrained; the output layer (the Dense
layer that turns the attention-pooled features into next-character probabilities) is trained on
windows of the new text with Adam, so the model keeps its spelling and picks up the new text's
words and style. ``setup(weights=...)`` of predict.py loads the new layer.

Progress is printed one line at a time as ``step N/TOTAL loss X.XXX``: Cogmill's training page
draws its progress bar and loss from those lines.

The text is a UTF-8 ``.txt`` file or a ``.zip`` of them (read in memory, never extracted); each
line is one text, as textgenrnn trains on titles.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
import zipfile

import numpy as np
from cog import BaseModel, Input, Path
from predict import EPSILON, MAX_LENGTH, TextgenRNN

MAX_TEXT_BYTES = 20 * 1024 * 1024  # of text read from the upload, zip members together
MAX_WINDOWS = 8000  # training windows drawn from the text
BATCH = 128
FEATURE_BATCH = 256


class TrainingOutput(BaseModel):
    weights: Path


def read_text(path: str) -> str:
    """The upload's text: a .txt file, or every .txt member of a zip, in name order."""
    if zipfile.is_zipfile(path):
        parts, total = [], 0
        with zipfile.ZipFile(path) as archive:
            for member in sorted(archive.infolist(), key=lambda m: m.filename):
                if member.is_dir() or not member.filename.lower().endswith(".txt"):
                    continue
                total += member.file_size
                if total > MAX_TEXT_BYTES:
                    raise ValueError(f"the zip holds more than {MAX_TEXT_BYTES // 2**20} MB of text")
                with archive.open(member) as handle:
                    parts.append(io.TextIOWrapper(handle, encoding="utf-8", errors="replace").read())
        if not parts:
            raise ValueError("the zip has no .txt file in it")
        return "\n".join(parts)
    if os.path.getsize(path) > MAX_TEXT_BYTES:
        raise ValueError(f"the text is larger than {MAX_TEXT_BYTES // 2**20} MB")
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def training_windows(model: TextgenRNN, text: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(contexts, next chars): every position of every line, as textgenrnn frames a text with
    ``<s>`` at both ends; at most MAX_WINDOWS of them, drawn at random."""
    contexts, targets = [], []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        ids = [model.meta_id, *model.encode(line), model.meta_id]
        for i in range(1, len(ids)):
            window = ids[max(0, i - MAX_LENGTH) : i]
            contexts.append([0] * (MAX_LENGTH - len(window)) + window)
            targets.append(ids[i])
    if not contexts:
        raise ValueError("the text has no lines to learn from")
    order = rng.permutation(len(contexts))[:MAX_WINDOWS]
    return np.array(contexts, dtype=np.int64)[order], np.array(targets, dtype=np.int64)[order]


def pooled_features(model: TextgenRNN, x: np.ndarray) -> np.ndarray:
    """The attention-pooled features the output layer reads, for a batch of 40-id windows:
    ``TextgenRNN.probabilities`` for many windows at once, without its last layer."""
    batch, steps, u = x.shape[0], x.shape[1], model.units
    seq = np.zeros((batch, steps, 2 * u), dtype=np.float32)
    h = np.zeros((batch, 2 * u), dtype=np.float32)
    c = np.zeros((batch, 2, u), dtype=np.float32)
    for s in range(steps + 1):
        z = h @ model.block
        z += model.step_in[x[:, s]] if s < steps else model.last_in
        t = np.tanh(z).reshape(batch, 2, 4, u)
        g = t * 0.5 + 0.5
        c = g[:, :, 1] * c + g[:, :, 0] * t[:, :, 2]
        hn = g[:, :, 3] * np.tanh(c)
        if s == 0:
            c[:, 1] = 0.0
            hn[:, 1] = 0.0
        else:
            seq[:, s - 1, u:] = hn[:, 1]
        if s < steps:
            seq[:, s, :u] = hn[:, 0]
        h = hn.reshape(batch, -1)
    feats = np.concatenate([model.embedding[x], seq], axis=2)
    logits = feats @ model.attention_w
    if logits.ndim == 3:
        logits = logits[..., 0]
    a = np.exp(logits - logits.max(axis=1, keepdims=True))
    a /= a.sum(axis=1, keepdims=True) + EPSILON
    return np.einsum("bt,btf->bf", a, feats)


def softmax_loss(features, targets, kernel, bias):
    """Mean cross-entropy of the output layer, and its gradients."""
    logits = features @ kernel + bias
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    n = len(targets)
    loss = float(-np.log(probs[np.arange(n), targets] + 1e-12).mean())
    probs[np.arange(n), targets] -= 1.0
    probs /= n
    return loss, features.T @ probs, probs.sum(axis=0)


def train(
    data: Path = Input(description="The text to learn from: a UTF-8 .txt file, or a .zip of .txt files. "
                       "Each line is one text."),
    steps: int = Input(description="Training steps of 128 windows each", default=300, ge=10, le=5000),
    learning_rate: float = Input(description="Adam's learning rate", default=0.01, ge=0.0001, le=0.5),
    seed: int = Input(description="Random seed, for a repeatable training", default=42),
) -> TrainingOutput:
    started = time.time()
    rng = np.random.default_rng(seed)
    model = TextgenRNN()
    text = read_text(str(data))
    x, y = training_windows(model, text, rng)
    print(f"learning from {len(text)} characters: {len(x)} windows")
    features = np.concatenate([pooled_features(model, x[i : i + FEATURE_BATCH])
                               for i in range(0, len(x), FEATURE_BATCH)]).astype(np.float32)
    print(f"features ready in {time.time() - started:.1f}s")

    kernel, bias = model.output_kernel.copy(), model.output_bias.copy()
    moments = [np.zeros_like(kernel), np.zeros_like(kernel), np.zeros_like(bias), np.zeros_like(bias)]
    beta1, beta2, every = 0.9, 0.999, max(1, steps // 50)
    for step in range(1, steps + 1):
        pick = rng.integers(0, len(x), size=min(BATCH, len(x)))
        loss, grad_kernel, grad_bias = softmax_loss(features[pick], y[pick], kernel, bias)
        for param, grad, m, v in ((kernel, grad_kernel, moments[0], moments[1]),
                                  (bias, grad_bias, moments[2], moments[3])):
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            param -= learning_rate * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + 1e-8)
        if step % every == 0 or step == steps:
            print(f"step {step}/{steps} loss {loss:.3f}")

    out = Path(tempfile.mkdtemp(prefix="textgen-")) / "weights.npz"
    np.savez(out, output_kernel=kernel.astype(np.float32), output_bias=bias.astype(np.float32))
    print(f"trained in {time.time() - started:.1f}s")
    return TrainingOutput(weights=out)
