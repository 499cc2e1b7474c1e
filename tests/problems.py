import json


def assert_problem(response, status: int) -> dict:
    """Check an error is problem+json with that status, a title and a detail; return its body.

    Takes httpx responses and Django test-client responses alike.
    """
    assert response.status_code == status, response.content
    assert response.headers["Content-Type"] == "application/problem+json"
    body = json.loads(response.content)
    assert body["status"] == status and body["title"] and body["detail"]
    return body
