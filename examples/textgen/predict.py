"""Streaming character-level text generation with textgenrnn's pretrained model, in NumPy.

The network (Max Woolf's textgenrnn 2.0.0, MIT, pretrained on Reddit titles):

    40 char ids -> Embedding(465, 100) -> LSTM(128) -> LSTM(128)
    concat[embedding, lstm1, lstm2] (356 per step) -> attention-weighted average over the 40 steps
    -> Dense(465) softmax over the next character

The model is run exactly like textgenrnn's own ``textgenrnn_generate``: the context is ``<s>``
followed by the text so far, the last 40 ids are left-padded with id 0 and the whole window is
re-run for every new character; the next character is drawn with temperature sampling. When the
model emits ``<s>`` (end of a title) we write a newline and start a new title.

Weights: ``weights/textgenrnn.npz``, made from textgenrnn's h5 by ``tools/convert_weights.py``.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import time
import unicodedata
import urllib.request
from collections.abc import Iterator

import numpy as np
from cog import BasePredictor, ConcatenateIterator, Input, current_scope

HERE = os.path.dirname(os.path.abspath(__file__))
WEIGHTS_PATH = os.path.join(HERE, "weights", "textgenrnn.npz")
VOCAB_PATH = os.path.join(HERE, "weights", "textgenrnn_vocab.json")
CRUDE_WORDS_PATH = os.path.join(HERE, "crude_words.txt")

META_TOKEN = "<s>"  # start / end of a text in textgenrnn's vocabulary
MAX_LENGTH = 40  # context window of the pretrained model
EPSILON = 1e-7  # Keras' K.epsilon(), used by textgenrnn's sampler and attention layer


class TextgenRNN:
    """NumPy inference for the textgenrnn network (Keras LSTM layout, gates i, f, c, o)."""

    def __init__(self, weights_path: str = WEIGHTS_PATH, vocab_path: str = VOCAB_PATH):
        with np.load(weights_path) as w:
            p = {k: w[k].astype(np.float32) for k in w.files if k != "meta"}
        with open(vocab_path, encoding="utf-8") as f:
            self.vocab: dict[str, int] = json.load(f)
        self.indices_char = {i: c for c, i in self.vocab.items()}
        self.meta_id = self.vocab[META_TOKEN]
        self.num_classes = p["embedding"].shape[0]
        self.units = p["lstm1_recurrent"].shape[0]
        u = self.units

        self.embedding = p["embedding"]
        # Every gate uses one tanh: sigmoid(x) = (tanh(x / 2) + 1) / 2, so the i, f and o
        # columns of all weights are pre-scaled by 1/2 (the cell-input column c stays as is).
        scale = np.full(4 * u, 0.5, dtype=np.float32)
        scale[2 * u : 3 * u] = 1.0
        # Layer 1's input projection depends only on the char id: precompute it per id.
        in1 = (self.embedding @ p["lstm1_kernel"] + p["lstm1_bias"]) * scale
        # One matmul per time step serves both layers ("wavefront"): at step s,
        # [h1(s-1), h2(s-2)] @ [[R1, K2], [0, R2]] gives layer 1's recurrent term for time s and
        # layer 2's pre-activation (less bias) for time s-1.
        block = np.zeros((2 * u, 8 * u), dtype=np.float32)
        block[:u, : 4 * u] = p["lstm1_recurrent"] * scale
        block[:u, 4 * u :] = p["lstm2_kernel"] * scale
        block[u:, 4 * u :] = p["lstm2_recurrent"] * scale
        self.block = block
        # Per char id: the additive term of step s, [layer 1 input(s) | layer 2 bias].
        self.step_in = np.concatenate(
            [in1, np.broadcast_to(p["lstm2_bias"] * scale, in1.shape)], axis=1
        ).astype(np.float32)
        self.last_in = np.concatenate([np.zeros(4 * u), p["lstm2_bias"] * scale]).astype(np.float32)
        self.attention_w = p["attention_w"]
        self.output_kernel = p["output_kernel"]
        self.output_bias = p["output_bias"]
        # textgenrnn left-pads short contexts with id 0. The states after k pads never change,
        # so run an all-padding window once and start later windows after their padding.
        self._pad = self._run(np.zeros(MAX_LENGTH, dtype=np.int64), 0)

    def encode(self, text: str) -> list[int]:
        """Char ids as textgenrnn encodes them (unknown chars become 0, the padding id)."""
        return [self.vocab.get(c, 0) for c in text]

    def _run(self, x: np.ndarray, n_pad: int):
        """Both LSTM layers over the window x; returns (per-step [h1, h2], h and c histories)."""
        t_len, u = len(x), self.units
        seq = np.zeros((t_len, 2 * u), dtype=np.float32)  # per step [h1(t), h2(t)]
        hist_h = np.zeros((t_len + 1, 2 * u), dtype=np.float32)  # h entering step s
        hist_c = np.zeros((t_len + 1, 2, u), dtype=np.float32)
        if n_pad:
            seq[:], hist_h[:], hist_c[:] = self._pad
        h, c = hist_h[n_pad], hist_c[n_pad]
        step_in, block = self.step_in, self.block
        for s in range(n_pad, t_len + 1):
            z = h @ block
            z += step_in[x[s]] if s < t_len else self.last_in
            t = np.tanh(z).reshape(2, 4, u)
            g = t * 0.5 + 0.5  # sigmoid for the i, f, o gates
            c = g[:, 1] * c + g[:, 0] * t[:, 2]
            hn = g[:, 3] * np.tanh(c)
            if s == 0:  # layer 2 has no step -1: its state stays zero
                c[1] = 0.0
                hn[1] = 0.0
            else:
                seq[s - 1, u:] = hn[1]
            if s < t_len:
                seq[s, :u] = hn[0]
            h = hn.reshape(-1)
            if s < t_len:
                hist_h[s + 1], hist_c[s + 1] = h, c
        return seq, hist_h, hist_c

    def probabilities(self, ids: list[int]) -> np.ndarray:
        """Next-char distribution for a context of char ids (only the last 40 are used)."""
        ids = list(ids)[-MAX_LENGTH:]
        n_pad = MAX_LENGTH - len(ids)
        x = np.array([0] * n_pad + ids, dtype=np.int64)
        seq = self._run(x, n_pad)[0]
        feats = np.concatenate([self.embedding[x], seq], axis=1)  # (40, 100 + 128 + 128)
        logits = feats @ self.attention_w
        a = np.exp(logits - logits.max())
        a /= a.sum() + EPSILON
        out = (a @ feats) @ self.output_kernel + self.output_bias
        out = np.exp(out - out.max())
        return out / out.sum()

    @staticmethod
    def sample(probs: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
        """textgenrnn's temperature sampling; id 0 (padding) is never drawn."""
        p = np.asarray(probs, dtype=np.float64)
        logp = np.log(p + EPSILON) / temperature
        q = np.exp(logp - logp.max())
        q[0] = 0.0
        cdf = np.cumsum(q)
        return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(q) - 1))

    def generate(
        self, prompt: str, max_chars: int, temperature: float, rng: np.random.Generator
    ) -> Iterator[str]:
        """Yield generated characters one at a time (a newline where a title ends)."""
        ids = [self.meta_id] + self.encode(prompt)
        for _ in range(max_chars):
            nxt = self.sample(self.probabilities(ids), temperature, rng)
            if nxt == self.meta_id:
                ids = [self.meta_id]
                yield "\n"
            else:
                ids.append(nxt)
                yield self.indices_char[nxt]


def load_crude_words(path: str = CRUDE_WORDS_PATH) -> tuple[frozenset, tuple]:
    words, stems = set(), []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip().lower()
            if not line or line.startswith("#"):
                continue
            if line.endswith("*"):
                stems.append(line[:-1])
            else:
                words.update((line, line + "s", line + "es"))
    return frozenset(words), tuple(stems)


class CrudeWordFilter:
    """Masks crude words in a character stream, releasing text one whole word at a time.

    Letters and digits are held back until the word they belong to ends (any other character,
    or ``flush()``), then the word is checked against the list and released, masked with ``*``
    if it matched. ``hidden_prefix`` is text that is already visible to the user (the end of the
    prompt): a generated word that continues it is judged together with it, but only the
    generated part is released.
    """

    MAX_WORD = 64  # longer runs of letters are released early, masking listed words inside them

    def __init__(self, words: frozenset, stems: tuple, hidden_prefix: str = ""):
        self.words, self.stems = words, stems
        i = len(hidden_prefix)
        while i > 0 and hidden_prefix[i - 1].isalnum():
            i -= 1
        self.hidden = hidden_prefix[i:]  # partial word at the end of the prompt
        self.buf = ""
        self.long_word = False

    def is_crude(self, word: str) -> bool:
        w = unicodedata.normalize("NFKC", word).lower()  # also catches full-width letters
        return w in self.words or any(w.startswith(s) for s in self.stems)

    def _mask_inside(self, text: str) -> str:
        low = text.lower()
        hits = [0] * len(text)
        for entry in list(self.words) + list(self.stems):
            start = low.find(entry)
            while start != -1:
                for k in range(start, start + len(entry)):
                    hits[k] = 1
                start = low.find(entry, start + 1)
        return "".join("*" if hit else ch for ch, hit in zip(text, hits))

    def _end_word(self) -> str:
        word, self.buf = self.buf, ""
        full, n_hidden = self.hidden + word, len(self.hidden)
        self.hidden = ""
        if self.long_word:
            self.long_word = False
            return self._mask_inside(full)[n_hidden:]
        if word and self.is_crude(full):
            return "*" * len(word)
        return word

    def feed(self, text: str) -> str:
        out = []
        for ch in text:
            if ch.isalnum():
                self.buf += ch
                if len(self.hidden) + len(self.buf) > self.MAX_WORD:
                    keep = max(len(s) for s in list(self.words) + list(self.stems) + [""])
                    full = self._mask_inside(self.hidden + self.buf)
                    n_hidden = len(self.hidden)
                    out.append(full[n_hidden:][: len(self.buf) - keep])
                    self.hidden = self.hidden + self.buf[: len(self.buf) - keep]
                    self.buf = self.buf[len(self.buf) - keep :]
                    self.long_word = True
            else:
                out.append(self._end_word())
                out.append(ch)
        return "".join(out)

    def flush(self) -> str:
        return self._end_word()


def load_trained_head(model: TextgenRNN, weights: str) -> None:
    """Replace the output layer with one train.py made: ``weights`` is a local path or an
    http(s) URL (Replicate hands trained versions a URL; Cogmill a path inside the model's folder)."""
    if weights.startswith(("http://", "https://")):
        with urllib.request.urlopen(weights, timeout=60) as response:
            source = io.BytesIO(response.read())
    else:
        source = weights
    with np.load(source) as w:
        kernel, bias = w["output_kernel"].astype(np.float32), w["output_bias"].astype(np.float32)
    if kernel.shape != model.output_kernel.shape or bias.shape != model.output_bias.shape:
        raise ValueError(f"weights of shape {kernel.shape} do not fit this model ({model.output_kernel.shape})")
    model.output_kernel, model.output_bias = kernel, bias


class Predictor(BasePredictor):
    def setup(self, weights: str | None = None) -> None:
        t0 = time.time()
        self.model = TextgenRNN()
        if weights:
            load_trained_head(self.model, str(weights))
            print("loaded the fine-tuned output layer")
        self.crude_words, self.crude_stems = load_crude_words()
        print(f"loaded textgenrnn ({self.model.num_classes} chars vocab) in {time.time() - t0:.2f}s")

    def predict(
        self,
        prompt: str = Input(
            description="Text to continue. The model writes Reddit-style titles; a new title "
            "starts on a new line whenever one ends.",
            default="I just found out that",
        ),
        max_tokens: int = Input(
            description="Maximum number of characters to generate", default=200, ge=1, le=2000
        ),
        temperature: float = Input(
            description="Sampling temperature: lower is more predictable, higher more creative",
            default=0.5,
            ge=0.01,
            le=2.0,
        ),
        seed: int | None = Input(description="Random seed; leave blank to randomize", default=None),
    ) -> ConcatenateIterator[str]:
        if seed is None:
            seed = secrets.randbelow(2**31)
        print(f"Using seed: {seed}")
        rng = np.random.default_rng(seed)
        filt = CrudeWordFilter(self.crude_words, self.crude_stems, hidden_prefix=prompt)

        t0, n = time.time(), 0
        for ch in self.model.generate(prompt, max_tokens, temperature, rng):
            n += 1
            chunk = filt.feed(ch)
            if chunk:
                yield chunk
        chunk = filt.flush()
        if chunk:
            yield chunk
        elapsed = max(time.time() - t0, 1e-9)
        print(f"generated {n} characters in {elapsed:.2f}s ({n / elapsed:.0f} chars/s)")
        scope = current_scope()
        scope.record_metric("input_token_count", len(prompt))
        scope.record_metric("output_token_count", n)
        scope.record_metric("tokens_per_second", round(n / elapsed, 1))
