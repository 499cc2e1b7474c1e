"""Tests for the examples/textgen Cog model (NumPy port of textgenrnn's pretrained char-LSTM).

Needs numpy and cog (0.23.x) in the test environment; runs on CPU in a few seconds.
"""

import functools
import http.server
import importlib.util
import re
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

MODEL_DIR = Path(__file__).resolve().parents[2] / "examples" / "textgen"


def _load_module(filename: str = "predict.py"):
    name = f"cogmill_example_textgen_{filename.removesuffix('.py')}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, MODEL_DIR / filename)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


tg = _load_module()


@pytest.fixture(scope="module")
def predictor():
    p = tg.Predictor()
    p.setup()
    return p


def run(predictor, **kwargs):
    inputs = {"prompt": "I just found out that", "max_tokens": 200, "temperature": 0.5, "seed": None}
    inputs.update(kwargs)
    return list(predictor.predict(**inputs))


def make_filter(hidden_prefix=""):
    words, stems = tg.load_crude_words()
    return tg.CrudeWordFilter(words, stems, hidden_prefix=hidden_prefix)


# Next-char probabilities computed by Keras itself (tf-keras 2.21 loading textgenrnn's original
# CuDNNLSTM h5 with its own converter; see examples/textgen/tools/check_against_keras.py).
KERAS_REFERENCE = [
    ("", [("[", 0.11445), ("T", 0.09334), ("I", 0.09243)]),
    ("I just", [(" ", 0.99837), (",", 0.00072), (":", 0.00041)]),
    ("Today I learned that the", [(" ", 0.80372), ("r", 0.06705), ("y", 0.05515)]),
    # longer than the 40-char window: exercises the sliding context
    ("What is the best way to learn programming in a", [(" ", 0.60367), ("n", 0.21068), ("l", 0.06013)]),
    ("My cat", [(" ", 0.74068), ("s", 0.05388), ("'", 0.05134)]),
]


@pytest.mark.parametrize("context,expected", KERAS_REFERENCE)
def test_probabilities_match_keras_reference(predictor, context, expected):
    m = predictor.model
    probs = m.probabilities([m.meta_id] + m.encode(context))
    assert probs.shape == (m.num_classes,)
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    top = [m.indices_char[int(i)] for i in np.argsort(probs)[::-1][:3]]
    assert top == [c for c, _ in expected]
    for char, p in expected:
        assert probs[m.vocab[char]] == pytest.approx(p, abs=2e-4)


def test_low_temperature_text_is_english_like(predictor):
    out = "".join(run(predictor, prompt="Today I learned that", temperature=0.2, seed=1, max_tokens=120))
    words = re.findall(r"[a-z]+", out.lower())
    common = {"the", "of", "a", "to", "and", "is", "in", "that", "for", "my", "i", "it", "with"}
    assert len(words) >= 15
    assert sum(w in common for w in words) >= 5, out


def test_same_seed_reproduces_output(predictor):
    a = run(predictor, seed=1234, temperature=0.9, max_tokens=150)
    b = run(predictor, seed=1234, temperature=0.9, max_tokens=150)
    c = run(predictor, seed=4321, temperature=0.9, max_tokens=150)
    assert a == b
    assert "".join(a) != "".join(c)


def test_no_seed_still_generates(predictor):
    assert len("".join(run(predictor, seed=None, max_tokens=30))) == 30


@pytest.mark.parametrize("max_tokens", [1, 2, 17, 300])
def test_respects_max_tokens(predictor, max_tokens):
    out = "".join(run(predictor, seed=7, max_tokens=max_tokens, temperature=1.0))
    assert 0 < len(out) <= max_tokens


def test_output_uses_vocab_with_spaces_and_letters(predictor):
    out = "".join(run(predictor, prompt="", seed=3, max_tokens=400, temperature=0.7))
    allowed = set(predictor.model.vocab) | {"\n", "*"}
    assert all(ch in allowed for ch in out)
    assert out.count(" ") >= 30
    assert sum(ch.isascii() and ch.isalpha() for ch in out) >= 0.6 * len(out)


def test_streams_incrementally(predictor, monkeypatch):
    produced = []
    real_generate = predictor.model.generate

    def counting_generate(*args, **kwargs):
        for ch in real_generate(*args, **kwargs):
            produced.append(ch)
            yield ch

    monkeypatch.setattr(predictor.model, "generate", counting_generate)
    gen = predictor.predict(prompt="My cat", max_tokens=500, temperature=0.5, seed=5)
    first = next(gen)
    # The first chunk is released as soon as its word ends, long before generation finishes.
    assert len(produced) < 40
    assert first and len(first) < 40
    chunks = [first] + list(gen)
    assert len(produced) == 500
    assert len(chunks) > 50
    assert sum(len(c) for c in chunks) == 500


def test_filter_masks_crude_word_split_across_chunks():
    f = make_filter()
    out = [f.feed("What the fu"), f.feed("ck is this Sh"), f.feed("it?"), f.flush()]
    text = "".join(out)
    assert text == "What the **** is this ****?"
    assert out[0] == "What the "  # the partial word is held back, the rest is not


def test_filter_keeps_clean_words_and_lengths():
    f = make_filter()
    text = "Dickens went to the cockpit with a bitchy cocktail."
    out = "".join(f.feed(ch) for ch in text) + f.flush()
    assert out == "Dickens went to the cockpit with a ****** cocktail."
    assert len(out) == len(text)


def test_filter_judges_word_that_continues_the_prompt():
    f = make_filter(hidden_prefix="I said fu")
    out = "".join(f.feed(ch) for ch in "cking stop") + f.flush()
    assert out == "***** stop"


def test_filter_masks_inside_very_long_words():
    f = make_filter()
    text = "a" * 70 + "shit" + "b" * 10 + " ok"
    out = "".join(f.feed(ch) for ch in text) + f.flush()
    assert "shit" not in out and out == "a" * 70 + "****" + "b" * 10 + " ok"


def test_predict_never_streams_crude_words(predictor, monkeypatch):
    def fake_generate(prompt, max_chars, temperature, rng):
        yield from "what the FUCK, this is bullshit\nshit happens"[:max_chars]

    monkeypatch.setattr(predictor.model, "generate", fake_generate)
    chunks = run(predictor, prompt="", seed=1, max_tokens=200)
    text = "".join(chunks)
    assert text == "what the ****, this is ********\n**** happens"
    for chunk in chunks:
        assert not re.search(r"fuck|shit", chunk, re.IGNORECASE)


# ---------------------------------------------------------------- fine-tuning (train.py)

sys.modules.setdefault("predict", tg)  # train.py imports its sibling as Cog would find it
trainer = _load_module("train.py")
SAMPLES = MODEL_DIR / "samples"


def test_batched_features_give_the_same_next_char_probabilities(predictor):
    model = predictor.model
    contexts = [[model.meta_id, *model.encode(text)] for text in ("A", "Hello there", "x" * 60)]
    windows = np.array([[0] * max(0, 40 - len(c)) + c[-40:] for c in contexts])
    pooled = trainer.pooled_features(model, windows)
    logits = pooled @ model.output_kernel + model.output_bias
    batched = np.exp(logits - logits.max(axis=1, keepdims=True))
    batched /= batched.sum(axis=1, keepdims=True)
    for row, context in zip(batched, contexts, strict=True):
        np.testing.assert_allclose(row, model.probabilities(context), atol=1e-5)


def test_the_trainer_reads_a_text_or_the_texts_of_a_zip(tmp_path):
    assert trainer.read_text(str(SAMPLES / "proverbs.txt")).startswith("A bird in the hand")
    assert trainer.read_text(str(SAMPLES / "proverbs.zip")) == (SAMPLES / "proverbs.txt").read_text()
    empty = tmp_path / "no-text.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("image.png", b"\x89PNG")
    with pytest.raises(ValueError, match="no .txt file"):
        trainer.read_text(str(empty))


@pytest.fixture(scope="module")
def trained_weights(tmp_path_factory):
    out = trainer.train(data=SAMPLES / "proverbs.txt", steps=120, learning_rate=0.01, seed=3)
    return Path(out.weights)


def test_a_trained_version_writes_differently_from_the_base(predictor, trained_weights):
    tuned = tg.Predictor()
    tuned.setup(weights=str(trained_weights))
    same = {"prompt": "A ", "max_tokens": 80, "temperature": 0.3, "seed": 9}
    assert "".join(run(tuned, **same)) != "".join(run(predictor, **same))


def test_weights_load_from_a_path_or_a_url_alike(trained_weights):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(trained_weights.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        by_path, by_url = tg.Predictor(), tg.Predictor()
        by_path.setup(weights=str(trained_weights))
        by_url.setup(weights=f"http://127.0.0.1:{server.server_port}/{trained_weights.name}")
    finally:
        server.shutdown()
    same = {"prompt": "A ", "max_tokens": 40, "temperature": 0.3, "seed": 4}
    assert run(by_path, **same) == run(by_url, **same)


def test_weights_of_another_shape_are_refused(tmp_path, predictor):
    bad = tmp_path / "bad.npz"
    np.savez(bad, output_kernel=np.zeros((3, 3), np.float32), output_bias=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="do not fit this model"):
        tg.load_trained_head(tg.TextgenRNN(), str(bad))
