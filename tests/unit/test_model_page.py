"""The model page /<owner>/<name>: who sees it, the README, tabs, and running the form."""

import html as html_module
import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from playground.cogschema import CogSchema
from playground.errors import FieldError
from playground.models import BuildStatus, File, Model, Prediction, Status, Version
from web.forms.run import form_class, said_plainly

pytestmark = pytest.mark.django_db

SCHEMAS = Path(__file__).parent / "schemas"


def real_schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.json").read_text())


@pytest.fixture
def bundles(settings, tmp_path):
    settings.COGMILL_BUNDLES_DIR = tmp_path
    return tmp_path


def make_version(model: Model, schema: str, vid: str = "b" * 64) -> Version:
    return Version.objects.create(model=model, version_id=vid, build_status=BuildStatus.READY,
                                  openapi_schema=real_schema(schema), cog_version="0.23.1")


@pytest.fixture
def textgen(alice, bundles):
    model = Model.objects.create(owner=alice, name="textgen", description="Writes titles",
                                 github_url="https://github.com/x/textgen")
    return make_version(model, "textgen")


def test_public_model_page_shows_header_form_and_versions(client, textgen):
    response = client.get("/alice/textgen")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Writes titles" in html and "https://github.com/x/textgen" in html
    assert 'name="prompt"' in html and "I just found out that" in html
    assert 'id="run-output"' in html and "Log in to run the model; its output shows here" in html
    assert "Log in to run" in html and "/login?next=" in html
    versions = client.get("/alice/textgen?tab=versions").content.decode()
    assert textgen.version_id[:12] in versions and "0.23.1" in versions


def test_private_models_are_404_to_others(client, alice, bob, bundles):
    model = Model.objects.create(owner=alice, name="secret", visibility="private")
    make_version(model, "hello-world")
    assert client.get("/alice/secret").status_code == 404
    client.force_login(bob)
    assert client.get("/alice/secret").status_code == 404
    assert client.post("/alice/secret/predict", {"text": "x"}).status_code == 404
    client.force_login(alice)
    assert client.get("/alice/secret").status_code == 200


def test_unknown_version_is_404(client, textgen):
    assert client.get("/alice/textgen?version=" + "f" * 64).status_code == 404
    assert client.get(f"/alice/textgen?version={textgen.version_id}").status_code == 200


def test_readme_is_rendered_and_sanitized(client, textgen, bundles):
    src = textgen.src_dir
    src.mkdir(parents=True)
    (src / "README.md").write_text("# Textgen\n\nSome **bold**.<script>alert(1)</script>"
                                   '<a href="javascript:alert(2)">x</a>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n')
    assert "<strong>bold</strong>" not in client.get("/alice/textgen").content.decode()  # its own tab
    html = client.get("/alice/textgen?tab=readme").content.decode()
    assert "<h1>Textgen</h1>" in html and "<strong>bold</strong>" in html
    assert "<script>alert(1)" not in html and "javascript:alert" not in html
    # a wide table scrolls in a region the keyboard can reach
    assert '<div class="table-wrap" tabindex="0" role="region" aria-label="Table"><table>' in html


def snippet_text(page: str, element_id: str) -> str:
    """What a highlighted code block of the page reads as text."""
    block = page.split(f'id="{element_id}"')[1].split(">", 1)[1].split("</pre>")[0]
    return html_module.unescape(re.sub(r"<[^>]+>", "", block))


def test_get_parameters_prefill_the_form_and_the_api_snippets(client, textgen):
    page = client.get("/alice/textgen?tab=api&prompt=Once+upon&temperature=0.9").content.decode()
    python = snippet_text(page, "snippet-python")
    assert "replicate.Client(base_url=" in python and f"alice/textgen:{textgen.version_id}" in python
    assert '"prompt": "Once upon"' in python and '"temperature": 0.9' in python
    assert 'baseUrl: "http' in snippet_text(page, "snippet-javascript")
    assert "curl -s -X POST" in snippet_text(page, "snippet-curl")
    assert snippet_text(page, "snippet-http").startswith("POST /v1/predictions HTTP/1.1\n")
    assert snippet_text(page, "setup-python").startswith("pip install replicate\nexport REPLICATE_API_TOKEN=")
    assert snippet_text(page, "setup-javascript").startswith("npm install replicate")
    assert 'class="highlight"' in page and '<span class="' in page  # highlighted


def test_htmx_tab_switch_returns_only_the_tabs(client, textgen):
    response = client.get("/alice/textgen?tab=examples", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert 'id="tabbed"' in html and "<html" not in html
    assert "not picked any examples" in html


def test_tab_links_carry_no_form_values_and_other_tabs_keep_them_once(client, textgen):
    """Switching tabs sends the typed values along from the page, so a link never holds them and the
    URL never repeats them; a tab without the form keeps them as hidden fields for the next switch."""
    html = client.get("/alice/textgen?tab=api&prompt=Once+upon", headers={"HX-Request": "true"}).content.decode()
    links = [part.split('"')[0] for part in html.split('hx-get="')[1:]]
    assert links and all("prompt" not in link and "tab=" in link for link in links)
    assert html.count('class="prefill" name="prompt" value="Once upon"') == 1
    playground = client.get("/alice/textgen?tab=playground&prompt=Once+upon").content.decode()
    assert 'class="prefill" name="prompt"' not in playground  # the form itself holds it
    assert "Once upon</textarea>" in playground


HX = {"HX-Request": "true"}


def test_a_run_from_the_page_script_answers_the_output_panel(client, bob, textgen):
    """From htmx the run form stays where it is: the answer is the output panel following the new run,
    with its permalink, and the address moves to the model page showing that run."""
    client.force_login(bob)
    response = client.post(f"/alice/textgen/predict?version={textgen.version_id}", {"prompt": "Once"}, headers=HX)
    prediction = Prediction.objects.get()
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert 'id="run-output"' in html and f'href="/p/{prediction.id}"' in html
    assert f'data-stream="/v1/predictions/{prediction.id}/stream"' in html and 'id="status"' in html
    assert response["HX-Push-Url"] == f"/alice/textgen?version={textgen.version_id}&prediction={prediction.id}"
    assert 'id="run-form"' not in html


def test_refused_runs_from_the_page_script_swap_only_the_form(client, bob, textgen):
    client.force_login(bob)
    response = client.post("/alice/textgen/predict", {"prompt": "Keep me", "temperature": "99"}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 422 and response["HX-Retarget"] == "#run-form"
    assert html.lstrip().startswith("<form") and "Must be at most 2." in html and "Keep me" in html
    assert 'id="run-output"' not in html and not Prediction.objects.exists()


def test_an_anonymous_run_from_the_page_script_goes_to_log_in_as_a_page(client, textgen):
    response = client.post("/alice/textgen/predict", {"prompt": "x"}, headers=HX)
    assert response["HX-Redirect"].startswith("/login?next=%2Falice%2Ftextgen") and not Prediction.objects.exists()


def test_the_page_shows_a_run_of_its_model_with_the_form_that_made_it(client, alice, bob, textgen):
    """Reloading after a run shows it again, the form filled with its input. Someone else's private
    run, or a run of another model, is not shown."""
    theirs = Prediction.objects.create(owner=bob, version=textgen, model=textgen.model, input={"prompt": "Bob's"},
                                       status=Status.SUCCEEDED, output=["bob wrote this"])
    client.force_login(bob)
    html = client.get(f"/alice/textgen?prediction={theirs.id}").content.decode()
    assert "bob wrote this" in html and f'href="/p/{theirs.id}"' in html and "Bob&#x27;s</textarea>" in html
    client.force_login(alice)
    html = client.get(f"/alice/textgen?prediction={theirs.id}").content.decode()
    assert "bob wrote this" not in html and "Bob&#x27;s" not in html and 'id="run-output-empty"' in html
    other = Model.objects.create(owner=bob, name="other")
    elsewhere = Prediction.objects.create(owner=bob, version=make_version(other, "textgen", "c" * 64), model=other,
                                          input={"prompt": "x"}, status=Status.SUCCEEDED, output=["elsewhere"])
    client.force_login(bob)
    assert "elsewhere" not in client.get(f"/alice/textgen?prediction={elsewhere.id}").content.decode()


def test_anonymous_run_is_sent_to_log_in(client, textgen):
    response = client.post(f"/alice/textgen/predict?version={textgen.version_id}", {"prompt": "x"})
    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=%2Falice%2Ftextgen")


def test_run_creates_a_web_prediction_and_redirects_to_it(client, bob, textgen):
    client.force_login(bob)
    response = client.post(f"/alice/textgen/predict?version={textgen.version_id}",
                           {"prompt": "Once", "max_tokens": "20", "temperature": "0.5", "seed": ""})
    prediction = Prediction.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/p/{prediction.id}"
    assert prediction.source == "web" and prediction.owner == bob
    assert prediction.input == {"prompt": "Once", "max_tokens": 20, "temperature": 0.5}


def test_the_model_page_itself_takes_the_post(client, bob, textgen):
    client.force_login(bob)
    response = client.post("/alice/textgen", {"prompt": "Once"})
    assert response.status_code == 302 and Prediction.objects.count() == 1


def test_field_errors_are_shown_in_place_with_the_values_kept(client, bob, textgen):
    client.force_login(bob)
    response = client.post("/alice/textgen/predict", {"prompt": "Keep me", "temperature": "99"})
    html = response.content.decode()
    assert response.status_code == 422
    field = html.split('data-field="temperature"')[1].split('data-field="seed"')[0]
    assert "has-error" in html.split('data-field="temperature"')[0][-80:]
    assert "Must be at most 2." in field  # said plainly, not the validator's "99.0 is greater than ..."
    assert "Keep me" in html
    assert not Prediction.objects.exists()


def test_file_inputs_are_uploaded_and_passed_as_their_api_urls(client, bob, bundles, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    model = Model.objects.create(owner=bob, name="reader")
    make_version(model, "reader")
    client.force_login(bob)
    upload = SimpleUploadedFile("notes.txt", b"read me", content_type="text/plain")
    response = client.post("/bob/reader/predict", {"file": upload})
    assert response.status_code == 302
    f = File.objects.get()
    assert f.kind == File.Kind.UPLOAD and f.owner == bob
    assert Prediction.objects.get().input == {"file": f.api_url}


def test_secrets_are_not_echoed_back(client, bob, bundles):
    model = Model.objects.create(owner=bob, name="every")
    make_version(model, "every-input-type")
    client.force_login(bob)
    response = client.post("/bob/every/predict", {"api_key": "sk-very-secret", "text": "UPPER"})
    html = response.content.decode()
    assert response.status_code == 422
    assert "sk-very-secret" not in html and "UPPER" in html


def test_examples_tab_lists_the_owners_examples(client, alice, textgen):
    model = textgen.model
    example = Prediction.objects.create(owner=alice, model=model, version=textgen, status=Status.SUCCEEDED,
                                        input={"prompt": "Hello"}, output=["Hel", "lo world"])
    model.examples.add(example)
    model.default_example = example
    model.save()
    html = client.get("/alice/textgen?tab=examples").content.decode()
    assert f"/p/{example.id}" in html and "Hello world" in html
    assert "prompt=Hello" in html  # tweak it


def test_the_owner_turns_internet_access_on_and_off_and_everyone_sees_which(client, textgen, bob):
    """Off by default: the model page says its code has no network. Only its owner may change that;
    anyone else is refused and nothing changes."""
    model = textgen.model
    assert "Internet access: <strong>off</strong>" in client.get("/alice/textgen?tab=versions").content.decode()
    client.force_login(bob)
    assert "Allow internet access" not in client.get("/alice/textgen?tab=versions").content.decode()
    assert client.post("/alice/textgen/network", {"internet_access": "on"}).status_code == 403
    model.refresh_from_db()
    assert model.internet_access is False
    client.force_login(model.owner)
    response = client.post("/alice/textgen/network", {"internet_access": "on"}, follow=True)
    html = response.content.decode()
    assert "Internet access for alice/textgen is on" in html and "Internet access: <strong>on</strong>" in html
    model.refresh_from_db()
    assert model.internet_access is True
    client.post("/alice/textgen/network", {"internet_access": "off"})
    model.refresh_from_db()
    assert model.internet_access is False


def test_an_input_name_cannot_inject_code_into_the_api_snippets(client, alice, bundles):
    """A model chooses its input names: one made to close the string in `open("...")` stays a string
    in the Python and JavaScript snippets."""
    schema = real_schema("reader")
    props = schema["components"]["schemas"]["Input"]["properties"]
    evil = 'x"), __import__("os").system("id"), ("'
    props[evil] = props.pop("file")
    schema["components"]["schemas"]["Input"]["required"] = [evil]
    model = Model.objects.create(owner=alice, name="evil")
    Version.objects.create(model=model, version_id="e" * 64, build_status=BuildStatus.READY,
                           openapi_schema=schema, cog_version="0.23.1")
    page = client.get("/alice/evil?tab=api").content.decode()
    python, javascript = snippet_text(page, "snippet-python"), snippet_text(page, "snippet-javascript")
    assert '__import__("os").system("id"), ("' not in python + javascript
    assert '"x\\"), __import__(\\"os\\").system(\\"id\\"), (\\"": open("path/to/x___import___os_.system_id", "rb")' in python
    assert 'openAsBlob("path/to/x___import___os_.system_id")' in javascript  # the stand-in path is plain
    curl = snippet_text(page, "snippet-curl")
    assert "-F content=@path/to/x___import___os_.system_id" in curl
    assert all(line.startswith(("#", "curl", "  -")) or not line for line in curl.splitlines())


def test_a_newline_in_an_input_name_cannot_start_a_command_in_the_curl_snippet(client, alice, bundles):
    schema = real_schema("reader")
    props = schema["components"]["schemas"]["Input"]["properties"]
    props["x\nrm -rf ~"] = props.pop("file")
    schema["components"]["schemas"]["Input"]["required"] = ["x\nrm -rf ~"]
    model = Model.objects.create(owner=alice, name="sly")
    Version.objects.create(model=model, version_id="e" * 64, build_status=BuildStatus.READY,
                           openapi_schema=schema, cog_version="0.23.1")
    curl = snippet_text(client.get("/alice/sly?tab=api").content.decode(), "snippet-curl")
    assert not any(line.startswith("rm") for line in curl.splitlines())


def test_a_failed_build_says_why_to_its_owner_only(client, alice, bob, bundles):
    model = Model.objects.create(owner=alice, name="broken")
    Version.objects.create(model=model, version_id="f" * 64, build_status=BuildStatus.FAILED,
                           build_error="pip install failed: secret-internal-index.example/simple")
    assert "secret-internal-index" not in client.get("/alice/broken?version=" + "f" * 64).content.decode()
    client.force_login(bob)
    assert "secret-internal-index" not in client.get("/alice/broken?version=" + "f" * 64).content.decode()
    client.force_login(alice)
    assert "pip install failed: secret-internal-index" in client.get("/alice/broken?version=" + "f" * 64).content.decode()


def test_a_missing_required_field_is_said_plainly(client, alice, version):
    client.force_login(alice)
    html = client.post("/alice/echo/predict", {}).content.decode()
    field = html.split('data-field="text"')[1]
    assert "This field is required." in field and "required property" not in html


@pytest.mark.parametrize(("kind", "prop", "raw", "said"), [
    ("minimum", {"minimum": 1}, "0 is less than the minimum of 1", "Must be at least 1."),
    ("maxLength", {"maxLength": 5}, "'abcdef' is too long", "Must be at most 5 characters."),
    ("enum", {"enum": ["a", "b"]}, "'c' is not one of ['a', 'b']", "Choose one of: a, b."),
    ("type", {"type": "integer"}, "'x' is not of type 'integer'", "Must be a whole number."),
    ("format", {}, "'x' is not a 'uri'", "'x' is not a 'uri'"),
])
def test_validator_messages_are_said_plainly(kind, prop, raw, said):
    assert said_plainly(FieldError("f", raw, kind), prop) == said


def test_an_error_about_a_part_of_a_field_keeps_the_validators_words():
    schema = CogSchema({"components": {"schemas": {"Input": {"type": "object", "properties": {
        "config": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}}}}})
    form = form_class(schema)(data={"config": '{"n": 1}'})
    assert form.is_valid()
    form.add_input_errors([FieldError("config.n", "'x' is not of type 'integer'", "type"),
                           FieldError("config", "'n' is a required property", "required")])
    assert form.errors["config"] == ["'x' is not of type 'integer'", "'n' is a required property"]


def test_a_type_given_as_a_list_is_worded_by_the_validator():
    assert said_plainly(FieldError("n", "'x' is not of type 'integer', 'null'", "type"),
                        {"type": ["integer", "null"]}) == "'x' is not of type 'integer', 'null'"


def test_the_default_example_opens_the_page_and_its_file_is_offered_to_run_again(client, alice, bob, bundles,
                                                                                   settings, tmp_path):
    """As Replicate's model pages open: the default example in the output panel, its input in the
    form, its file offered until another is chosen, so Run needs no typing. Running with it stores a
    copy of the file as the user's own upload: no signature, nothing that stops working later."""
    from playground.services import files

    settings.MEDIA_ROOT = tmp_path / "media"
    model = Model.objects.create(owner=alice, name="reader", visibility="public")
    version = make_version(model, "reader")
    notes = files.create_upload(alice, SimpleUploadedFile("notes.txt", b"read me", content_type="text/plain"),
                                None, kept=True)
    assert notes.expires_at is None  # an example's input stays
    example = Prediction.objects.create(owner=alice, version=version, model=model, input={"file": notes.api_url},
                                        status=Status.SUCCEEDED, output="it said: read me")
    model.default_example = example
    model.save()
    assert "it said: read me" in client.get("/alice/reader").content.decode()  # anonymous visitors too
    client.force_login(bob)
    html = client.get("/alice/reader").content.decode()
    assert "it said: read me" in html and 'title="The model\'s default example' in html
    assert f'name="file__example" value="{example.id}"' in html and "<span class=\"mono\">notes.txt</span>" in html
    file_input = re.search(r'<input type="file"[^>]*>', html)[0]
    assert "required" not in file_input  # the browser must not ask for the file it has
    tabbed = client.get("/alice/reader", {"tab": "playground", "file": "ignored"}).content.decode()
    assert f'name="file__example" value="{example.id}"' in tabbed  # still offered after a tab round trip

    assert client.post("/alice/reader/predict", {"file__example": example.id}).status_code == 302
    copy = File.objects.get(owner=bob)
    assert (copy.name, copy.content.read(), copy.expires_at is not None) == ("notes.txt", b"read me", True)
    assert Prediction.objects.exclude(pk=example.pk).get().input == {"file": copy.api_url}

    # A file chosen instead wins.
    Prediction.objects.exclude(pk=example.pk).delete()
    mine = SimpleUploadedFile("mine.txt", b"mine", content_type="text/plain")
    assert client.post("/alice/reader/predict", {"file": mine, "file__example": example.id}).status_code == 302
    assert Prediction.objects.exclude(pk=example.pk).get().input["file"].endswith(File.objects.get(name="mine.txt").id)


def test_only_a_file_the_user_may_have_is_copied_from_a_run(client, alice, bob, bundles, settings, tmp_path):
    """A run that is not the default example and is not theirs to see, a run of another model, or an
    example whose data was removed gives nothing: the field asks for a file, and nothing leaks."""
    from playground.services import files

    settings.MEDIA_ROOT = tmp_path / "media"
    model = Model.objects.create(owner=alice, name="reader", visibility="public")
    version = make_version(model, "reader")
    secret = files.create_upload(alice, SimpleUploadedFile("diary.txt", b"private", content_type="text/plain"), None)
    private = Prediction.objects.create(owner=alice, version=version, model=model, input={"file": secret.api_url},
                                        status=Status.SUCCEEDED, output="x")
    other = Model.objects.create(owner=alice, name="other", visibility="public")
    elsewhere = Prediction.objects.create(owner=alice, version=make_version(other, "reader", "e" * 64), model=other,
                                          input={"file": secret.api_url}, status=Status.SUCCEEDED, output="x")
    client.force_login(bob)
    for run in (private, elsewhere, "no-such-run"):
        refused = client.post("/alice/reader/predict", {"file__example": getattr(run, "id", run)})
        assert refused.status_code == 422 and "This field is required." in refused.content.decode()
    model.default_example = private
    model.save()
    Prediction.objects.filter(pk=private.pk).update(data_removed=True)
    assert client.post("/alice/reader/predict", {"file__example": private.id}).status_code == 422
    html = client.get("/alice/reader").content.decode()
    assert "file__example" not in html and 'id="run-output-empty"' in html  # a removed example is not shown
    assert not File.objects.filter(owner=bob).exists()


def test_a_default_example_of_another_version_is_shown_but_fills_no_form(client, alice, bob, textgen):
    old = Prediction.objects.create(owner=alice, version=textgen, model=textgen.model, input={"prompt": "Old one"},
                                    status=Status.SUCCEEDED, output=["from the old version"])
    textgen.model.default_example = old
    textgen.model.save()
    make_version(textgen.model, "textgen", "d" * 64)
    client.force_login(bob)
    html = client.get("/alice/textgen").content.decode()
    assert "from the old version" in html and "Old one</textarea>" not in html
    asked = client.get(f"/alice/textgen?version={'d' * 64}").content.decode()
    assert "from the old version" not in asked  # that version's page shows no run of another
