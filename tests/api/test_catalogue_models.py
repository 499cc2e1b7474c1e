"""The example catalogue on real weights: `manage.py load_examples` pushes every model in examples/
beyond the first two, builds it, files it in its collections and runs its default example; then the
official Python client runs each model the way a user would and the tests check that the answer is
right, not merely that there is one (an upscale is 4× and beats a bicubic resize, OCR reads a
sentence, speech-to-text hears flite's speech, embeddings rank a paraphrase first, a training makes
a better-than-90% digit classifier)."""

from __future__ import annotations

import io
import json
import re
import uuid
import wave

import httpx
import numpy as np
import pytest
import yaml
from PIL import Image, ImageDraw, ImageFont
from replicate.exceptions import ModelError

from tests.server import ROOT, wait_finished

pytestmark = pytest.mark.catalogue

EXAMPLES = ROOT / "examples"
CATALOGUE = yaml.safe_load((EXAMPLES / "catalog.yaml").read_text())


def _url(output) -> str:
    """A file output as a URL, whether the client gave a FileOutput or a plain string."""
    return str(getattr(output, "url", output))


def _download(client, output) -> bytes:
    response = httpx.get(_url(output), headers={"Authorization": f"Bearer {client._api_token}"}, timeout=60,
                         follow_redirects=True)
    response.raise_for_status()
    return response.content


def _image(client, url: str) -> Image.Image:
    picture = Image.open(io.BytesIO(_download(client, url)))
    picture.load()
    return picture


def _psnr(a: Image.Image, b: Image.Image) -> float:
    x, y = np.asarray(a.convert("RGB"), np.float64), np.asarray(b.convert("RGB"), np.float64)
    return float(10 * np.log10(255.0 ** 2 / np.mean((x - y) ** 2)))


def _png(picture: Image.Image) -> io.BytesIO:
    data = io.BytesIO()
    picture.save(data, format="PNG")
    data.seek(0)
    data.name = "picture.png"
    return data


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def test_every_example_is_built_described_collected_and_has_a_default_example(catalogue, client):
    for name, model in catalogue.items():
        wanted = CATALOGUE["models"][name]
        assert model["description"] == " ".join(wanted["description"].split()), name
        assert model["cover_image_url"].endswith(f"/static/{wanted['cover']}"), name
        example = model["default_example"]
        assert example is not None and example["status"] == "succeeded", (name, example)
        assert model["latest_version"]["openapi_schema"]["components"]["schemas"]["Input"], name
    members = {slug: {m.name for m in client.collections.get(slug).models}
               for slug in ("image", "audio", "text", "trainable")}
    assert members["image"] >= {"upscale", "remove-background", "face-detection", "ocr", "digits"}
    assert members["audio"] >= {"text-to-speech", "speech-to-text"}
    assert members["text"] >= {"embeddings", "ocr", "speech-to-text"}
    assert members["trainable"] >= {"digits"}


def test_every_default_example_shows_the_right_answer(catalogue, client):
    """What a visitor sees first on each model page is a right answer, not merely an answer."""
    out = {name: model["default_example"]["output"] for name, model in catalogue.items()}
    given = Image.open(EXAMPLES / "upscale" / "samples" / "coffee.png")
    assert _image(client, out["upscale"]).size == (given.width * 4, given.height * 4)
    cut = _image(client, out["remove-background"])
    assert cut.mode == "RGBA" and np.asarray(cut.getchannel("A")).min() == 0  # some backdrop cleared
    assert len(out["face-detection"]["faces"]) == 1 and _image(client, out["face-detection"]["image"])
    # samples/sign.png, read whole: not a word more or less
    sign = "Cogmill: models on your own computer. Open source, offline, ready to run."
    assert "".join(_words(out["ocr"]["text"])) == "".join(_words(sign)), out["ocr"]["text"]
    vectors = [np.array(item["embedding"]) for item in out["embeddings"]]  # the text, a paraphrase, another topic
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    with wave.open(io.BytesIO(_download(client, out["text-to-speech"]))) as audio:
        assert audio.getnframes() > 2 * audio.getframerate()  # the whole sentence, over two seconds
    # samples/speech.flac is flite's slt voice saying this:
    said = _words("This model turns speech into text on your own computer, with no internet at all.")
    heard = _words(out["speech-to-text"]["text"])
    assert sum(word in heard for word in said) >= 0.7 * len(said), heard
    assert out["digits"]["digit"] == 7  # samples/7.png


def test_upscale_makes_the_picture_four_times_larger_and_closer_than_bicubic(catalogue, client):
    # Sharp edges, as in a screenshot or a drawing: what Real-ESRGAN restores and a resize blurs.
    original = Image.new("RGB", (320, 192), "white")
    pen = ImageDraw.Draw(original)
    pen.text((12, 20), "Cogmill x4", fill="#111827", font=ImageFont.load_default(size=48))
    pen.rectangle((14, 110, 150, 170), outline="#1d4ed8", width=6)
    pen.ellipse((190, 100, 300, 180), fill="#dc2626")
    small = original.resize((80, 48), Image.Resampling.BICUBIC)
    output = client.run("cogmill/upscale", input={"image": _png(small)})
    upscaled = _image(client, output)
    assert upscaled.size == (320, 192)
    bicubic = small.resize(original.size, Image.Resampling.BICUBIC)
    assert _psnr(upscaled, original) > _psnr(bicubic, original) + 1.0


def test_upscale_refuses_what_is_not_an_image(catalogue, client):
    text = io.BytesIO(b"not a picture")
    text.name = "notes.png"
    with pytest.raises(ModelError, match="image: not an image this model can read"):
        client.run("cogmill/upscale", input={"image": text})


def test_remove_background_keeps_the_person_and_clears_the_backdrop(catalogue, client):
    with open(EXAMPLES / "remove-background" / "samples" / "astronaut.jpg", "rb") as photo:
        output = client.run("cogmill/remove-background", input={"image": photo})
    cut = _image(client, output)
    assert cut.mode == "RGBA" and cut.size == (384, 384)
    alpha = np.asarray(cut.getchannel("A"), np.float64) / 255
    assert alpha[70:110, 140:190].mean() > 0.9  # her face
    assert alpha[0:60, 300:384].mean() < 0.1  # the wall behind her, top right


def test_face_detection_finds_the_face_and_draws_it(catalogue, client):
    with open(EXAMPLES / "face-detection" / "samples" / "astronaut.jpg", "rb") as photo:
        output = client.run("cogmill/face-detection", input={"image": photo})
    assert len(output["faces"]) == 1
    face = output["faces"][0]
    box = face["box"]
    assert face["confidence"] > 0.8
    # Her face is around (165, 95) in the 384×384 photo; the eyes sit in the box's upper half.
    assert box["x"] < 165 < box["x"] + box["width"] and box["y"] < 95 < box["y"] + box["height"]
    eyes = face["keypoints"]["right_eye"], face["keypoints"]["left_eye"]
    assert all(box["y"] < eye["y"] < box["y"] + box["height"] / 2 for eye in eyes)
    drawn = _image(client, output["image"])
    assert drawn.size == (384, 384)


def test_ocr_reads_a_rendered_sentence(catalogue, client):
    sentence = "Seven wise owls read the morning paper"
    page = Image.new("RGB", (640, 120), "white")
    ImageDraw.Draw(page).text((20, 40), sentence, fill="black", font=ImageFont.load_default(size=28))
    output = client.run("cogmill/ocr", input={"image": _png(page)})
    # The recogniser sometimes runs English words together: compare the letters.
    assert "".join(_words(output["text"])) == "".join(_words(sentence)), output["text"]
    assert output["lines"] and all(len(line["box"]) == 4 for line in output["lines"])


def test_embeddings_rank_a_paraphrase_above_an_unrelated_sentence(catalogue, client):
    output = client.run("cogmill/embeddings", input={
        "text": "A man is playing a guitar.",
        "text_batch": json.dumps(["Someone strums a guitar on stage.", "The bank raised interest rates today."]),
    })
    assert [item["text"] for item in output][1:] == ["Someone strums a guitar on stage.",
                                                     "The bank raised interest rates today."]
    vectors = [np.array(item["embedding"]) for item in output]
    assert all(len(v) == 384 and abs(np.linalg.norm(v) - 1) < 1e-3 for v in vectors)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_embeddings_say_what_is_wrong_with_a_batch(catalogue, client):
    with pytest.raises(ModelError, match="text_batch: must be a JSON list of strings"):
        client.run("cogmill/embeddings", input={"text_batch": '{"not": "a list"}'})


def test_speech_to_text_transcribes_flites_own_speech(catalogue, client):
    sentence = "the weather will be cold and windy tomorrow morning"
    speech = client.run("cogmill/text-to-speech", input={"text": sentence, "voice": "slt"})
    with wave.open(io.BytesIO(_download(client, speech))) as audio:
        assert audio.getframerate() == 16000 and audio.getnframes() > 16000  # over a second of speech
    heard = client.run("cogmill/speech-to-text", input={"audio": _url(speech)})
    said = _words(sentence)
    right = sum(word in _words(heard["text"]) for word in said)
    assert right >= 0.7 * len(said), heard["text"]
    assert [w["start"] for w in heard["words"]] == sorted(w["start"] for w in heard["words"])


def test_text_to_speech_voices_differ(catalogue, client):
    sounds = {voice: _download(client, client.run("cogmill/text-to-speech",
                                                     input={"text": "Good morning.", "voice": voice}))
              for voice in ("slt", "kal")}
    with wave.open(io.BytesIO(sounds["kal"])) as audio:
        assert audio.getframerate() == 8000  # kal is the 8 kHz diphone voice
    assert sounds["slt"] != sounds["kal"]


def test_a_digits_training_makes_a_classifier_right_on_held_out_digits(catalogue, client):
    destination = f"alice/digits-{uuid.uuid4().hex[:8]}"
    client.models.create("alice", destination.split("/")[1], visibility="private", hardware="cpu")
    base = client.models.get("cogmill/digits").latest_version.id
    training = client.trainings.create(version=f"cogmill/digits:{base}", destination=destination,
                                       input={"regularization": 0.5, "test_fraction": 0.25, "seed": 3})
    wait_finished(training, timeout=300)
    assert training.status == "succeeded", training.error or training.logs
    accuracy = float(re.search(r"accuracy on \d+ held-out digits: ([\d.]+)%", training.logs)[1]) / 100
    assert accuracy > 0.9, training.logs
    trained = training.output["version"]
    right = 0
    for digit in range(10):
        with open(EXAMPLES / "digits" / "samples" / f"{digit}.png", "rb") as picture:
            right += client.run(trained, input={"image": picture})["digit"] == digit
    assert right >= 8


def test_digits_training_refuses_a_zip_of_unlabelled_images(catalogue, client, cogmill):
    import zipfile

    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("misc/a.png", _png(Image.new("L", (8, 8), 255)).getvalue())
    data.seek(0)
    data.name = "digits.zip"
    destination = f"digits-{uuid.uuid4().hex[:8]}"
    client.models.create("alice", destination, visibility="private", hardware="cpu")
    base = client.models.get("cogmill/digits").latest_version.id
    training = client.trainings.create(version=f"cogmill/digits:{base}", destination=f"alice/{destination}",
                                       input={"images": client.files.create(data).urls["get"]})
    wait_finished(training, timeout=300)
    assert training.status == "failed"
    assert "images: misc/a.png is not in a folder named 0 to 9" in training.error
