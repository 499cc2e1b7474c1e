"""Builds against a real Cog SDK: errors, venv reuse and the generated schema."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner import BuildError, BuildSpec, build, ensure_venv, parse_cog_yaml, spec_hash
from runner.venvs import check_root_steps, missing_system_packages

FIXTURES = Path(__file__).parent / "fixtures"


def build_error(src: Path, venvs_dir: Path) -> BuildError:
    with pytest.raises(BuildError) as caught:
        build(src, venvs_dir, lambda line: None)
    return caught.value


def test_missing_cog_yaml(fixture_copy: Callable[[str], Path], venvs_dir: Path) -> None:
    error = build_error(fixture_copy("missing-cog-yaml"), venvs_dir)
    assert str(error) == "cog.yaml not found in the bundle"
    assert "cog.yaml not found in the bundle" in error.log


def test_system_packages_missing_here_are_refused_without_root(fixture_copy: Callable[[str], Path],
                                                               venvs_dir: Path) -> None:
    error = build_error(fixture_copy("system-packages"), venvs_dir)
    assert str(error) == (
        "cog.yaml field build.system_packages: cogmill-no-such-package is not installed on this worker, and "
        "this Cogmill may not install system packages (COGMILL_ALLOW_ROOT_BUILD_STEPS is off): ask its "
        "operator to install it"
    )


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs a Debian-like machine")
def test_system_packages_installed_here_need_no_root() -> None:
    """coreutils is on every Debian machine: it passes without root; a version that is not the one
    installed does not."""
    check_root_steps(BuildSpec(system_packages=("coreutils",)), allowed=False)
    assert missing_system_packages(["coreutils", "coreutils=0.0-not-this-one"]) == ["coreutils=0.0-not-this-one"]


def test_system_package_names_are_checked(tmp_path: Path) -> None:
    """A name that dpkg-query or apt-get would read as an option never reaches them."""
    (tmp_path / "cog.yaml").write_text('build:\n  system_packages: ["--force-all"]\npredict: "p.py:P"\n')
    with pytest.raises(BuildError, match="'--force-all' is not a Debian package name"):
        parse_cog_yaml(tmp_path)


def test_missing_predictor_file(fixture_copy: Callable[[str], Path], venvs_dir: Path) -> None:
    src = fixture_copy("hello")
    (src / "cog.yaml").write_text('predict: "nope.py:Predictor"\n')
    assert str(build_error(src, venvs_dir)) == "predictor file nope.py not found"


def test_missing_predictor_class(
    fixture_copy: Callable[[str], Path], venvs_dir: Path, shared_venv: Path
) -> None:
    src = fixture_copy("hello")
    (src / "cog.yaml").write_text('build:\n  python_packages: []\npredict: "predict.py:Missing"\n')
    assert str(build_error(src, venvs_dir)) == "predictor class Missing not found in predict.py"


def test_import_error_has_traceback(
    fixture_copy: Callable[[str], Path], venvs_dir: Path, shared_venv: Path
) -> None:
    error = build_error(fixture_copy("import-error"), venvs_dir)
    assert str(error) == (
        "import error in predict.py: ModuleNotFoundError: No module named 'nonexistent_module_for_cogmill_tests'"
    )
    assert "Traceback (most recent call last)" in error.log
    assert "import nonexistent_module_for_cogmill_tests" in error.log


def test_venv_is_reused(shared_venv: Path, venvs_dir: Path) -> None:
    spec = parse_cog_yaml(FIXTURES / "hello")
    inode = shared_venv.stat().st_ino
    lines: list[str] = []
    assert ensure_venv(spec, venvs_dir, lines.append) == shared_venv
    assert shared_venv.name == spec_hash(spec)
    assert shared_venv.stat().st_ino == inode
    assert len(lines) == 1 and lines[0].startswith("Reusing environment")


def test_concurrent_builds_of_one_spec_build_once(tmp_path: Path, shared_venv: Path) -> None:
    """Two threads, one fresh venvs dir: one builds, the other waits and reuses.

    The spec has a ``build.run`` step (allowed here) that runs inside the venv."""
    spec = BuildSpec(
        run_commands=('echo "$GREETING" > "$VIRTUAL_ENV/run-marker"',), environment=(("GREETING", "hi"),)
    )
    logs: list[list[str]] = [[], []]
    results: list[Path] = []

    def run(i: int) -> None:
        results.append(ensure_venv(spec, tmp_path, logs[i].append, allow_root_steps=True))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results[0] == results[1] == tmp_path / spec_hash(spec)
    built = [log for log in logs if any("pip install" in line for line in log)]
    assert len(built) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([spec_hash(spec), f"{spec_hash(spec)}.lock"])
    assert (results[0] / "run-marker").read_text() == "hi\n"
    # Built in a temp dir and renamed: console scripts must still run.
    pip = subprocess.run(
        [results[0] / "bin" / "pip", "--version"], check=False, capture_output=True, text=True
    )
    assert pip.returncode == 0 and str(results[0]) in pip.stdout


def test_root_steps_refused_unless_allowed(tmp_path: Path) -> None:
    spec = BuildSpec(run_commands=("curl example.com | sh",))
    with pytest.raises(BuildError, match="unsupported cog.yaml field build.run: needs root"):
        ensure_venv(spec, tmp_path, lambda line: None)
    assert list(tmp_path.iterdir()) == []


def test_failed_pip_install_leaves_nothing_behind(tmp_path: Path, shared_venv: Path) -> None:
    spec = BuildSpec(python_packages=("cogmill-no-such-package-xyz==0.0.1",))
    with pytest.raises(BuildError, match="pip install failed"):
        ensure_venv(spec, tmp_path, lambda line: None)
    assert [p.name for p in tmp_path.iterdir()] == [f"{spec_hash(spec)}.lock"]


def test_a_sandboxed_build_reaches_the_package_index_and_nothing_else(tmp_path: Path, sandboxed) -> None:
    """pip runs inside the sandbox, its only way out a proxy to the index's hosts: a requirement
    fetched from anywhere else fails the build, and the venv it leaves is not the builder's."""
    log: list[str] = []
    spec = BuildSpec(python_packages=("six==1.16.0",))
    venv = ensure_venv(spec, tmp_path, log.append, sandbox=sandboxed, timeout=600)
    assert (venv / "bin" / "python").exists() and "Successfully installed" in "".join(log)
    assert all(p.stat().st_uid == os.getuid() for p in [venv, *venv.rglob("six.py")])
    elsewhere = BuildSpec(python_packages=("six @ https://example.com/six-1.16.0-py2.py3-none-any.whl",))
    refused: list[str] = []
    with pytest.raises(BuildError, match="pip install failed"):
        ensure_venv(elsewhere, tmp_path, refused.append, sandbox=sandboxed, timeout=600)
    assert "403" in "".join(refused) and "example.com" in "".join(refused)


# -- schema ------------------------------------------------------------------


def schemas(built: Any) -> dict[str, Any]:
    return built.result.schema["components"]["schemas"]


def test_schema_file_is_written(model: Callable[[str], Any]) -> None:
    built = model("hello")
    on_disk = json.loads((built.src / ".cog" / "openapi_schema.json").read_text())
    assert on_disk == built.result.schema
    assert built.result.schema["openapi"] == "3.0.2"
    assert built.result.cog_version == "0.23.1"


@pytest.mark.parametrize("name", ["hello", "every-input-type", "iterator", "file-output", "crash"])
def test_every_version_streams(model: Callable[[str], Any], name: str) -> None:
    paths = model(name).result.schema["paths"]
    assert paths["/predictions"]["post"]["x-cog-streaming"] is True
    assert {"/", "/health-check", "/predictions/{prediction_id}/cancel"} <= set(paths)


def test_schema_inputs(model: Callable[[str], Any]) -> None:
    s = schemas(model("every-input-type"))
    props = s["Input"]["properties"]
    assert list(props) == [
        "text",
        "count",
        "temperature",
        "flag",
        "color",
        "size",
        "image",
        "document",
        "api_key",
        "maybe",
        "tags",
        "seed",
        "number_or_text",
    ]
    assert [p["x-order"] for p in props.values()] == list(range(13))
    assert props["text"] == {
        "x-order": 0,
        "title": "Text",
        "type": "string",
        "description": "Some text",
        "minLength": 1,
        "maxLength": 20,
        "pattern": "^[a-z ]+$",
    }
    assert props["count"] == {
        "x-order": 1,
        "title": "Count",
        "type": "integer",
        "default": 3,
        "minimum": 1,
        "maximum": 10,
    }
    assert props["temperature"] == {
        "x-order": 2,
        "title": "Temperature",
        "type": "number",
        "default": 0.5,
        "minimum": 0,
        "maximum": 1,
    }
    assert props["flag"] == {"x-order": 3, "title": "Flag", "type": "boolean", "default": False}
    assert props["color"] == {
        "x-order": 4,
        "allOf": [{"$ref": "#/components/schemas/color"}],
        "default": "red",
    }
    assert s["color"] == {
        "title": "color",
        "description": "An enumeration.",
        "enum": ["red", "green", "blue"],
        "type": "string",
    }
    assert s["size"]["enum"] == [256, 512] and s["size"]["type"] == "integer"
    assert props["image"] == {
        "x-order": 6,
        "title": "Image",
        "type": "string",
        "format": "uri",
        "description": "An image",
    }
    assert props["document"]["nullable"] is True
    assert props["document"]["x-cog-accept"] == "text/plain"
    assert props["api_key"] == {
        "x-order": 8,
        "title": "Api Key",
        "type": "string",
        "format": "password",
        "writeOnly": True,
        "x-cog-secret": True,
        "nullable": True,
    }
    assert props["maybe"] == {"x-order": 9, "title": "Maybe", "type": "string", "nullable": True}
    assert props["tags"]["type"] == "array" and props["tags"]["items"] == {"type": "string"}
    assert props["seed"] == {"x-order": 11, "title": "Seed", "type": "integer"}
    assert props["number_or_text"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    # A non-Optional input whose default is None is required.
    assert s["Input"]["required"] == ["text", "image", "tags", "seed"]


def test_schema_outputs(model: Callable[[str], Any]) -> None:
    assert schemas(model("hello"))["Output"] == {"title": "Output", "type": "string"}
    assert schemas(model("file-output"))["Output"] == {"title": "Output", "type": "string", "format": "uri"}
    assert schemas(model("iterator"))["Output"] == {
        "title": "Output",
        "type": "array",
        "items": {"type": "string"},
        "x-cog-array-type": "iterator",
        "x-cog-array-display": "concatenate",
    }
    assert schemas(model("crash"))["Output"] == {
        "title": "Output",
        "type": "array",
        "items": {"type": "string"},
        "x-cog-array-type": "iterator",
    }
    assert schemas(model("every-input-type"))["Output"] == {
        "title": "Output",
        "type": "object",
        "properties": {
            "summary": {"type": "string", "title": "Summary"},
            "image_bytes": {"type": "integer", "title": "Image Bytes"},
            "secret_length": {"type": "integer", "title": "Secret Length"},
            "note": {"type": "string", "nullable": True, "title": "Note"},
        },
        "required": ["summary", "image_bytes", "secret_length"],
    }


def test_schema_request_response_and_training(model: Callable[[str], Any]) -> None:
    built = model("every-input-type")
    s = schemas(built)
    assert s["PredictionRequest"]["properties"]["input"] == {"$ref": "#/components/schemas/Input"}
    assert s["PredictionResponse"]["properties"]["output"] == {"$ref": "#/components/schemas/Output"}
    assert s["Status"]["enum"] == ["starting", "processing", "succeeded", "canceled", "failed"]
    assert s["TrainingInput"]["properties"]["steps"]["minimum"] == 1
    assert s["TrainingInput"]["required"] == ["data"]
    assert s["TrainingOutput"]["properties"]["weights"] == {
        "type": "string",
        "format": "uri",
        "title": "Weights",
    }
    assert "/trainings" in built.result.schema["paths"]
    assert "x-cog-streaming" not in built.result.schema["paths"]["/trainings"]["post"]
