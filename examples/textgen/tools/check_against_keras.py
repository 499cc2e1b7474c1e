#!/usr/bin/env python3
"""Cross-check the NumPy port against Keras itself (dev tool, optional).

Builds textgenrnn's network with Keras 2 (``tf_keras``), loads the ORIGINAL
``textgenrnn_weights.hdf5`` with Keras' own loader (which converts the CuDNNLSTM weights), and
compares its next-char probabilities with ``predict.TextgenRNN`` on a few contexts, including
one longer than the 40-char window.

    python3.11 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu tf-keras h5py
    pip download --no-deps textgenrnn==2.0.0 -d /tmp/tg && tar xzf /tmp/tg/textgenrnn-2.0.0.tar.gz -C /tmp/tg
    /tmp/tfvenv/bin/pip install cog==0.23.1   # predict.py imports cog
    /tmp/tfvenv/bin/python tools/check_against_keras.py /tmp/tg/textgenrnn-2.0.0/textgenrnn

Last run (tensorflow-cpu 2.21, tf-keras 2.21): max |difference| 8.3e-07 over the contexts below.
"""

import importlib.util
import json
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tf_keras as keras
from tf_keras import backend as K
from tf_keras import initializers
from tf_keras.layers import LSTM, Dense, Embedding, Input, Layer, concatenate

HERE = os.path.dirname(os.path.abspath(__file__))
CONTEXTS = [
    "",
    "I just",
    "Today I learned that the",
    "What is the best way to learn programming in a",
    "My cat",
]


class AttentionWeightedAverage(Layer):
    """textgenrnn's attention layer (from DeepMoji), as textgenrnn defines it."""

    def build(self, input_shape):
        self.W = self.add_weight(
            shape=(input_shape[2], 1),
            name=f"{self.name}_W",
            initializer=initializers.get("uniform"),
        )
        super().build(input_shape)

    def call(self, x, mask=None):
        logits = K.dot(x, self.W)
        s = K.shape(x)
        logits = K.reshape(logits, (s[0], s[1]))
        ai = K.exp(logits - K.max(logits, axis=-1, keepdims=True))
        att = ai / (K.sum(ai, axis=1, keepdims=True) + K.epsilon())
        return K.sum(x * K.expand_dims(att), axis=1)

    def compute_output_shape(self, s):
        return (s[0], s[2])


def keras_model(pkg_dir):
    with open(os.path.join(pkg_dir, "textgenrnn_vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    nc = len(vocab) + 1
    inp = Input(shape=(40,), name="input")
    emb = Embedding(nc, 100, input_length=40, name="embedding")(inp)
    r1 = LSTM(128, return_sequences=True, recurrent_activation="sigmoid", name="rnn_1")(emb)
    r2 = LSTM(128, return_sequences=True, recurrent_activation="sigmoid", name="rnn_2")(r1)
    cat = concatenate([emb, r1, r2], name="rnn_concat")
    out = Dense(nc, name="output", activation="softmax")(AttentionWeightedAverage(name="attention")(cat))
    model = keras.models.Model(inp, out)
    model.load_weights(os.path.join(pkg_dir, "textgenrnn_weights.hdf5"), by_name=True)
    return model, vocab


def main(pkg_dir):
    spec = importlib.util.spec_from_file_location("textgen_predict", os.path.join(HERE, "..", "predict.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    port = mod.TextgenRNN()
    model, vocab = keras_model(pkg_dir)
    worst = 0.0
    for text in CONTEXTS:
        ids = ([vocab["<s>"]] + [vocab.get(c, 0) for c in text])[-40:]
        x = np.array([[0] * (40 - len(ids)) + ids])
        ref = model.predict(x, verbose=0)[0]
        got = port.probabilities(ids)
        diff = float(np.abs(ref - got).max())
        worst = max(worst, diff)
        top = np.argsort(ref)[::-1][:3]
        print(
            f"{text!r:52} max|diff|={diff:.1e}  keras top3:",
            [(port.indices_char.get(int(i), "<pad>"), round(float(ref[i]), 4)) for i in top],
        )
    print(f"worst max|diff| = {worst:.1e}")
    return 0 if worst < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
