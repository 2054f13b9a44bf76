"""moto's server with SageMaker `UpdateEndpoint`, response streams and Function URL invoke modes.

moto 5.2.1 lacks three things Pluto's AWS engine and runtime rely on, which this launcher adds
before running moto's own server main with the same arguments as `moto_server` (e.g.
`-H 127.0.0.1 -p PORT`):

- SageMaker `UpdateEndpoint`, which the engine calls to point an endpoint at a new endpoint
  configuration (blue/green: create the new config, update the endpoint, delete the old config);
- a Function URL's `InvokeMode` as AWS keeps it: moto reports a missing one as `Buffered` (AWS:
  `BUFFERED`) and ignores it in `UpdateFunctionUrlConfig`, so a streaming function's URL could
  never be switched. Here it is stored, returned (`BUFFERED` by default), honoured by updates,
  and a value other than `BUFFERED` or `RESPONSE_STREAM` is a `ValidationException`, as in AWS;
- SageMaker Runtime `InvokeEndpointWithResponseStream`
  (`POST /endpoints/<name>/invocations-response-stream`), which `SageMaker::invoke_stream` and
  `SageMakerLlm`'s streams call. It takes the next result of the queue moto's `InvokeEndpoint`
  answers from (`POST /moto-api/static/sagemaker/endpoint-results`; an identical request to the
  same endpoint gets the same result again, as there), and answers it as an AWS event stream
  (`application/vnd.amazon.eventstream`, the result's type in `X-Amzn-SageMaker-Content-Type`).
  A TGI answer `[{"generated_text": T}]` streams as a TGI container streams (`"stream": true`):
  T cut into word pieces (each with the whitespace before it, so the pieces join to T), each
  piece a server-sent event `data:{"token": {...}, "generated_text": null, "details": null}`
  in its own `PayloadPart` message, the last one carrying `generated_text` and `details`. Any
  other result is sent as it is, in one `PayloadPart`. `python server.py --self-check` checks
  the encoding against botocore's event-stream decoder.

- S3 `CreateBucket` with tags (`CreateBucketConfiguration.Tags`, which AWS accepts for general
  purpose buckets and the engine uses so a bucket is never left untagged): moto ignores them;
  here they become the bucket's tag set, as `PutBucketTagging` would make it;
- S3 `GetBucketVersioning` answered as AWS answers it: moto names the XML root after the action
  (`GetBucketVersioningResponse`), which the Rust SDK refuses (it expects
  `VersioningConfiguration`, with no `Status` when versioning was never enabled).

- Lambda `Invoke` in moto's "simple" backend (no Docker; chosen server-wide with
  `POST /moto-api/config` `{"lambda": {"use_docker": false}}`) as AWS answers it: a function that
  does not exist is a `ResourceNotFoundException` (moto answers every name), and a queued result
  (`POST /moto-api/static/lambda-simple/response`) that is a function error,
  `{"errorType": ..., "errorMessage": ...}`, comes with `X-Amz-Function-Error: Unhandled`.
  Without a queued result the function returns its payload, as moto's does.

Run it with the Python interpreter that has moto installed (the one next to `moto_server`).
"""

import base64
import json
import re
import struct
import sys
import zlib

from typing import Any
from urllib.parse import unquote

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import FunctionUrlConfig, LambdaBackend
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.common_types import TYPE_RESPONSE
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.s3.responses import S3Response
from moto.sagemakerruntime import urls as sagemaker_runtime_urls
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse
from moto.server import main


def update_endpoint(
    self: SageMakerModelBackend, endpoint_name: str, endpoint_config_name: str
) -> FakeEndpoint:
    """Points the endpoint at another configuration, as AWS does once the update is done.

    moto has no asynchronous state, so the endpoint stays `InService`. An unknown endpoint or
    configuration is a `ValidationException` ("Could not find ..."), as in AWS.
    """
    endpoint = self.endpoints.get(endpoint_name)
    if endpoint is None:
        arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
        raise ValidationError(message=f"Could not find endpoint '{arn}'.")
    config = self.endpoint_configs.get(endpoint_config_name)
    if config is None:
        arn = FakeEndpointConfig.arn_formatter(
            endpoint_config_name, self.account_id, self.region_name
        )
        raise ValidationError(message=f"Could not find endpoint configuration '{arn}'.")
    described = config.response_object
    endpoint.endpoint_config_name = endpoint_config_name
    endpoint.production_variants = endpoint._process_production_variants(
        described["ProductionVariants"]
    )
    endpoint.data_capture_config = described.get("DataCaptureConfig")
    endpoint.last_modified_time = utcnow()
    return endpoint


def update_endpoint_response(self: SageMakerResponse) -> ActionResult:
    """`UpdateEndpoint` (JSON, `X-Amz-Target: SageMaker.UpdateEndpoint`)."""
    endpoint = self.sagemaker_backend.update_endpoint(
        endpoint_name=self._get_param("EndpointName"),
        endpoint_config_name=self._get_param("EndpointConfigName"),
    )
    return ActionResult({"EndpointArn": endpoint.arn})


INVOKE_MODES = ("BUFFERED", "RESPONSE_STREAM")
"""The invoke modes of a Function URL, as Lambda spells them; the first is the default."""

_ORIGINAL_TO_DICT = FunctionUrlConfig.to_dict
_ORIGINAL_UPDATE = FunctionUrlConfig.update
_ORIGINAL_CREATE_URL = LambdaBackend.create_function_url_config


def check_invoke_mode(config: dict[str, Any]) -> None:
    """Refuses an `InvokeMode` Lambda does not know, with AWS's `ValidationException`."""
    mode = config.get("InvokeMode")
    if mode is not None and mode not in INVOKE_MODES:
        raise LambdaClientError(
            "ValidationException",
            f"1 validation error detected: Value '{mode}' at 'invokeMode' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(INVOKE_MODES)}]",
        )


def create_function_url_config(
    self: LambdaBackend, name_or_arn: str, config: dict[str, Any]
) -> FunctionUrlConfig:
    """`CreateFunctionUrlConfig`, with its `InvokeMode` checked first."""
    check_invoke_mode(config)
    return _ORIGINAL_CREATE_URL(self, name_or_arn, config)


def url_config_to_dict(self: FunctionUrlConfig) -> dict[str, Any]:
    """The URL config as AWS reports it: `InvokeMode` as stored, `BUFFERED` when never set."""
    described = _ORIGINAL_TO_DICT(self)
    described["InvokeMode"] = self.config.get("InvokeMode") or INVOKE_MODES[0]
    return described


def update_url_config(self: FunctionUrlConfig, new_config: dict[str, Any]) -> None:
    """`UpdateFunctionUrlConfig`: moto's update, plus the `InvokeMode` when given."""
    check_invoke_mode(new_config)
    _ORIGINAL_UPDATE(self, new_config)
    if new_config.get("InvokeMode"):
        self.config["InvokeMode"] = new_config["InvokeMode"]


RESPONSE_STREAM_PATH = "/invocations-response-stream"
"""How the path of `InvokeEndpointWithResponseStream` ends (`/endpoints/<name>/...`)."""

EVENT_STREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
"""The `Content-Type` of an AWS event stream."""

_STRING_HEADER = 7
"""The type byte of a string header value in an event-stream message."""


def event_stream_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: the prelude (total length, headers length, the prelude's
    CRC32), the headers (name length, name, type 7 = string, value length, value), the payload,
    and the CRC32 of everything before it; big-endian throughout."""
    encoded_headers = b"".join(
        struct.pack(">B", len(name.encode()))
        + name.encode()
        + struct.pack(">BH", _STRING_HEADER, len(value.encode()))
        + value.encode()
        for name, value in headers.items()
    )
    total_length = 12 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack(">II", total_length, len(encoded_headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded_headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def payload_part(data: bytes) -> bytes:
    """A `PayloadPart` event of SageMaker's `ResponseStream` carrying `data`."""
    return event_stream_message(
        {
            ":event-type": "PayloadPart",
            ":message-type": "event",
            ":content-type": "application/octet-stream",
        },
        data,
    )


def tgi_generated_text(body: bytes) -> str | None:
    """`T` when `body` is a TGI answer `[{"generated_text": T}]`, else `None`."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    if (
        isinstance(answer, list)
        and len(answer) == 1
        and isinstance(answer[0], dict)
        and isinstance(answer[0].get("generated_text"), str)
    ):
        return answer[0]["generated_text"]
    return None


def word_pieces(text: str) -> list[str]:
    """`text` cut before each word, each piece with the whitespace before its word (trailing
    whitespace is a piece of its own): the pieces join to `text`. Empty text is one empty piece,
    as a TGI stream always has at least one event."""
    return re.findall(r"\s*\S+|\s+", text) or [""]


def tgi_stream_events(text: str) -> list[bytes]:
    """The server-sent events a TGI container streams when it generates `text`, one per piece of
    [`word_pieces`], the last with the whole `generated_text` and the `details`."""
    pieces = word_pieces(text)
    events = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        event = {
            "token": {"id": 0, "text": piece, "logprob": 0.0, "special": False},
            "generated_text": text if last else None,
            "details": (
                {"finish_reason": "eos_token", "generated_tokens": len(pieces), "seed": None}
                if last
                else None
            ),
        }
        events.append(f"data:{json.dumps(event, separators=(',', ':'))}\n\n".encode())
    return events


def invoke_endpoint_with_response_stream(self: SageMakerRuntimeResponse) -> TYPE_RESPONSE:
    """`InvokeEndpointWithResponseStream`: the next queued result of moto's `InvokeEndpoint`
    (the same queue, and the same request identity: the `X-Amzn-SageMaker-*` headers, `Accept`
    and the body), answered as an event stream of `PayloadPart`s (TGI answers token by token).

    The endpoint name is read from the path: moto's `InvokeEndpoint` reads it from query
    parameters, which a REST request has none of, so there identical requests to different
    endpoints share one remembered result; here each endpoint has its own."""
    endpoint_name = unquote(self.path.split("/")[2])
    unique_repr = {
        key: value
        for key, value in self.headers.items()
        if key.lower().startswith("x-amzn-sagemaker")
    }
    unique_repr["Accept"] = self.headers.get("Accept")
    unique_repr["Body"] = self.body
    body, content_type, invoked_production_variant, custom_attributes = (
        self.sagemakerruntime_backend.invoke_endpoint(
            endpoint_name=endpoint_name,
            unique_repr=base64.b64encode(json.dumps(unique_repr).encode("utf-8")),
        )
    )
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    text = tgi_generated_text(data)
    if text is None:
        parts = [data]
    else:
        parts = tgi_stream_events(text)
        content_type = "text/event-stream"
    headers = {
        "Content-Type": EVENT_STREAM_CONTENT_TYPE,
        "X-Amzn-SageMaker-Content-Type": content_type,
    }
    if invoked_production_variant:
        headers["x-Amzn-Invoked-Production-Variant"] = invoked_production_variant
    if custom_attributes:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes
    return 200, headers, b"".join(payload_part(part) for part in parts)


def simple_invoke(
    self: LambdaSimpleBackend,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> bytes:
    """moto's Docker-less `Invoke`, but for existing functions only, and with function errors."""
    self.get_function(function_name, qualifier)  # ResourceNotFoundException, as in AWS
    result = body or "Simple Lambda happy path OK"
    if self.lambda_simple_results_queue:
        result = self.lambda_simple_results_queue.pop(0)
        try:
            answer = json.loads(result)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and "errorType" in answer and "errorMessage" in answer:
            response_headers["x-amz-function-error"] = "Unhandled"
    return result.encode("utf-8") if isinstance(result, str) else bytes(result)


_ORIGINAL_BUCKET_PUT = S3Response._bucket_response_put


def create_bucket_tags(body: bytes | str | None) -> dict[str, str]:
    """The tags of a `CreateBucket` request body (`CreateBucketConfiguration.Tags.Tag`)."""
    if not body:
        return {}
    import xmltodict

    try:
        config = xmltodict.parse(body).get("CreateBucketConfiguration") or {}
    except Exception:  # noqa: BLE001 - not XML: no tags, moto answers as it does
        return {}
    tags = (config.get("Tags") or {}).get("Tag") or []
    if isinstance(tags, dict):
        tags = [tags]
    return {tag["Key"]: tag.get("Value") or "" for tag in tags}


def bucket_response_put(
    self: S3Response, request: Any, bucket_name: str, querystring: dict[str, Any]
) -> Any:
    """moto's bucket PUT, plus: the tags of a `CreateBucket` (a PUT without a subresource)."""
    result = _ORIGINAL_BUCKET_PUT(self, request, bucket_name, querystring)
    if not querystring:
        tags = create_bucket_tags(self.body)
        if tags:
            self.backend.put_bucket_tagging(bucket_name, tags)
    return result


def get_bucket_versioning(self: S3Response) -> TYPE_RESPONSE:
    """The bucket's versioning as AWS answers it (root `VersioningConfiguration`)."""
    status = self.backend.get_bucket_versioning(self.bucket_name)
    self.data["Action"] = "GetBucketVersioning"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        + (f"<Status>{status}</Status>" if status else "")
        + "</VersioningConfiguration>"
    )
    return 200, {"Content-Type": "application/xml"}, body


_ORIGINAL_INFER_HOST = DomainDispatcherApplication.infer_service_region_host


def infer_service_region_host(
    self: DomainDispatcherApplication, environ: dict[str, Any], path: str
) -> str | None:
    """moto's routing, plus: a response-stream invocation goes to SageMaker Runtime (moto sends
    only paths ending in `/invocations` there; both services sign as `sagemaker`)."""
    host = _ORIGINAL_INFER_HOST(self, environ, path)
    if (
        host is not None
        and host.startswith("api.sagemaker.")
        and environ.get("PATH_INFO", "").endswith(RESPONSE_STREAM_PATH)
    ):
        return "runtime." + host.removeprefix("api.")
    return host


def self_check() -> None:
    """Decodes the event streams this module sends with botocore's decoder; raises if they
    differ from what was meant."""
    from botocore.eventstream import EventStreamBuffer

    text = " Paris is\n the capital of France.</s>  "
    assert "".join(word_pieces(text)) == text
    buffer = EventStreamBuffer()
    buffer.add_data(b"".join(payload_part(event) for event in tgi_stream_events(text)))
    messages = list(buffer)
    assert len(messages) == len(word_pieces(text)) > 1, messages
    tokens = []
    for message in messages:
        assert message.headers == {
            ":event-type": "PayloadPart",
            ":message-type": "event",
            ":content-type": "application/octet-stream",
        }, message.headers
        event = json.loads(message.payload.decode().removeprefix("data:"))
        tokens.append(event["token"]["text"])
    assert "".join(tokens) == text, tokens
    assert event["generated_text"] == text and event["details"] is not None, event
    buffer = EventStreamBuffer()
    buffer.add_data(payload_part(b"plain bytes"))
    assert [message.payload for message in buffer] == [b"plain bytes"]
    body = (
        '<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Tags>'
        "<Tag><Key>pluto:stack</Key><Value>dev</Value></Tag>"
        "<Tag><Key>pluto:project</Key><Value>app</Value></Tag></Tags></CreateBucketConfiguration>"
    )
    assert create_bucket_tags(body) == {"pluto:stack": "dev", "pluto:project": "app"}
    assert create_bucket_tags(b"") == {}


def patch() -> None:
    """Adds the missing operations and behaviour to moto's classes (idempotent)."""
    SageMakerModelBackend.update_endpoint = update_endpoint  # type: ignore[attr-defined]
    SageMakerResponse.update_endpoint = update_endpoint_response  # type: ignore[attr-defined]
    LambdaBackend.create_function_url_config = create_function_url_config  # type: ignore[method-assign]
    FunctionUrlConfig.to_dict = url_config_to_dict  # type: ignore[method-assign]
    FunctionUrlConfig.update = update_url_config  # type: ignore[method-assign]
    SageMakerRuntimeResponse.invoke_endpoint_with_response_stream = (  # type: ignore[attr-defined]
        invoke_endpoint_with_response_stream
    )
    sagemaker_runtime_urls.url_paths[
        "{0}/endpoints/(?P<name>[^/]+)" + RESPONSE_STREAM_PATH + "$"
    ] = sagemaker_runtime_urls.response.dispatch
    DomainDispatcherApplication.infer_service_region_host = infer_service_region_host  # type: ignore[method-assign]
    LambdaSimpleBackend.invoke = simple_invoke  # type: ignore[method-assign]
    S3Response._bucket_response_put = bucket_response_put  # type: ignore[method-assign]
    S3Response.get_bucket_versioning = get_bucket_versioning  # type: ignore[method-assign]


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-check"]:
        self_check()
        print("event streams decode as meant")
        sys.exit(0)
    patch()
    sys.exit(main(sys.argv[1:]))
