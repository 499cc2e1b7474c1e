"""Ready-to-copy API calls for one version and input, as the model page's API tab shows them."""

import json
import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class FileArg:
    """A file input: a local path for the clients (they upload it), an upload URL for raw HTTP."""

    name: str

    @property
    def path(self) -> str:
        return f"path/to/{self.name}"


def _py(value: object, indent: int = 0) -> str:
    pad = " " * indent
    if isinstance(value, FileArg):
        return f'open({json.dumps(value.path)}, "rb")'
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}    {json.dumps(k)}: {_py(v, indent + 4)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        return "[" + ", ".join(_py(v, indent) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _js(value: object, indent: int = 0) -> str:
    pad = " " * indent
    if isinstance(value, FileArg):
        return f"await openAsBlob({json.dumps(value.path)})"
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}  {json.dumps(k)}: {_js(v, indent + 2)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        return "[" + ", ".join(_js(v, indent) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _http_input(value: object, base_url: str) -> object:
    if isinstance(value, FileArg):
        return f"{base_url}/v1/files/FILE_ID"
    if isinstance(value, dict):
        return {k: _http_input(v, base_url) for k, v in value.items()}
    if isinstance(value, list):
        return [_http_input(v, base_url) for v in value]
    return value


def _has_files(value: object) -> bool:
    if isinstance(value, FileArg):
        return True
    if isinstance(value, dict):
        return any(_has_files(v) for v in value.values())
    return isinstance(value, list) and any(_has_files(v) for v in value)


def python(ref: str, data: dict, base_url: str) -> str:
    return (
        "import replicate\n\n"
        "# the token is read from REPLICATE_API_TOKEN\n"
        f"client = replicate.Client(base_url={json.dumps(base_url)})\n"
        "output = client.run(\n"
        f"    {json.dumps(ref)},\n"
        f"    input={_py(data, 4)},\n"
        ")\n"
        "print(output)\n"
    )


def javascript(ref: str, data: dict, base_url: str) -> str:
    files = 'import { openAsBlob } from "node:fs";\n' if _has_files(data) else ""
    return (
        'import Replicate from "replicate";\n'
        f"{files}\n"
        "const replicate = new Replicate({\n"
        "  auth: process.env.REPLICATE_API_TOKEN,\n"
        f"  baseUrl: {json.dumps(base_url + '/v1')},\n"
        "});\n"
        f"const output = await replicate.run({json.dumps(ref)}, {{\n"
        f"  input: {_js(data, 2)},\n"
        "});\n"
        "console.log(output);\n"
    )


def http_body(version_id: str, data: dict, base_url: str) -> str:
    return json.dumps({"version": version_id, "input": _http_input(data, base_url)}, indent=2, ensure_ascii=False)


def curl(version_id: str, data: dict, base_url: str) -> str:
    body = json.dumps({"version": version_id, "input": _http_input(data, base_url)}, ensure_ascii=False)
    return (
        f"curl -s -X POST {base_url}/v1/predictions \\\n"
        '  -H "Authorization: Bearer $REPLICATE_API_TOKEN" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        '  -H "Prefer: wait" \\\n'
        f"  -d {shlex.quote(body)}\n"
    )


def all_snippets(model_name: str, version_id: str, data: dict, base_url: str) -> list[tuple[str, str, str]]:
    """(key, title, code) for each way to call the version with `data`."""
    ref = f"{model_name}:{version_id}"
    return [
        ("python", "Python", python(ref, data, base_url)),
        ("javascript", "JavaScript", javascript(ref, data, base_url)),
        ("curl", "cURL", curl(version_id, data, base_url)),
        ("http", "HTTP request body (POST /v1/predictions)", http_body(version_id, data, base_url)),
    ]
