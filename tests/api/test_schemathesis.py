"""schemathesis against the live server's /v1/openapi.json: no 5xx, and every answer as documented.

Each operation gets valid (positive) and invalid (negative) requests from its own schema. Path
parameters and body fields are sometimes swapped for objects that exist (a model, version,
prediction, file and collection seeded below), so the checks see success bodies too, not only
404s. Nothing is left out: the only stream with events is the seeded prediction's, which has ended.
The fuzzer has a user and token of its own: what it creates or deletes touches no other test, and
its requests count against its own rate limits, which these few hundred stay under.

schemathesis's own pytest loader (`schemathesis.pytest.from_fixture`) does not run under pytest 9,
so operations are parametrized here, from the same document the server generates.
COGMILL_FUZZ_EXAMPLES sets the examples per operation and mode (20; a few hundred for a deeper look).
"""

import os
import uuid

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.api import api

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = int(os.environ.get("COGMILL_FUZZ_EXAMPLES", "20"))
FUZZER = "fuzzer"

# Deletes last: the seeded objects they remove stay there for every other operation.
OPERATIONS = sorted(
    ((method, path) for path, methods in api.get_openapi_schema(path_prefix="/v1")["paths"].items()
     for method in methods),
    key=lambda operation: operation[0] == "delete",
)


@pytest.fixture(scope="module")
def fuzz_token(cogmill) -> str:
    return cogmill.token(FUZZER)


@pytest.fixture(scope="module")
def existing(cogmill, fuzz_token) -> list[dict[str, str]]:
    """Values that name real objects: someone else's public model and what the fuzzer owns, by parameter."""
    auth = {"Authorization": f"Bearer {fuzz_token}"}
    v1 = f"{cogmill.base_url}/v1"
    prediction = httpx.post(f"{v1}/models/cogmill/hello-world/predictions", json={"input": {"text": "fuzz"}},
                            headers={**auth, "Prefer": "wait"}, timeout=90).json()
    assert prediction["status"] == "succeeded"  # the stream of a running one would hold the fuzzer
    upload = httpx.post(f"{v1}/files", headers=auth,
                        files={"content": ("fuzz.txt", b"fuzz", "text/plain")}).json()
    httpx.post(f"{v1}/models", headers=auth, json={"owner": FUZZER, "name": "mine", "visibility": "private",
                                                   "hardware": "cpu"}).raise_for_status()
    slug = f"fuzz-{uuid.uuid4().hex[:8]}"
    cogmill.manage("shell", "-c", (
        "from playground.models import Collection, Model\n"
        f"c = Collection.objects.create(slug={slug!r}, name='Fuzzed', description='')\n"
        "c.models.add(Model.objects.get(owner__username='cogmill', name='hello-world'))\n"
    ))
    return [
        {"owner": "cogmill", "name": "hello-world", "version_id": cogmill.versions["hello-world"],
         "prediction_id": prediction["id"], "file_id": upload["id"], "slug": slug,
         "version": f"cogmill/hello-world:{cogmill.versions['hello-world']}"},
        {"owner": FUZZER, "name": "mine"},
    ]


def _with_existing(values, existing: list[dict[str, str]]) -> st.SearchStrategy:
    """`values` as generated, or with the names that `existing` knows set to real objects."""
    if not isinstance(values, dict) or not values:
        return st.just(values)
    known = [{**values, **{k: pool[k] for k in values if k in pool}} for pool in existing]
    return st.sampled_from([values, *known])


@pytest.fixture(scope="module")
def live_schema(cogmill, existing):
    schema = schemathesis.openapi.from_url(f"{cogmill.base_url}/v1/openapi.json")

    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        return _with_existing(path_parameters, existing)

    @schema.hook
    def flatmap_body(context, body):  # `owner` of a new model, `version` of a new prediction
        return _with_existing(body, existing)

    return schema


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m.upper()} {p}" for m, p in OPERATIONS])
def test_operation_answers_as_documented(method: str, path: str, mode: GenerationMode, live_schema,
                                         fuzz_token: str):
    operation = live_schema[path][method]
    auth = {"Authorization": f"Bearer {fuzz_token}"}

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case):
        case.call_and_validate(headers=auth, checks=CHECKS, timeout=30)

    try:
        fuzz()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        pytest.skip("nothing in this operation's schema can be made invalid (no token, string parameters)")
