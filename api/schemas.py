"""The objects the API serves (API.md: Objects), as the schemas ninja validates every response against.

Routes return the models' `to_dict()`; ninja validates it through these schemas before it is sent,
and /v1/openapi.json is generated from them. `extra="forbid"` makes a field added to a `to_dict()`
but not here fail loudly (a 500) instead of drifting from the document.
Nullable fields are declared `X | None` with no default: they are always sent, as null.
"""

from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, create_model, model_serializer, with_config

Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"},
                                 examples=["2026-01-31T12:00:00Z"])]
Url = Annotated[str, Field(json_schema_extra={"format": "uri"})]


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- errors

class InvalidField(Out):
    field: str
    description: str
    type: str


class Problem(Out):
    """An RFC 9457 problem: every error under /v1/, with the HTTP status repeated in `status`."""

    title: str
    detail: str
    status: int
    invalid_fields: list[InvalidField] | None = Field(
        default=None, description="On 422: each field that failed validation (absent otherwise).")
    limit: str | None = Field(default=None, description="On 402: the monthly limit in dollars (absent otherwise).")
    spend: str | None = Field(default=None, description="On 402: this month's spend in dollars, runs still "
                                                        "going counted at their reservation (absent otherwise).")


# ---------------------------------------------------------------- predictions

@with_config(ConfigDict(extra="allow"))
class Metrics(TypedDict, total=False):
    """Timings in seconds; LLMs add token counts. Only the ones measured are present."""

    predict_time: float
    total_time: float
    cold_start_time: Annotated[float, Field(description="Runs made before boot_time existed: the boot it waited for.")]
    cold_start: Annotated[bool, Field(description="Cogmill's own: the run waited for its instance to boot.")]
    boot_time: Annotated[float, Field(description="Cogmill's own: how long it waited for that boot.")]
    time_to_first_token: float
    tokens_per_second: float
    input_token_count: int
    output_token_count: int


class PredictionUrls(Out):
    get: Url
    cancel: Url
    stream: Url | None = Field(None, description="Server-sent events of the prediction's output, logs and end; "
                                                 "only for models whose output is an iterator (absent otherwise).")
    web: Url

    @model_serializer(mode="wrap")
    def _without_absent_stream(self, handler):
        urls = handler(self)
        if urls.get("stream") is None:
            urls.pop("stream", None)
        return urls


class Run(Out):
    """What every kind of run has."""

    id: str
    model: str = Field(description="owner/name")
    version: str
    input: dict[str, Any]
    output: Any = Field(description="Whatever the model returned: any JSON value, null until there is one.")
    logs: str
    error: str | None
    status: Literal["starting", "processing", "succeeded", "failed", "canceled"]
    source: Literal["api", "web"]
    created_at: Timestamp
    started_at: Timestamp | None
    completed_at: Timestamp | None
    deadline: Timestamp | None = Field(description="When it is canceled if it has not ended (Cancel-After).")
    metrics: Metrics
    urls: PredictionUrls


class Prediction(Run):
    data_removed: bool
    deployment: str | None


class Training(Run):
    destination: str = Field(description="owner/name of the model the trained version is added to.")
    output: Any = Field(description='On success: {"version": "owner/name:id", "weights": URL}; null before.')


# ---------------------------------------------------------------- models and versions

class Version(Out):
    id: str
    created_at: Timestamp
    cog_version: str
    openapi_schema: dict[str, Any] = Field(description="The model's OpenAPI schema, with "
                                                       "components.schemas.Input and Output.")


class Build(Out):
    status: Literal["pending", "building", "ready", "failed"]
    error: str | None
    logs: str


class OwnVersion(Version):
    """A version as its model's owner sees it: with its build."""

    build: Build


class Model(Out):
    url: Url
    owner: str
    name: str
    description: str | None
    visibility: Literal["public", "private"]
    github_url: str | None
    paper_url: str | None
    license_url: str | None
    cover_image_url: str | None
    weights_url: str | None
    is_official: bool = Field(description="Kept by the people who run this Cogmill (COGMILL_OFFICIAL_OWNERS).")
    max_run_time: str | None = Field(description="Cogmill's own: runs of it are canceled this long after "
                                                 "they were created (`30s`, `5m`, `1h30m`).")
    run_count: int
    default_example: Prediction | None
    latest_version: Version | None
    created_at: Timestamp


# ---------------------------------------------------------------- the rest

class FileUrls(Out):
    get: Url


class Checksums(Out):
    sha256: str
    md5: str


class File(Out):
    id: str
    name: str
    content_type: str
    size: int
    etag: str
    checksums: Checksums
    metadata: dict[str, Any]
    created_at: Timestamp
    expires_at: Timestamp | None
    urls: FileUrls


class Collection(Out):
    slug: str
    name: str
    description: str


class CollectionDetail(Collection):
    full_description: str | None = Field(description="Markdown: the collection's longer description.")
    models: list[Model]


class SearchMetadata(Out):
    score: float = Field(description="How well the model matches, from 0 to 1.")
    tags: list[str]
    generated_description: str | None


class SearchModel(Out):
    model: Model
    metadata: SearchMetadata


class SearchCollection(Collection):
    models: list[str] = Field(description="owner/name of each model in it that the caller may see.")


class SearchPage(Out):
    name: str
    href: Url


class SearchResults(Out):
    query: str
    models: list[SearchModel]
    collections: list[SearchCollection]
    pages: list[SearchPage] = Field(description="Cogmill's own pages that match.")


class Hardware(Out):
    sku: str
    name: str


class Account(Out):
    type: Literal["user", "organization"]
    username: str
    name: str
    github_url: str | None
    avatar_url: Url = Field(description="An image of the account (its initial, drawn by Cogmill).")


class DeploymentConfiguration(Out):
    hardware: str
    min_instances: int
    max_instances: int


class DeploymentRelease(Out):
    number: int = Field(description="Counts from 1; every change to the deployment is a new release.")
    model: str
    version: str
    created_at: Timestamp
    created_by: Account | None
    configuration: DeploymentConfiguration


class Deployment(Out):
    owner: str
    name: str
    current_release: DeploymentRelease | None


class UsageRow(Out):
    cost: str = Field(description="Dollars, as a decimal string.")
    runs: int


class UsageDay(UsageRow):
    date: str
    seconds: str


class UsageByModel(UsageRow):
    model: str


class UsageByHardware(UsageRow):
    hardware: str


class UsageByToken(UsageRow):
    token: str = Field(description="The API token's name; `web` for runs started from pages.")


class Usage(Out):
    """Cogmill's own: what the account's runs cost, from the spend ledger."""

    start: str
    end: str
    currency: Literal["usd"]
    total: str
    runs: int
    days: list[UsageDay]
    by_model: list[UsageByModel]
    by_hardware: list[UsageByHardware]
    by_token: list[UsageByToken]


class WebhookSecret(Out):
    key: str = Field(description="whsec_ + base64 of the signing key (Standard Webhooks).")


def page_of(item: type[Out]) -> type[Out]:
    """`{next, previous, results}`: a cursor page, newest first; next/previous are absolute URLs."""
    return create_model(
        f"{item.__name__}Page", __base__=Out,
        next=(Url | None, ...), previous=(Url | None, ...), results=(list[item], ...),
    )


PredictionPage = page_of(Prediction)
TrainingPage = page_of(Training)
ModelPage = page_of(Model)
VersionPage = page_of(Version)
FilePage = page_of(File)
CollectionPage = page_of(Collection)
DeploymentPage = page_of(Deployment)


# ---------------------------------------------------------------- problem responses

# What any authenticated request can get: a body that cannot be read (400), no valid token (401),
# a body over the limit (413), the token's rate limit (429).
AUTHENTICATED = (400, 401, 413, 429)


def problems(*statuses: int, authenticated: bool = True) -> dict[int, type[Problem]]:
    """The `response=` entries for the errors an operation can answer with."""
    codes = {*statuses, *(AUTHENTICATED if authenticated else ())}
    return dict.fromkeys(sorted(codes), Problem)
