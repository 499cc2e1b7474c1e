"""cog.yaml parsing and spec hashing (no virtualenv needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import BuildError, BuildSpec, parse_cog_yaml, spec_hash


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "cog.yaml").write_text(text)
    return tmp_path


def test_minimal_spec_gets_defaults(tmp_path: Path) -> None:
    spec = parse_cog_yaml(write(tmp_path, 'predict: "predict.py:Predictor"\n'))
    assert spec == BuildSpec(predict="predict.py:Predictor")
    assert spec.cog_version == "0.23.1"
    assert spec.concurrency_max == 1


def test_full_spec(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("numpy==2.0.0\n")
    spec = parse_cog_yaml(
        write(
            tmp_path,
            """
build:
  gpu: true
  python_version: "3.11"
  python_packages: ["pillow==10.0.0"]
  python_requirements: requirements.txt
  sdk_version: "0.23.0"
run: "run.py:Runner"
train: "train.py:train"
concurrency:
  max: 4
environment:
  - HF_HUB_OFFLINE=1
  - GREETING=a=b
""",
        )
    )
    assert spec.python_version == "3.11"
    assert spec.python_packages == ("pillow==10.0.0",)
    assert spec.python_requirements == "numpy==2.0.0\n"
    assert spec.cog_version == "0.23.0"
    assert spec.predict == "run.py:Runner"
    assert spec.train == "train.py:train"
    assert spec.concurrency_max == 4
    assert spec.gpu is True
    assert spec.environment == (("HF_HUB_OFFLINE", "1"), ("GREETING", "a=b"))


def test_unquoted_python_310_is_not_31(tmp_path: Path) -> None:
    spec = parse_cog_yaml(write(tmp_path, "build:\n  python_version: 3.10\npredict: p.py:P\n"))
    assert spec.python_version == "3.10"


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("predict: p.py:P\nflavour: 1\n", "unknown cog.yaml field flavour"),
        ("build:\n  docker_magic: 1\npredict: p.py:P\n", "unknown cog.yaml field build.docker_magic"),
        ("predict: [unclosed\n", "cog.yaml is not valid YAML"),
        ("build:\n  python_packages: []\n", "no predict (or run) field"),
        ("predict: p.py:P\nrun: r.py:R\n", "both predict and run"),
        ("predict: predict.py\n", "must look like 'predict.py:Predictor'"),
        ("predict: p.py:P\nconcurrency:\n  max: 0\n", "concurrency.max must be a positive integer"),
        ("predict: p.py:P\nenvironment:\n  - NOT VALID\n", "is not NAME=value"),
        ("build:\n  python_requirements: missing.txt\npredict: p.py:P\n", "missing.txt not found"),
        ("build:\n  python_version: banana\npredict: p.py:P\n", "not a version"),
        ("build:\n  gpu: yes please\npredict: p.py:P\n", "build.gpu must be true or false"),
    ],
)
def test_bad_cog_yaml(tmp_path: Path, yaml_text: str, message: str) -> None:
    with pytest.raises(BuildError) as caught:
        parse_cog_yaml(write(tmp_path, yaml_text))
    assert message in str(caught.value)


def test_missing_cog_yaml(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="cog.yaml not found in the bundle"):
        parse_cog_yaml(tmp_path)


def test_hash_covers_the_environment_only() -> None:
    base = BuildSpec(python_packages=("a==1",))
    same_env = BuildSpec(
        python_packages=("a==1",), predict="other.py:Other", environment=(("X", "1"),), concurrency_max=3
    )
    assert spec_hash(base) == spec_hash(same_env)
    assert len(spec_hash(base)) == 64
    for different in (
        BuildSpec(python_packages=("a==2",)),
        BuildSpec(python_packages=("a==1",), python_requirements="b==1\n"),
        BuildSpec(python_packages=("a==1",), cog_version="0.23.0"),
    ):
        assert spec_hash(different) != spec_hash(base)
