"""`manage.py load_examples` (what `make run` does at start): each example is pushed, built, and given
the description and cover examples/catalog.yaml says, and a default example made by running it, so
Explore shows no blank card. This happens once: loading again (every `make run`) keeps what its owner
has changed or cleared since."""

import httpx


def _model(cogmill, token: str, ref: str) -> dict:
    response = httpx.get(f"{cogmill.base_url}/v1/models/{ref}", headers={"Authorization": f"Bearer {token}"},
                         timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_an_example_is_loaded_with_its_description_cover_and_default_example(cogmill, token):
    done = cogmill.manage("load_examples", "--owner", "showcase", "hello-world")
    assert "showcase/hello-world: default example" in done.stdout, done.stderr
    model = _model(cogmill, token, "showcase/hello-world")
    assert model["description"].startswith("The smallest Cog model")
    assert model["cover_image_url"] == f"{cogmill.base_url}/static/img/covers/hello-world.svg"
    cover = httpx.get(model["cover_image_url"], timeout=30)
    assert cover.status_code == 200 and cover.headers["content-type"].startswith("image/svg+xml")
    example = model["default_example"]
    assert example["status"] == "succeeded" and example["output"] == "hello Cogmill"

    explore = httpx.get(f"{cogmill.base_url}/?q=showcase", timeout=30).text
    card = explore.split('href="/showcase/hello-world"')[1].split("</a>")[0]
    assert "/static/img/covers/hello-world.svg" in card and "The smallest Cog model" in card
    assert "No description yet" not in card

    # Its owner clears the cover and the default example and rewrites the description; a restart keeps that.
    httpx.patch(f"{cogmill.base_url}/v1/models/showcase/hello-world", timeout=30,
                headers={"Authorization": f"Bearer {cogmill.token('showcase')}"},
                json={"description": "Edited by its owner", "cover_image_url": None,
                      "default_example": None}).raise_for_status()
    again = cogmill.manage("load_examples", "--owner", "showcase", "hello-world")
    assert "default example" not in again.stdout  # no second run
    reloaded = _model(cogmill, token, "showcase/hello-world")
    assert reloaded["description"] == "Edited by its owner"
    assert reloaded["cover_image_url"] is None and reloaded["default_example"] is None


def test_an_unknown_example_is_refused(cogmill):
    done = cogmill.manage("load_examples", "--owner", "showcase", "no-such-model", check=False)
    assert done.returncode != 0 and "no example named no-such-model" in done.stderr


def test_textgen_is_loaded_streaming_in_its_collections(cogmill, token):
    done = cogmill.manage("load_examples", "--owner", "showcase", "textgen")
    assert "showcase/textgen: default example" in done.stdout, done.stderr
    model = _model(cogmill, token, "showcase/textgen")
    assert model["description"].startswith("Writes Reddit-style titles")
    assert model["cover_image_url"] == f"{cogmill.base_url}/static/img/covers/textgen.svg"
    example = model["default_example"]
    assert example["status"] == "succeeded" and example["input"]["prompt"] == "I just found out that"
    written = "".join(example["output"])
    assert len(written) > 100 and written.strip(), written  # 300 characters asked for, a word or two per line
    for slug in ("text", "trainable"):
        members = httpx.get(f"{cogmill.base_url}/v1/collections/{slug}", timeout=30,
                            headers={"Authorization": f"Bearer {token}"}).json()["models"]
        assert "showcase/textgen" in {f"{m['owner']}/{m['name']}" for m in members}, slug
