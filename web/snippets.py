"""Ready-to-copy API calls for one version and input, as the model page's API tab shows them: for
each language, how to install and authenticate, then the call."""

import json
import re
import shlex
from dataclasses import dataclass

TOKEN_LINE = "export REPLICATE_API_TOKEN=YOUR_TOKEN  # create one on {base_url}/account"


@dataclass(frozen=True)
class Snippet:
    key: str  # python, javascript, curl or http
    label: str
    setup: str  # shell lines: install the client, set the token ("" when there is nothing to do)
    code: str
    lexer: str  # the Pygments lexer that highlights `code`


@dataclass(frozen=True)
class FileArg:
    """A file input: a local path for the clients (they upload it), an upload URL for raw HTTP."""

    name: str

    @property
    def path(self) -> str:
        """A local path to stand for the file: the input's name, kept to plain characters (a model
        chooses its input names, and the snippet is pasted into a shell)."""
        return f"path/to/{self.safe_name}"

    @property
    def safe_name(self) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.name).strip("._") or "file"


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


def _file_id(value: FileArg) -> str:
    """The placeholder for the id of the upload that a file input takes, in cURL and HTTP."""
    return f"{value.safe_name.replace('.', '_').replace('-', '_').upper()}_FILE_ID"


def _http_input(value: object, base_url: str) -> object:
    if isinstance(value, FileArg):
        return f"{base_url}/v1/files/{_file_id(value)}"
    if isinstance(value, dict):
        return {k: _http_input(v, base_url) for k, v in value.items()}
    if isinstance(value, list):
        return [_http_input(v, base_url) for v in value]
    return value


def _files(value: object) -> list[FileArg]:
    if isinstance(value, FileArg):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in _files(v)]
    return [f for v in value for f in _files(v)] if isinstance(value, list) else []


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
    files = 'import { openAsBlob } from "node:fs";\n' if _files(data) else ""
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
    uploads = "".join(
        f"# Upload {f.path}: the id it answers replaces {_file_id(f)} below.\n"
        f"curl -s -X POST {base_url}/v1/files \\\n"
        '  -H "Authorization: Bearer $REPLICATE_API_TOKEN" \\\n'
        f"  -F {shlex.quote('content=@' + f.path)}\n\n"
        for f in _files(data)
    )
    body = json.dumps({"version": version_id, "input": _http_input(data, base_url)}, ensure_ascii=False)
    return uploads + (
        f"curl -s -X POST {base_url}/v1/predictions \\\n"
        '  -H "Authorization: Bearer $REPLICATE_API_TOKEN" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        '  -H "Prefer: wait" \\\n'
        f"  -d {shlex.quote(body)}\n"
    )


def http_request(version_id: str, data: dict, base_url: str) -> str:
    """The request itself, as any HTTP library sends it."""
    host = base_url.split("://", 1)[-1]
    return (
        "POST /v1/predictions HTTP/1.1\n"
        f"Host: {host}\n"
        "Authorization: Bearer YOUR_TOKEN\n"
        "Content-Type: application/json\n"
        "Prefer: wait\n"
        "\n"
        f"{http_body(version_id, data, base_url)}\n"
    )


def all_snippets(model_name: str, version_id: str, data: dict, base_url: str) -> list[Snippet]:
    """Each way to call the version with `data`, in the order the tab shows them."""
    ref = f"{model_name}:{version_id}"
    token = TOKEN_LINE.format(base_url=base_url)
    return [
        Snippet("python", "Python", f"pip install replicate\n{token}\n", python(ref, data, base_url), "python"),
        Snippet("javascript", "JavaScript", f"npm install replicate  # Node.js 20 or later\n{token}\n",
                javascript(ref, data, base_url), "javascript"),
        Snippet("curl", "cURL", f"{token}\n", curl(version_id, data, base_url), "bash"),
        Snippet("http", "HTTP", "", http_request(version_id, data, base_url), "http"),
    ]
