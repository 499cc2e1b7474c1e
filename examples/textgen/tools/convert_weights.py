#!/usr/bin/env python3
"""Convert textgenrnn's pretrained Keras weights into the NumPy archive this example ships.

Dev tool only (needs ``h5py`` and ``numpy``; the model itself needs only ``numpy``).

    pip download --no-deps textgenrnn==2.0.0 -d /tmp/tg      # MIT, ~1.7 MB sdist
    python tools/convert_weights.py /tmp/tg/textgenrnn-2.0.0.tar.gz

The argument may be the sdist (``.tar.gz``), an unpacked ``textgenrnn`` package directory,
or the ``textgenrnn_weights.hdf5`` file itself (the vocab is then looked for beside it).
With no argument it runs the ``pip download`` above into a temporary directory.
It writes ``weights/textgenrnn.npz`` and ``weights/textgenrnn_vocab.json`` next to
``predict.py``.

What the conversion does
------------------------
The weights were saved by Keras 2.1.5 from ``CuDNNLSTM`` layers (bias of 8*units). To run them
with the ordinary LSTM equations we do what Keras' own loader does when it loads a
CuDNNLSTM checkpoint into an ``LSTM`` layer (``keras.engine.saving._convert_rnn_weights`` /
``preprocess_weights_for_loading``):

* the kernels hold, per gate, cuDNN's row-major ``(units, input_dim)`` matrix written into a
  ``(input_dim, units)`` slot, so each gate block ``k`` becomes
  ``k.T.reshape(k.shape, order="F")`` (== ``k.reshape(units, input_dim).T``);
* the recurrent kernels are transposed per gate (``k.T``);
* cuDNN keeps two bias vectors (input and recurrent); they are summed into one.

Gate order is the same on both sides (input, forget, cell, output): cuDNN's LSTM matrices 0..3
are i, f, c~, o, which is Keras' order, so no gate permutation is needed for LSTM (only GRU
needs one). The result follows the standard Keras LSTM layout: ``kernel`` ``(input_dim,
4*units)``, ``recurrent`` ``(units, 4*units)``, ``bias`` ``(4*units,)``, gates ``[i | f | c | o]``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(os.path.dirname(HERE), "weights")
N_GATES = 4


def _cudnn_lstm_to_keras(kernel, recurrent, bias):
    units = recurrent.shape[0]
    if bias.shape == (units * N_GATES,):  # already a plain Keras LSTM
        return kernel, recurrent, bias
    if bias.shape != (2 * units * N_GATES,):
        raise ValueError(f"unexpected LSTM bias shape {bias.shape}")

    def per_gate(mat, fn):
        return np.hstack([fn(k) for k in np.hsplit(mat, N_GATES)])

    kernel = per_gate(kernel, lambda k: k.T.reshape(k.shape, order="F"))
    recurrent = per_gate(recurrent, lambda k: k.T)
    bias = np.sum(np.split(bias, 2, axis=0), axis=0)
    return kernel, recurrent, bias


def _load_sources(arg):
    """Return (h5 bytes, vocab json text, description of the source)."""
    if arg is None:
        tmp = tempfile.mkdtemp(prefix="textgenrnn-")
        subprocess.check_call(
            [sys.executable, "-m", "pip", "download", "--no-deps", "textgenrnn==2.0.0", "-d", tmp]
        )
        arg = os.path.join(tmp, "textgenrnn-2.0.0.tar.gz")
    if os.path.isfile(arg) and arg.endswith((".tar.gz", ".tgz")):
        with tarfile.open(arg) as tar:
            names = {os.path.basename(m.name): m for m in tar.getmembers() if m.isfile()}
            h5 = tar.extractfile(names["textgenrnn_weights.hdf5"]).read()
            vocab = tar.extractfile(names["textgenrnn_vocab.json"]).read().decode("utf-8")
        return h5, vocab, os.path.basename(arg)
    if os.path.isdir(arg):
        arg = os.path.join(arg, "textgenrnn_weights.hdf5")
    with open(arg, "rb") as f:
        h5 = f.read()
    with open(os.path.join(os.path.dirname(arg), "textgenrnn_vocab.json"), encoding="utf-8") as f:
        vocab = f.read()
    return h5, vocab, os.path.basename(arg)


def convert(arg=None, out_dir=OUT_DIR):
    h5_bytes, vocab_text, source = _load_sources(arg)
    vocab = json.loads(vocab_text)

    with h5py.File(io.BytesIO(h5_bytes), "r") as f:

        def w(layer, name):
            return np.asarray(f[layer][layer][f"{name}:0"], dtype=np.float32)

        arrays = {"embedding": w("embedding", "embeddings")}
        for n in (1, 2):
            k, r, b = _cudnn_lstm_to_keras(
                w(f"rnn_{n}", "kernel"), w(f"rnn_{n}", "recurrent_kernel"), w(f"rnn_{n}", "bias")
            )
            arrays[f"lstm{n}_kernel"] = k
            arrays[f"lstm{n}_recurrent"] = r
            arrays[f"lstm{n}_bias"] = b
        arrays["attention_w"] = w("attention", "attention_W")[:, 0]
        arrays["output_kernel"] = w("output", "kernel")
        arrays["output_bias"] = w("output", "bias")

    num_classes = arrays["embedding"].shape[0]
    if num_classes != len(vocab) + 1 or max(vocab.values()) != num_classes - 1:
        raise ValueError("vocab does not match the embedding size")
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}

    os.makedirs(out_dir, exist_ok=True)
    npz_path = os.path.join(out_dir, "textgenrnn.npz")
    meta = {
        "source": f"textgenrnn 2.0.0 ({source}), MIT, (c) 2017-2020 Max Woolf",
        "source_sha256": hashlib.sha256(h5_bytes).hexdigest(),
        "max_length": 40,
        "layout": "keras-lstm-ifco",
    }
    np.savez_compressed(npz_path, meta=np.array(json.dumps(meta)), **arrays)
    vocab_path = os.path.join(out_dir, "textgenrnn_vocab.json")
    with open(vocab_path, "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
        f.write("\n")
    for name, a in arrays.items():
        print(f"  {name:18s} {a.shape!s:12s}")
    print(f"wrote {npz_path} ({os.path.getsize(npz_path)} bytes) and {vocab_path}")
    return npz_path, vocab_path


if __name__ == "__main__":
    convert(sys.argv[1] if len(sys.argv) > 1 else None)
