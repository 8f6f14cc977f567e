"""A loopback Kubeflow Pipelines API server (v2beta1, as KFP 2.5.0 answers) for tests.

There is no KFP cluster to test `kfp.Client` calls against, and a plain mock would answer
whatever the code under test sends. This server instead *enforces* KFP's REST contract, so a
test fails when the SDK sends something a real KFP 2.5 API server would reject or silently
ignore:

* every request is checked against the KFP 2.5.0 v2beta1 swagger
  (``contract/kfp_api_v2beta1_2.5.0.swagger.json``): path template, method, declared query
  parameters and their types, and the JSON body's field names and JSON types; a violation is
  answered ``400`` and recorded in :attr:`KFPServer.violations`;
* the resources behave like KFP 2.5's API server: names are unique where KFP's database
  makes them unique, runs and recurring runs are validated against the pipeline spec's
  root inputs, cron expressions are parsed the way ``robfig/cron`` v1.2.0 parses them,
  list calls support KFP's filter JSON, ``sort_by`` and keyset page tokens, and errors carry
  the gRPC-gateway error body with the HTTP status KFP maps each gRPC code to.

Every behaviour cites the KFP source it models, as ``path@2.5.0`` in
github.com/kubeflow/pipelines (tag ``2.5.0``, commit d07cf1c7f9); a path not starting with
``backend/`` is relative to ``backend/src/apiserver/``. Cron parsing cites
github.com/robfig/cron at v1.2.0, the version KFP 2.5's go.mod pins.

The server uses only the standard library (plus PyYAML for pipeline specs), binds to
127.0.0.1 on a free port, and logs nothing.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import email.parser
import email.policy
import http.server
import io
import json
import re
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "DEFAULT_SWAGGER",
    "RUNTIME_STATES",
    "ContractViolation",
    "CronError",
    "KFPError",
    "KFPServer",
    "Recorded",
    "parse_cron",
]

DEFAULT_SWAGGER = Path(__file__).resolve().parent / "contract" / "kfp_api_v2beta1_2.5.0.swagger.json"

API_PREFIX = "/apis/v2beta1"
# The namespace KFP's API server runs in (POD_NAMESPACE) in a standard single-user install;
# recurring runs land there (resource/resource_manager.go@2.5.0 CreateJob).
POD_NAMESPACE = "kubeflow"
# common/const.go@2.5.0 DefaultPipelineRunnerServiceAccount, applied by
# template/template.go@2.5.0 setDefaultServiceAccount when a run names none.
DEFAULT_SERVICE_ACCOUNT = "pipeline-runner"
# Kubeflow's manifests set KUBEFLOW_USERID_HEADER=kubeflow-userid (common/config.go@2.5.0);
# the auth proxy in front of KFP injects it. Without it we act as the proxy would for this user.
USER_ID_HEADER = "kubeflow-userid"
DEFAULT_USER = "user@example.com"
# common/const.go@2.5.0 MaxFileLength.
MAX_FILE_LENGTH = 32 << 20
# server/list_request_util.go@2.5.0 and list/list.go@2.5.0 validatePageSize.
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200
# Anything larger than this is not read at all (a pipeline upload is capped at 32 MiB).
MAX_REQUEST_BYTES = 64 << 20

RUNTIME_STATES = ("PENDING", "RUNNING", "SUCCEEDED", "SKIPPED", "FAILED", "CANCELING", "CANCELED", "PAUSED")
TERMINAL_STATES = frozenset({"SUCCEEDED", "SKIPPED", "FAILED", "CANCELED"})
# storage/run_store.go@2.5.0 TerminateRun only moves runs in these states to CANCELING.
TERMINABLE_STATES = frozenset({"PAUSED", "PENDING", "RUNNING", "RUNTIME_STATE_UNSPECIFIED"})
# model/run.go@2.5.0 RuntimeState.ToV1: the v1 "Conditions" string a run's `status` filter sees.
_STATE_V1 = {
    "PENDING": "Pending",
    "PAUSED": "Pending",
    "RUNNING": "Running",
    "SUCCEEDED": "Succeeded",
    "SKIPPED": "Skipped",
    "FAILED": "Failed",
    "CANCELED": "Failed",
    "CANCELING": "Terminating",
}

EPOCH = "1970-01-01T00:00:00Z"

# grpc-gateway v1.16 runtime.HTTPStatusFromCode for the codes KFP's UserError uses.
_HTTP_STATUS = {3: 400, 5: 404, 6: 409, 7: 403, 9: 400, 10: 409, 12: 501, 13: 500, 14: 503, 16: 401}


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class KFPError(Exception):
    """An error as KFP's API server reports it through grpc-gateway.

    KFP's `util.UserError` (backend/src/common/util/error.go@2.5.0) carries an internal message chain
    (every `util.Wrap` prefixes it) and a short external message. `GRPCStatus()` puts the chain
    in the status message and the external message in a `google.rpc.Status` detail, and
    grpc-gateway v1.16's DefaultHTTPError writes `{"error", "code", "message", "details"}`.
    """

    def __init__(self, code: int, message: str, external: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.external = external if external is not None else message

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS.get(self.code, 500)

    def wrap(self, context: str) -> KFPError:
        """Like KFP's `util.Wrap`: prefix the chain, keep the code and the external message."""
        return KFPError(self.code, f"{context}: {self.message}", self.external)

    def body(self) -> dict[str, Any]:
        return {
            "error": self.message,
            "code": self.code,
            "message": self.message,
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.Status",
                    "code": self.code,
                    "message": self.external,
                }
            ],
        }


def _invalid(message: str) -> KFPError:
    # util.NewInvalidInputError
    return KFPError(3, f"Invalid input error: {message}", message)


def _invalid_details(cause: str, message: str) -> KFPError:
    # util.NewInvalidInputErrorWithDetails
    return KFPError(3, f"InvalidInputError: {message}: {cause}", message)


def _not_found(kind: str, ident: str) -> KFPError:
    # util.NewResourceNotFoundError
    return KFPError(5, f"ResourceNotFoundError: {kind} {ident} not found", f"{kind} {ident} not found")


def _already_exists(message: str) -> KFPError:
    # util.NewAlreadyExistError
    return KFPError(6, f"Already exist error: {message}", message)


def _internal(cause: KFPError | str, message: str) -> KFPError:
    # util.NewInternalServerError: whatever the cause was, the client sees code 13 / HTTP 500.
    inner = cause.message if isinstance(cause, KFPError) else cause
    return KFPError(13, f"InternalServerError: {message}: {inner}", "Internal Server Error")


def _failed_precondition(cause: str, message: str) -> KFPError:
    return KFPError(9, f"FailedPreconditionError: {message}: {cause}", message)


def _aborted(cause: str, message: str) -> KFPError:
    # util.NewBadRequestError uses codes.Aborted, which grpc-gateway maps to 409.
    return KFPError(10, f"BadRequestError: {message}: {cause}", message)


class _UploadError(Exception):
    """An error from KFP's multipart upload handler, which is not behind grpc-gateway.

    server/pipeline_upload_server.go@2.5.0 writeErrorToResponse writes an explicit HTTP status
    and `apiv1beta1.Error` marshalled by encoding/json: `{"error_message", "error_details"}`.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error_message": self.message, "error_details": self.message}


class ContractViolation(Exception):
    """A request that does not fit the swagger contract."""


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _now() -> int:
    return int(time.time())


def _rfc3339(seconds: int) -> str:
    """A protobuf Timestamp with whole seconds, as jsonpb writes it."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


def _parse_rfc3339(value: str) -> int:
    """Seconds since the epoch of an RFC 3339 timestamp, as protobuf's Timestamp JSON accepts it."""
    if not _RFC3339.fullmatch(value):
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    text = value.upper().replace("Z", "+00:00")
    if "." in text:
        head, _, rest = text.partition(".")
        tz_at = max(rest.find("+"), rest.find("-"))
        text = head + rest[tz_at:]
    return int(dt.datetime.fromisoformat(text).timestamp())


def _as_int(value: Any, default: int = 0) -> int:
    """An int64 field as jsonpb accepts it: a JSON number or a decimal string."""
    if value is None:
        return default
    if isinstance(value, bool):
        raise ValueError("a boolean is not an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"not an integer: {value}")
        return int(value)
    return int(value)


def _prune(message: dict[str, Any], opaque: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Drop default-valued fields the way grpc-gateway's jsonpb (EmitDefaults=false) omits them.

    Keys in `opaque` hold protobuf Struct/Value content (pipeline specs, parameters), which is
    kept as is when non-empty.
    """
    out: dict[str, Any] = {}
    for key, value in message.items():
        if key in opaque:
            if value not in (None, {}, []):
                out[key] = value
            continue
        if isinstance(value, dict):
            value = _prune(value, opaque)
            if value:
                out[key] = value
        elif isinstance(value, list):
            if value:
                out[key] = [_prune(v, opaque) if isinstance(v, dict) else v for v in value]
        elif value not in (None, "", 0, False):
            out[key] = value
    return out


_OPAQUE = frozenset({"pipeline_spec", "parameters", "inputs", "outputs"})


def _camel_to_snake(name: str) -> str:
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _go_query_unescape(text: str) -> str:
    """Go's url.QueryUnescape: `+` is a space, `%XX` must be a valid escape.

    KFP unescapes the (already decoded) `filter` query value once more
    (server/list_request_util.go@2.5.0 parseAPIFilter).
    """
    raw = text.encode("utf-8", "surrogateescape")
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x25:  # %
            hexpart = raw[i + 1 : i + 3]
            if len(hexpart) < 2 or not all(chr(b) in "0123456789abcdefABCDEF" for b in hexpart):
                bad = raw[i : i + 3].decode("utf-8", "replace")
                raise ValueError(f'invalid URL escape "{bad}"')
            out.append(int(hexpart, 16))
            i += 3
        elif c == 0x2B:  # +
            out.append(0x20)
            i += 1
        else:
            out.append(c)
            i += 1
    return out.decode("utf-8", "surrogateescape")


# --------------------------------------------------------------------------------------------
# Cron expressions, as github.com/robfig/cron v1.2.0 parses them
# --------------------------------------------------------------------------------------------


class CronError(ValueError):
    pass


_MONTH_NAMES = {
    m: i + 1
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_DOW_NAMES = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# robfig/cron v1.2.0 spec.go: seconds, minutes, hours, dom, months, dow (0-6: 7 is not Sunday).
_CRON_BOUNDS: tuple[tuple[int, int, dict[str, int] | None], ...] = (
    (0, 59, None),
    (0, 59, None),
    (0, 23, None),
    (1, 31, None),
    (1, 12, _MONTH_NAMES),
    (0, 6, _DOW_NAMES),
)
_DESCRIPTORS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
_GO_DURATION = re.compile(r"[-+]?(?:0|(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)")


def parse_cron(spec: str) -> None:
    """Validate `spec` exactly as `cron.Parse` of robfig/cron v1.2.0 does; raise CronError if not.

    KFP 2.5 validates recurring-run crons with that function (server/api_converter.go@2.5.0
    toModelJob, `cron.Parse`, with go.mod pinning github.com/robfig/cron v1.2.0). Its default
    parser is `NewParser(Second | Minute | Hour | Dom | Month | DowOptional | Descriptor)`
    (robfig/cron@v1.2.0 parser.go): the *seconds* field comes first and day-of-week is
    optional, so both 6-field and 5-field expressions parse. A 5-field expression therefore
    does not mean what it means to Unix cron: "0 3 * * *" is "second 0 of minute 3 of every
    hour", not "03:00 every day". Descriptors (@daily, @every 1h30m, ...) are accepted.
    """
    if len(spec) == 0:
        raise CronError("Empty spec string")
    if spec[0] == "@":
        _parse_cron_descriptor(spec)
        return
    fields = spec.split()
    if not 5 <= len(fields) <= 6:
        raise CronError(f"Expected 5 to 6 fields, found {len(fields)}: {spec}")
    if len(fields) == 5:
        fields.append("*")
    for text, (low, high, names) in zip(fields, _CRON_BOUNDS, strict=True):
        for expr in (part for part in text.split(",") if part):
            _parse_cron_range(expr, low, high, names)


def _parse_cron_descriptor(spec: str) -> None:
    if spec in _DESCRIPTORS:
        return
    if spec.startswith("@every "):
        duration = spec[len("@every ") :]
        if not _GO_DURATION.fullmatch(duration):
            raise CronError(f'Failed to parse duration {spec}: time: invalid duration "{duration}"')
        return
    raise CronError(f"Unrecognized descriptor: {spec}")


def _parse_cron_range(expr: str, low: int, high: int, names: dict[str, int] | None) -> None:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    single = len(low_and_high) == 1
    if low_and_high[0] in ("*", "?"):
        start, end = low, high
    else:
        start = _cron_int_or_name(low_and_high[0], names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _cron_int_or_name(low_and_high[1], names)
        else:
            raise CronError(f"Too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _cron_int(range_and_step[1])
        if single:  # "N/step" means "N-max/step"
            end = high
    else:
        raise CronError(f"Too many slashes: {expr}")
    if start < low:
        raise CronError(f"Beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise CronError(f"End of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise CronError(f"Beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"Step of range should be a positive number: {expr}")


def _cron_int_or_name(expr: str, names: dict[str, int] | None) -> int:
    if names is not None and expr.lower() in names:
        return names[expr.lower()]
    return _cron_int(expr)


def _cron_int(expr: str) -> int:
    # Go's strconv.Atoi: an optional sign and decimal digits, within int64.
    if not re.fullmatch(r"[+-]?[0-9]+", expr):
        raise CronError(f'Failed to parse int from {expr}: strconv.Atoi: parsing "{expr}": invalid syntax')
    num = int(expr)
    if not -(1 << 63) <= num < (1 << 63):
        raise CronError(
            f'Failed to parse int from {expr}: strconv.Atoi: parsing "{expr}": value out of range'
        )
    if num < 0:
        raise CronError(f"Negative number ({num}) not allowed: {expr}")
    return num


# --------------------------------------------------------------------------------------------
# The swagger contract
# --------------------------------------------------------------------------------------------

# Proto oneofs the swagger cannot express (backend/api/v2beta1/{run,recurring_run,filter}.proto@2.5.0).
_ONEOFS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "v2beta1Run": (
        ("pipeline_source", ("pipeline_version_id", "pipeline_spec", "pipeline_version_reference")),
    ),
    "v2beta1RecurringRun": (
        ("pipeline_source", ("pipeline_version_id", "pipeline_spec", "pipeline_version_reference")),
    ),
    "v2beta1Trigger": (("trigger", ("cron_schedule", "periodic_schedule")),),
    "PipelineTaskDetailChildTask": (("child_task", ("task_id", "pod_name")),),
}

_GO_BOOLS = frozenset({"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"})


@dataclass
class _Operation:
    method: str
    template: str
    operation_id: str
    regex: re.Pattern[str]
    literal_chars: int
    query: dict[str, dict[str, Any]]
    body: dict[str, Any] | None
    form: dict[str, dict[str, Any]]


class _Contract:
    """The swagger's operations, and checks of a request against them."""

    def __init__(self, swagger: dict[str, Any]) -> None:
        self.definitions: dict[str, Any] = swagger.get("definitions", {})
        self.operations: list[_Operation] = []
        for template, methods in swagger.get("paths", {}).items():
            regex, literal = self._compile(template)
            for method, op in methods.items():
                params = op.get("parameters", [])
                body = next((p["schema"] for p in params if p.get("in") == "body"), None)
                self.operations.append(
                    _Operation(
                        method=method.upper(),
                        template=template,
                        operation_id=op.get("operationId", f"{method.upper()} {template}"),
                        regex=regex,
                        literal_chars=literal,
                        query={p["name"]: p for p in params if p.get("in") == "query"},
                        body=body,
                        form={p["name"]: p for p in params if p.get("in") == "formData"},
                    )
                )

    @staticmethod
    def _compile(template: str) -> tuple[re.Pattern[str], int]:
        pattern = ""
        literal = 0
        for part in re.split(r"(\{[^}]+\})", template):
            if part.startswith("{") and part.endswith("}"):
                pattern += f"(?P<{part[1:-1]}>[^/]+)"
            else:
                pattern += re.escape(part)
                literal += len(part)
        return re.compile(pattern), literal

    def match(self, method: str, path: str) -> tuple[_Operation, dict[str, str]]:
        """The operation for `method path`, preferring the template with the most literal text.

        That makes `/runs/{run_id}:terminate` win over `/runs/{run_id}` and
        `/pipelines/upload` over `/pipelines/{pipeline_id}`, as KFP's routers do.
        """
        matches = [(op, m) for op in self.operations if (m := op.regex.fullmatch(path))]
        if not matches:
            raise ContractViolation(f"no swagger path template matches {path!r}")
        best = max(op.literal_chars for op, _ in matches)
        templates = sorted({op.template for op, _ in matches if op.literal_chars == best})
        for op, m in matches:
            if op.literal_chars == best and op.method == method:
                params = {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}
                return op, params
        allowed = sorted({op.method for op, _ in matches if op.template in templates})
        raise ContractViolation(
            f"method {method} is not declared for {templates[0]} (declared: {', '.join(allowed)})"
        )

    def check_query(self, op: _Operation, query: dict[str, list[str]]) -> list[str]:
        problems: list[str] = []
        for name, values in query.items():
            param = op.query.get(name)
            if param is None:
                declared = ", ".join(sorted(op.query)) or "none"
                problems.append(
                    f"query parameter {name!r} is not declared for {op.operation_id} (declared: {declared})"
                )
                continue
            if len(values) != 1:
                problems.append(f"query parameter {name!r} given {len(values)} times")
                continue
            problem = self._check_query_value(name, values[0], param)
            if problem:
                problems.append(problem)
        return problems

    @staticmethod
    def _check_query_value(name: str, value: str, param: dict[str, Any]) -> str | None:
        if "enum" in param:
            if value in param["enum"] or re.fullmatch(r"[+-]?\d+", value):
                return None
            return f"query parameter {name!r}={value!r} is not one of {param['enum']}"
        kind = param.get("type")
        if kind == "integer":
            bits = 32 if param.get("format") == "int32" else 64
            if re.fullmatch(r"[+-]?\d+", value) and -(1 << (bits - 1)) <= int(value) < (1 << (bits - 1)):
                return None
            return f"query parameter {name!r}={value!r} is not an int{bits}"
        if kind == "string" and param.get("format") in ("int64", "uint64"):
            if re.fullmatch(r"[+-]?\d+", value):
                return None
            return f"query parameter {name!r}={value!r} is not an integer"
        if kind == "boolean" and value not in _GO_BOOLS:
            return f"query parameter {name!r}={value!r} is not a boolean"
        return None

    # JSON bodies ---------------------------------------------------------------------------

    def check_json(self, value: Any, schema: dict[str, Any], where: str, problems: list[str]) -> Any:
        """Check `value` against `schema`; return it with camelCase field names made snake_case.

        jsonpb (which grpc-gateway v1.16 uses) accepts a field's proto name and its JSON
        (lowerCamelCase) name, rejects unknown fields, and accepts int64s as strings.
        """
        schema, title = self._resolve(schema)
        if value is None:
            return None
        if "allOf" in schema:
            merged: dict[str, Any] = {"type": "object", "properties": {}}
            for sub in schema["allOf"]:
                sub_schema, sub_title = self._resolve(sub)
                merged["properties"].update(sub_schema.get("properties", {}))
                title = title or sub_title
            schema = merged
        if "enum" in schema:
            ok = (isinstance(value, str) and value in schema["enum"]) or (
                isinstance(value, int) and not isinstance(value, bool)
            )
            if not ok:
                problems.append(f"{where}: {value!r} is not one of {schema['enum']}")
            return value
        kind = schema.get("type")
        if kind == "object" or "properties" in schema or "additionalProperties" in schema:
            return self._check_object(value, schema, title, where, problems)
        if kind == "array":
            if not isinstance(value, list):
                problems.append(f"{where}: expected a JSON array, got {type(value).__name__}")
                return value
            return [
                self.check_json(v, schema.get("items", {}), f"{where}[{i}]", problems)
                for i, v in enumerate(value)
            ]
        if kind == "string":
            self._check_string(value, schema.get("format"), where, problems)
        elif kind == "integer":
            if isinstance(value, bool) or not (
                isinstance(value, int)
                or (isinstance(value, float) and value.is_integer())
                or (isinstance(value, str) and re.fullmatch(r"-?\d+", value))
            ):
                problems.append(f"{where}: expected an integer, got {value!r}")
        elif kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                problems.append(f"{where}: expected a number, got {value!r}")
        elif kind == "boolean" and not isinstance(value, bool):
            problems.append(f"{where}: expected a boolean, got {value!r}")
        return value

    def _check_string(self, value: Any, fmt: str | None, where: str, problems: list[str]) -> None:
        if fmt in ("int64", "uint64"):
            if isinstance(value, bool) or not (
                isinstance(value, int)
                or (isinstance(value, float) and value.is_integer())
                or (isinstance(value, str) and re.fullmatch(r"-?\d+", value))
            ):
                problems.append(f"{where}: expected an int64 (number or decimal string), got {value!r}")
            return
        if not isinstance(value, str):
            problems.append(f"{where}: expected a string, got {type(value).__name__} {value!r}")
            return
        if fmt == "date-time":
            try:
                _parse_rfc3339(value)
            except ValueError:
                problems.append(f"{where}: {value!r} is not an RFC 3339 timestamp")
        elif fmt == "byte":
            try:
                base64.b64decode(value, validate=True)
            except ValueError:
                problems.append(f"{where}: {value!r} is not base64")

    def _check_object(
        self, value: Any, schema: dict[str, Any], title: str, where: str, problems: list[str]
    ) -> Any:
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a JSON object, got {type(value).__name__}")
            return value
        props: dict[str, Any] | None = schema.get("properties")
        if props:
            out: dict[str, Any] = {}
            for key, item in value.items():
                name = key if key in props else _camel_to_snake(key)
                if name not in props:
                    problems.append(
                        f"{where}: unknown field {key!r} (not a property of {title or 'the schema'})"
                    )
                    continue
                if name in out:
                    problems.append(f"{where}: field {name!r} given twice")
                out[name] = self.check_json(item, props[name], f"{where}.{name}", problems)
            for oneof, members in _ONEOFS.get(title, ()):
                present = [m for m in members if out.get(m) is not None]
                if len(present) > 1:
                    problems.append(f"{where}: sets {', '.join(present)}, members of the same oneof {oneof}")
            return out
        additional = schema.get("additionalProperties")
        if additional is not None:
            add_schema, _ = self._resolve(additional)
            if add_schema.get("type") == "object" and not add_schema.get("properties"):
                return value  # map<string, google.protobuf.Value>: any JSON value
            return {k: self.check_json(v, additional, f"{where}[{k!r}]", problems) for k, v in value.items()}
        return value  # google.protobuf.Struct

    def _resolve(self, schema: dict[str, Any]) -> tuple[dict[str, Any], str]:
        title = ""
        seen = 0
        while "$ref" in schema and seen < 32:
            title = schema["$ref"].rsplit("/", 1)[-1]
            schema = self.definitions.get(title, {})
            seen += 1
        return schema, title


# --------------------------------------------------------------------------------------------
# Pipeline specs
# --------------------------------------------------------------------------------------------

_SPEC_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_MLMD_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")


@dataclass
class _Template:
    spec: dict[str, Any]
    platform: dict[str, Any] | None

    @property
    def name(self) -> str:
        return str((self.spec.get("pipelineInfo") or {}).get("name") or "")

    def api_struct(self) -> dict[str, Any]:
        """The `pipeline_spec` Struct KFP returns (server/api_util.go@2.5.0 yamlStringToPipelineSpecStruct)."""
        if self.platform is None:
            return copy.deepcopy(self.spec)
        return {"pipeline_spec": copy.deepcopy(self.spec), "platform_spec": copy.deepcopy(self.platform)}


def _is_pipeline_spec(doc: Any) -> bool:
    # template/template.go@2.5.0 isPipelineSpec: a named pipelineInfo and a root component.
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("pipelineInfo"), dict)
        and bool(doc["pipelineInfo"].get("name"))
        and doc.get("root") is not None
    )


def _is_kubernetes_platform_spec(doc: Any) -> bool:
    # template/v2_template.go@2.5.0 IsPlatformSpecWithKubernetesConfig.
    return (
        isinstance(doc, dict) and isinstance(doc.get("platforms"), dict) and "kubernetes" in doc["platforms"]
    )


def _parse_template(docs: list[Any]) -> _Template:
    """Validate pipeline-spec documents as template.New / NewV2SpecTemplate do (template/*.go@2.5.0)."""
    if not any(_is_pipeline_spec(d) for d in docs):
        raise _invalid_details("pipeline spec is invalid", "unknown template format")
    spec: dict[str, Any] | None = None
    platform: dict[str, Any] | None = None
    for doc in docs:
        if doc is None:
            continue
        if _is_pipeline_spec(doc):
            if spec is not None:
                raise _invalid_details("pipeline spec is invalid", "multiple pipeline specs provided")
            version = doc.get("schemaVersion", "")
            if version != "2.1.0":
                raise _invalid_details(
                    "pipeline spec is invalid",
                    f"KFP only supports schema version 2.1.0, but the pipeline spec has version {version}",
                )
            # NewV2SpecTemplate uses regexp.MatchString, which is unanchored.
            if not _SPEC_NAME.search(doc["pipelineInfo"]["name"]):
                raise _invalid_details(
                    "pipeline spec is invalid",
                    "invalid v2 pipeline spec: name should consist of lower case alphanumeric characters, "
                    "'-' or '.', and must start and end with an alphanumeric character",
                )
            spec = doc
        elif _is_kubernetes_platform_spec(doc):
            if platform is not None:
                raise _invalid_details("platform spec is invalid", "multiple platform specs provided")
            platform = doc
    assert spec is not None
    return _Template(spec=spec, platform=platform)


def _template_from_text(text: str) -> _Template:
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise _invalid_details(
            "pipeline spec is invalid", f"unable to decode yaml document: {str(exc).splitlines()[0]}"
        ) from None
    return _parse_template(docs)


def _template_from_struct(struct: dict[str, Any]) -> _Template:
    # server/api_util.go@2.5.0 pipelineSpecStructToYamlString: {"pipeline_spec", "platform_spec"} or a bare spec.
    if "pipeline_spec" in struct:
        docs = [struct["pipeline_spec"]]
        if "platform_spec" in struct:
            docs.append(struct["platform_spec"])
        return _parse_template(docs)
    return _parse_template([struct])


def _validate_pipeline_name(name: str) -> None:
    # common/utils.go@2.5.0 ValidatePipelineName (MLMD's requirement on pipelineInfo.name).
    if name == "":
        raise _invalid("pipeline's name cannot be empty")
    if len(name) > 128:
        raise _invalid("pipeline's name must contain no more than 128 characters")
    if not _MLMD_NAME.match(name):
        raise _invalid(
            "pipeline's name must contain only lowercase alphanumeric characters or '-' and must start "
            "with alphanumeric characters"
        )


def _validate_inputs(template: _Template, parameters: dict[str, Any]) -> None:
    """template/v2_template.go@2.5.0 validatePipelineJobInputs, run on every run and recurring run."""
    declared = ((template.spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
    for name, param in declared.items():
        param = param or {}
        if name not in parameters:
            if not param.get("isOptional") and param.get("defaultValue") is None:
                raise _invalid(
                    f"parameter {name} is not optional, yet has neither default value nor user provided value"
                )
            continue
        value = parameters[name]
        kind = param.get("parameterType", "PARAMETER_TYPE_ENUM_UNSPECIFIED")
        if kind == "PARAMETER_TYPE_ENUM_UNSPECIFIED":
            raise _invalid(f"input parameter {name} has unspecified type")
        if kind in ("NUMBER_DOUBLE", "NUMBER_INTEGER"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _invalid(
                    f"input parameter {name} requires type double or integer, but the parameter value is not "
                    "of number value type"
                )
        elif kind == "STRING":
            if not isinstance(value, str):
                raise _invalid(
                    f"input parameter {name} requires type string, but the input parameter is not of string "
                    "value type"
                )
        elif kind == "BOOLEAN":
            if not isinstance(value, bool):
                raise _invalid(
                    f"input parameter {name} requires type bool, but the input parameter is not of bool value type"
                )
        elif kind == "LIST":
            if not isinstance(value, list):
                raise _invalid(
                    f"input parameter {name} requires type list, but the input parameter is not of list value type"
                )
        elif kind == "STRUCT":
            if not isinstance(value, dict):
                raise _invalid(
                    f"input parameter {name} requires type struct, but the input parameter is not of struct "
                    "value type"
                )
        elif kind == "TASK_FINAL_STATUS":
            raise _invalid(
                f"input parameter {name} requires type TASK_FINAL_STATUS, which is invalid for root component"
            )
        else:
            raise _invalid(f"input parameter {name} requires type unknown")
    extra = [name for name in parameters if name not in declared]
    if extra:
        raise _invalid(f"parameter(s) provided are not required by pipeline: {', '.join(extra)}")


def _read_pipeline_file(filename: str, data: bytes) -> str:
    """server/util.go@2.5.0 ReadPipelineFile: YAML/JSON by name, else a zip or a gzipped tarball."""
    if len(data) > MAX_FILE_LENGTH:
        raise _invalid(f"File size too large. Maximum supported size: {MAX_FILE_LENGTH}")
    if filename.endswith((".yaml", ".yml", ".json")):
        return data.decode("utf-8", "replace")
    if data[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = archive.namelist()
                if not names:
                    raise _invalid("Error extracting pipeline from the zip file. Empty zip file")
                chosen = "pipeline.yaml" if "pipeline.yaml" in names else names[0]
                if not chosen.endswith((".yaml", ".yml")):
                    raise _invalid(
                        "Error extracting pipeline from the zip file. Expecting a pipeline.yaml file inside "
                        f"the zip. Got: {chosen}"
                    )
                return archive.read(chosen).decode("utf-8", "replace")
        except zipfile.BadZipFile as exc:
            raise _invalid_details(
                str(exc), "Error extracting pipeline from the zip file. Not a valid zip file"
            ) from None
    if data[:2] == b"\x1f\x8b":
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
                members = [m for m in archive.getmembers() if m.isfile()]
                chosen_member = next((m for m in members if m.name == "pipeline.yaml"), None)
                if chosen_member is None:
                    if not members or not members[0].name.endswith((".yaml", ".yml")):
                        got = members[0].name if members else ""
                        raise _invalid(
                            "Error extracting pipeline from the tarball file. Expecting a pipeline.yaml file "
                            f"inside the tarball. Got: {got}"
                        )
                    chosen_member = members[0]
                extracted = archive.extractfile(chosen_member)
                return (extracted.read() if extracted else b"").decode("utf-8", "replace")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise _invalid_details(
                str(exc), "Error extracting pipeline from the tarball file. Not a valid tarball file"
            ) from None
    raise _invalid("Unexpected pipeline file format. Support .zip, .tar.gz, .json or YAML")


# --------------------------------------------------------------------------------------------
# Listing: KFP's filter JSON, sort_by and keyset page tokens
# --------------------------------------------------------------------------------------------

_OPERATIONS = (
    "OPERATION_UNSPECIFIED",
    "EQUALS",
    "NOT_EQUALS",
    "GREATER_THAN",
    "GREATER_THAN_EQUALS",
    "LESS_THAN",
    "LESS_THAN_EQUALS",
    "IN",
    "IS_SUBSTRING",
)
_SCALAR_OPERATIONS = frozenset(_OPERATIONS[1:7])
_PREDICATE_VALUES = {
    "int_value": "int",
    "long_value": "long",
    "string_value": "string",
    "timestamp_value": "timestamp",
    "int_values": "ints",
    "long_values": "longs",
    "string_values": "strings",
}


@dataclass(frozen=True)
class _Listable:
    """A resource as list/list.go@2.5.0 sees it: API field names mapped to model columns."""

    model: str
    key: str  # the primary key's API field
    fields: dict[str, str]  # API field -> model column (model/*.go@2.5.0 APIToModelFieldMap)
    columns: dict[str, Callable[[dict[str, Any]], Any]]  # model column -> value of an item


def _ts_column(name: str) -> Callable[[dict[str, Any]], Any]:
    def get(item: dict[str, Any]) -> int:
        value = item.get(name)
        return _parse_rfc3339(value) if isinstance(value, str) else 0

    return get


def _str_column(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda item: item.get(name, "")


def _parse_filter(encoded: str) -> list[tuple[str, str, Any]]:
    """Parse a v2beta1 Filter as KFP does (server/list_request_util.go@2.5.0, filter/filter.go@2.5.0).

    Returns (operation, API key, value) triples. jsonpb accepts proto and camelCase field
    names and enum names or numbers; unknown fields are errors.
    """
    try:
        decoded = _go_query_unescape(encoded)
        doc = json.loads(decoded)
        if not isinstance(doc, dict):
            raise ValueError("a Filter must be a JSON object")
        unknown = [k for k in doc if k != "predicates"]
        if unknown:
            raise ValueError(f'unknown field "{unknown[0]}" in v2beta1.Filter')
        predicates = doc.get("predicates") or []
        if not isinstance(predicates, list):
            raise ValueError("predicates must be an array")
        parsed = [_parse_predicate(p) for p in predicates]
    except (ValueError, TypeError) as exc:
        raise _invalid(f"failed to parse valid filter from {encoded!r}: {exc}") from None
    out: list[tuple[str, str, Any]] = []
    for operation, key, value in parsed:
        if operation is None:
            raise KFPError(
                3,
                "UnknownApiVersionError: Error using Filter.Predicate.Operation with v2beta1.Predicate_Operation",
                "Error using Filter.Predicate.Operation with v2beta1.Predicate_Operation",
            )
        if value is None:
            raise KFPError(
                3,
                "UnknownApiVersionError: Error using Filter.Predicate.Value with <nil>",
                "Error using Filter.Predicate.Value with <nil>",
            )
        if key == "":
            raise _invalid(f"Predicate key cannot be empty for operation {operation} and value {value}")
        if operation == "IN" and not isinstance(value, list):
            raise _invalid(f"cannot use IN operator with scalar type {type(value).__name__}")
        if operation in _SCALAR_OPERATIONS and isinstance(value, list):
            raise _invalid(f"cannot use scalar operator {operation} on array type")
        if operation == "IS_SUBSTRING" and not isinstance(value, str):
            raise _invalid(f"cannot use non string value type with operator {operation}")
        out.append((operation, key, value))
    return out


def _parse_predicate(raw: Any) -> tuple[str | None, str, Any]:
    if not isinstance(raw, dict):
        raise ValueError("a predicate must be a JSON object")
    operation: str | None = None
    key = ""
    value: Any = None
    seen_value = ""
    for field_name, item in raw.items():
        name = _camel_to_snake(field_name)
        if name == "operation":
            if isinstance(item, str) and item in _OPERATIONS:
                operation = item if item != "OPERATION_UNSPECIFIED" else None
            elif isinstance(item, int) and not isinstance(item, bool):
                operation = _OPERATIONS[item] if 0 < item < len(_OPERATIONS) else None
            else:
                raise ValueError(f"invalid value for enum type: {json.dumps(item)}")
        elif name == "key":
            if not isinstance(item, str):
                raise ValueError("key must be a string")
            key = item
        elif name in _PREDICATE_VALUES:
            if item is None:
                continue
            if seen_value:
                raise ValueError(f"oneof v2beta1.Predicate.value is already set ({seen_value})")
            seen_value = name
            value = _predicate_value(_PREDICATE_VALUES[name], item)
        else:
            raise ValueError(f'unknown field "{field_name}" in v2beta1.Predicate')
    return operation, key, value


def _predicate_value(kind: str, item: Any) -> Any:
    if kind in ("int", "long"):
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise ValueError(f"invalid value for {kind} field: {json.dumps(item)}")
        return int(item)
    if kind == "string":
        if not isinstance(item, str):
            raise ValueError(f"invalid value for string field: {json.dumps(item)}")
        return item
    if kind == "timestamp":
        if not isinstance(item, str):
            raise ValueError(f"invalid value for timestamp field: {json.dumps(item)}")
        return _parse_rfc3339(item)
    if not isinstance(item, dict) or any(k != "values" for k in item):
        raise ValueError(f"invalid value for {kind} field: {json.dumps(item)}")
    values = item.get("values") or []
    if kind == "strings":
        return [str(v) for v in values]
    return [int(v) for v in values]


def _compare(item_value: Any, value: Any) -> int:
    if isinstance(item_value, int) and isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            item_value = str(item_value)
    elif isinstance(item_value, str) and isinstance(value, int):
        value = str(value)
    return int(item_value > value) - int(item_value < value)


def _matches(predicates: list[list[Any]], item: dict[str, Any], kind: _Listable) -> bool:
    for operation, column, value in predicates:
        current = kind.columns[column](item)
        if operation == "EQUALS":
            ok = _compare(current, value) == 0
        elif operation == "NOT_EQUALS":
            ok = _compare(current, value) != 0
        elif operation == "GREATER_THAN":
            ok = _compare(current, value) > 0
        elif operation == "GREATER_THAN_EQUALS":
            ok = _compare(current, value) >= 0
        elif operation == "LESS_THAN":
            ok = _compare(current, value) < 0
        elif operation == "LESS_THAN_EQUALS":
            ok = _compare(current, value) <= 0
        elif operation == "IN":
            ok = any(_compare(current, v) == 0 for v in value)
        else:  # IS_SUBSTRING
            ok = str(value) in str(current)
        if not ok:
            return False
    return True


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


@dataclass
class Recorded:
    """One request as the server received it, and the status it answered (0 while unanswered)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON; for multipart {"fields": {name: str}, "files": {name: bytes}}; None when empty
    status: int


@dataclass
class _Script:
    states: list[str]
    task_details: list[list[dict[str, Any]]] | None
    cursor: int = 0


@dataclass
class _Ctx:
    op: _Operation
    path: dict[str, str]
    query: dict[str, str]
    body: Any
    user: str
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    fetched: tuple[str, bytes] | None = None


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    kfp: KFPServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Never print tracebacks: a client that hangs up is not the server's problem."""


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "kfp-loopback/2.5.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing (tests read `KFPServer.requests` instead)."""

    def _dispatch(self) -> None:
        self.server.kfp._handle(self)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_OPTIONS = _dispatch


_PIPELINES = _Listable(
    model="pipelines",
    key="pipeline_id",
    fields={
        "id": "UUID",
        "pipeline_id": "UUID",
        "name": "Name",
        "display_name": "Name",
        "created_at": "CreatedAtInSec",
        "description": "Description",
        "namespace": "Namespace",
    },
    columns={
        "UUID": _str_column("pipeline_id"),
        "Name": _str_column("display_name"),
        "CreatedAtInSec": _ts_column("created_at"),
        "Description": _str_column("description"),
        "Namespace": _str_column("namespace"),
    },
)
_VERSIONS = _Listable(
    model="pipeline_versions",
    key="pipeline_version_id",
    fields={
        "id": "UUID",
        "pipeline_version_id": "UUID",
        "name": "Name",
        "display_name": "Name",
        "created_at": "CreatedAtInSec",
        "status": "Status",
        "description": "Description",
        "pipeline_spec": "PipelineSpec",
    },
    columns={
        "UUID": _str_column("pipeline_version_id"),
        "Name": _str_column("display_name"),
        "CreatedAtInSec": _ts_column("created_at"),
        "Status": lambda item: "READY",
        "Description": _str_column("description"),
        "PipelineSpec": lambda item: yaml.safe_dump(item.get("pipeline_spec") or {}),
    },
)
_EXPERIMENTS = _Listable(
    model="experiments",
    key="experiment_id",
    fields={
        "id": "UUID",
        "experiment_id": "UUID",
        "name": "Name",
        "display_name": "Name",
        "created_at": "CreatedAtInSec",
        "last_run_created_at": "LastRunCreatedAtInSec",
        "description": "Description",
        "namespace": "Namespace",
        "storage_state": "StorageState",
    },
    columns={
        "UUID": _str_column("experiment_id"),
        "Name": _str_column("display_name"),
        "CreatedAtInSec": _ts_column("created_at"),
        "LastRunCreatedAtInSec": _ts_column("last_run_created_at"),
        "Description": _str_column("description"),
        "Namespace": _str_column("namespace"),
        "StorageState": _str_column("storage_state"),
    },
)
_JOBS = _Listable(
    model="jobs",
    key="recurring_run_id",
    fields={
        "id": "UUID",
        "recurring_run_id": "UUID",
        "name": "DisplayName",
        "display_name": "DisplayName",
        "created_at": "CreatedAtInSec",
        "updated_at": "UpdatedAtInSec",
        "description": "Description",
    },
    columns={
        "UUID": _str_column("recurring_run_id"),
        "DisplayName": _str_column("display_name"),
        "CreatedAtInSec": _ts_column("created_at"),
        "UpdatedAtInSec": _ts_column("updated_at"),
        "Description": _str_column("description"),
    },
)


class KFPServer:
    """A KFP 2.5 v2beta1 API server on 127.0.0.1 that enforces the swagger contract.

    State is public so tests can look at it: `pipelines`, `versions`, `experiments`, `runs` and
    `recurring_runs` hold each resource's JSON exactly as the server last returned it.
    """

    def __init__(self, swagger_path: Path | None = None) -> None:
        path = swagger_path or DEFAULT_SWAGGER
        self._contract = _Contract(json.loads(Path(path).read_text()))
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        # Exceptions the server itself raised while handling a request (a bug here, not in the client).
        self.server_errors: list[str] = []
        # Set by a test that provokes violations on purpose; the `kfp_server` fixture reads it.
        self.allow_violations = False
        self.pipelines: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, dict[str, Any]] = {}
        self.experiments: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.recurring_runs: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self._token: str | None = None
        self._cookie: tuple[str, str] | None = None
        self._namespaces: frozenset[str] | None = None
        self._next_script: _Script | None = None
        self._scripts: dict[str, _Script] = {}
        self._run_namespace: dict[str, str] = {}
        self._run_template: dict[str, _Template] = {}
        self._default_experiment_id = ""
        self._hang = threading.Event()
        self._closed = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url = ""
        self._routes: dict[str, Callable[[_Ctx], Any]] = {
            "HealthzService_GetHealthz": self._healthz,
            "AuthService_Authorize": self._authorize_endpoint,
            "UploadPipeline": self._upload_pipeline,
            "UploadPipelineVersion": self._upload_pipeline_version,
            "PipelineService_CreatePipeline": self._create_pipeline,
            "PipelineService_CreatePipelineAndVersion": self._create_pipeline_and_version,
            "PipelineService_GetPipeline": self._get_pipeline,
            "PipelineService_GetPipelineByName": self._get_pipeline_by_name,
            "PipelineService_ListPipelines": self._list_pipelines,
            "PipelineService_DeletePipeline": self._delete_pipeline,
            "PipelineService_CreatePipelineVersion": self._create_pipeline_version,
            "PipelineService_GetPipelineVersion": self._get_pipeline_version,
            "PipelineService_ListPipelineVersions": self._list_pipeline_versions,
            "PipelineService_DeletePipelineVersion": self._delete_pipeline_version,
            "ExperimentService_CreateExperiment": self._create_experiment,
            "ExperimentService_GetExperiment": self._get_experiment,
            "ExperimentService_ListExperiments": self._list_experiments,
            "ExperimentService_DeleteExperiment": self._delete_experiment,
            "ExperimentService_ArchiveExperiment": self._archive_experiment,
            "ExperimentService_UnarchiveExperiment": self._unarchive_experiment,
            "RunService_CreateRun": self._create_run,
            "RunService_GetRun": self._get_run,
            "RunService_ListRuns": self._list_runs,
            "RunService_DeleteRun": self._delete_run,
            "RunService_TerminateRun": self._terminate_run,
            "RunService_ArchiveRun": self._archive_run,
            "RunService_UnarchiveRun": self._unarchive_run,
            "RunService_RetryRun": self._retry_run,
            "RunService_ReadArtifact": self._read_artifact,
            "RecurringRunService_CreateRecurringRun": self._create_recurring_run,
            "RecurringRunService_GetRecurringRun": self._get_recurring_run,
            "RecurringRunService_ListRecurringRuns": self._list_recurring_runs,
            "RecurringRunService_EnableRecurringRun": self._enable_recurring_run,
            "RecurringRunService_DisableRecurringRun": self._disable_recurring_run,
            "RecurringRunService_DeleteRecurringRun": self._delete_recurring_run,
        }

    # Lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, once started."""
        if not self._url:
            raise RuntimeError("KFPServer.start() has not been called")
        return self._url

    def start(self) -> KFPServer:
        if self._httpd is not None:
            return self
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.kfp = self
        self._httpd = httpd
        self._url = f"http://127.0.0.1:{httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="kfp-loopback", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, release requests held by `stop_answering`, and free the port."""
        self._closed.set()
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> KFPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Test controls -------------------------------------------------------------------------

    def require_token(self, token: str | None) -> None:
        """Requests must carry `Authorization: Bearer <token>`: none -> 401, another token -> 403."""
        self._token = token

    def require_cookie(self, name: str, value: str) -> None:
        """Requests must carry the session cookie `name=value` (oauth2-proxy / Dex style).

        Missing -> 401, a different value -> 403. With both a token and a cookie required,
        either credential is enough, as oauth2-proxy with --skip-jwt-bearer-tokens behaves.
        """
        self._cookie = (name, value)

    def set_namespaces(self, namespaces: set[str] | None) -> None:
        """Multi-user mode with the user allowed into `namespaces`; None = single-user mode."""
        self._namespaces = None if namespaces is None else frozenset(namespaces)

    def script_run(self, states: list[str], task_details: list[list[dict[str, Any]]] | None = None) -> None:
        """Make the next created run report `states`: creation shows states[0], each GET the next one.

        The last state repeats. `task_details[i]` becomes `run_details.task_details` while the
        run is in `states[i]`; each dict is checked against V2beta1PipelineTaskDetail.
        """
        if not states:
            raise ValueError("script_run needs at least one state")
        unknown = [s for s in states if s not in RUNTIME_STATES]
        if unknown:
            raise ValueError(f"not V2beta1RuntimeState names: {unknown}; use {RUNTIME_STATES}")
        if task_details is not None:
            if len(task_details) != len(states):
                raise ValueError("task_details needs one list per state")
            schema = {"$ref": "#/definitions/v2beta1PipelineTaskDetail"}
            problems: list[str] = []
            for i, details in enumerate(task_details):
                for j, detail in enumerate(details):
                    self._contract.check_json(detail, schema, f"task_details[{i}][{j}]", problems)
            if problems:
                raise ValueError("; ".join(problems))
        self._next_script = _Script(list(states), copy.deepcopy(task_details))

    def stop_answering(self) -> None:
        """From now on, accept requests but never answer them (until close())."""
        self._hang.set()

    def last(self, method: str, path_suffix: str) -> Recorded:
        with self._lock:
            for rec in reversed(self.requests):
                if rec.method == method.upper() and rec.path.endswith(path_suffix):
                    return rec
            seen = [f"{r.method} {r.path}" for r in self.requests]
        raise LookupError(f"no {method.upper()} request to a path ending in {path_suffix!r}; got {seen}")

    # HTTP plumbing -------------------------------------------------------------------------

    def _handle(self, h: _Handler) -> None:
        split = urllib.parse.urlsplit(h.path)
        path = split.path
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        headers: dict[str, str] = {}
        for name, value in h.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        body_problem = ""
        try:
            raw = self._read_body(h, headers)
        except ValueError as exc:
            raw, body_problem = b"", str(exc)
        parsed, files, parse_problem = self._parse_body(headers.get("content-type", ""), raw)
        rec = Recorded(h.command, path, query, headers, parsed, 0)
        with self._lock:
            self.requests.append(rec)
        if self._hang.is_set():
            self._closed.wait()
            h.close_connection = True
            return
        try:
            status, payload = self._answer(
                h.command, path, query, headers, parsed, files, body_problem or parse_problem
            )
        except Exception as exc:  # a bug in this server: answer 500 and let the fixture report it
            with self._lock:
                self.server_errors.append(f"{h.command} {path}: {type(exc).__name__}: {exc}")
            status, payload = 500, KFPError(13, f"loopback KFP server error: {exc}").body()
        rec.status = status
        data = json.dumps(payload).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(data)
        except OSError:
            pass

    @staticmethod
    def _read_body(h: _Handler, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = bytearray()
            while True:
                line = h.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    h.rfile.readline(1024)
                    return bytes(chunks)
                if len(chunks) + size > MAX_REQUEST_BYTES:
                    raise ValueError("request body too large")
                chunks += h.rfile.read(size)
                h.rfile.readline(1024)
        length = headers.get("content-length")
        if length is None:
            return b""
        if not length.strip().isdigit():
            raise ValueError(f"malformed Content-Length {length!r}")
        size = int(length)
        if size > MAX_REQUEST_BYTES:
            raise ValueError("request body too large")
        return h.rfile.read(size)

    @staticmethod
    def _parse_body(content_type: str, raw: bytes) -> tuple[Any, dict[str, tuple[str, bytes]], str]:
        """The body as JSON, or multipart parts (parsed with the stdlib `email` parser)."""
        if not raw:
            return None, {}, ""
        if content_type.lower().startswith("multipart/form-data"):
            try:
                message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                    b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
                )
            except Exception as exc:  # the email parser is lenient, but be safe on hostile input
                return raw.decode("utf-8", "replace"), {}, f"unparseable multipart body: {exc}"
            if not message.is_multipart():
                return raw.decode("utf-8", "replace"), {}, "multipart body without parts"
            fields: dict[str, str] = {}
            files: dict[str, tuple[str, bytes]] = {}
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if not isinstance(name, str):
                    continue
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
                filename = part.get_filename()
                if filename is not None:
                    files[name] = (filename, data)
                else:
                    fields[name] = data.decode("utf-8", "replace")
            recorded = {"fields": fields, "files": {k: v[1] for k, v in files.items()}}
            return recorded, files, ""
        text = raw.decode("utf-8", "replace")
        try:
            return json.loads(text), {}, ""
        except ValueError as exc:
            return text, {}, f"body is not JSON: {exc}"

    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: Any,
        files: dict[str, tuple[str, bytes]],
        body_problem: str,
    ) -> tuple[int, dict[str, Any]]:
        auth = self._authenticate(headers)
        if auth is not None:
            return auth
        try:
            op, path_params, normalized = self._check_contract(
                method, path, query, headers, body, files, body_problem
            )
        except ContractViolation as exc:
            message = f"contract violation: {exc}"
            with self._lock:
                self.violations.append(f"{method} {path}: {exc}")
            return 400, {"error": message, "code": 3, "message": message, "details": []}
        ctx = _Ctx(
            op=op,
            path=path_params,
            query={k: v[0] for k, v in query.items()},
            body=normalized,
            user=headers.get(USER_ID_HEADER) or DEFAULT_USER,
            files=files,
        )
        handler = self._routes.get(op.operation_id)
        try:
            if handler is None:
                raise KFPError(12, f"{op.operation_id} is not implemented by the loopback KFP server")
            if op.operation_id in (
                "PipelineService_CreatePipelineAndVersion",
                "PipelineService_CreatePipelineVersion",
            ):
                # KFP downloads the package URL; do it before taking the lock (the URL may be ours).
                ctx.fetched = self._fetch_package(ctx)
            with self._lock:
                return 200, handler(ctx)
        except KFPError as exc:
            return exc.http_status, exc.body()
        except _UploadError as exc:
            return exc.status, exc.body()

    def _authenticate(self, headers: dict[str, str]) -> tuple[int, dict[str, Any]] | None:
        if self._token is None and self._cookie is None:
            return None
        wrong: list[str] = []
        if self._token is not None and "authorization" in headers:
            scheme, _, credential = headers["authorization"].partition(" ")
            if scheme.lower() == "bearer" and credential.strip() == self._token:
                return None
            wrong.append("bearer token")
        if self._cookie is not None:
            name, value = self._cookie
            jar: dict[str, str] = {}
            for pair in headers.get("cookie", "").split(";"):
                key, sep, val = pair.strip().partition("=")
                if sep:
                    jar.setdefault(key.strip(), val.strip().strip('"'))
            if name in jar:
                if jar[name] == value:
                    return None
                wrong.append(f"cookie {name}")
        if wrong:
            error = KFPError(
                7, f"Forbidden: the {' and '.join(wrong)} presented is not valid for this server"
            )
            return 403, {**error.body(), "details": []}
        wanted = " or ".join(
            x
            for x in (
                "an Authorization: Bearer token" if self._token is not None else "",
                f"the session cookie {self._cookie[0]}" if self._cookie is not None else "",
            )
            if x
        )
        error = KFPError(16, f"Unauthorized: the request carries no credentials; expected {wanted}")
        return 401, {**error.body(), "details": []}

    def _check_contract(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: Any,
        files: dict[str, tuple[str, bytes]],
        body_problem: str,
    ) -> tuple[_Operation, dict[str, str], Any]:
        op, path_params = self._contract.match(method, path)
        problems = self._contract.check_query(op, query)
        if body_problem:
            problems.append(body_problem)
        normalized: Any = None
        if op.form:
            if not headers.get("content-type", "").lower().startswith("multipart/form-data"):
                problems.append(f"{op.operation_id} takes a multipart/form-data body")
            else:
                fields = body.get("fields", {}) if isinstance(body, dict) else {}
                for name, param in op.form.items():
                    if param.get("required") and name not in files and name not in fields:
                        problems.append(f"required form field {name!r} is missing")
                for name in [*fields, *files]:
                    if name not in op.form:
                        problems.append(f"form field {name!r} is not declared for {op.operation_id}")
        elif op.body is not None:
            schema = op.body
            if schema.get("type") == "string":
                normalized = body
            elif body is None:
                problems.append(f"{op.operation_id} requires a JSON body")
            elif not isinstance(body, dict):
                problems.append(f"body must be a JSON object, got {type(body).__name__}")
            else:
                normalized = self._contract.check_json(body, schema, "body", problems)
        elif body not in (None, {}):
            problems.append(f"{op.operation_id} takes no request body")
        if problems:
            raise ContractViolation("; ".join(problems))
        return op, path_params, normalized

    # Namespaces and authorization --------------------------------------------------------------

    @property
    def _multi_user(self) -> bool:
        return self._namespaces is not None

    def _replace_namespace(self, namespace: str) -> str:
        # resource/resource_manager.go@2.5.0 ReplaceNamespace: single-user mode drops it.
        return namespace if self._multi_user else ""

    def _authorize(self, ctx: _Ctx, namespace: str, verb: str, resource: str) -> None:
        """resource/resource_manager.go@2.5.0 IsAuthorized, with a SubjectAccessReview that allows `namespaces`."""
        if self._namespaces is None or namespace in self._namespaces:
            return
        reason = f"namespace {namespace!r} is not one of the user's namespaces {sorted(self._namespaces)}"
        request = (
            f"&ResourceAttributes{{Namespace:{namespace},Verb:{verb},Group:pipelines.kubeflow.org,"
            f"Version:v1beta1,Resource:{resource},}}"
        )
        external = f"User '{ctx.user}' is not authorized with reason: {reason} (request: {request})"
        raise KFPError(7, f"PermissionDenied: {external}: Unauthorized access", external)

    # Healthz and auth ----------------------------------------------------------------------

    def _healthz(self, ctx: _Ctx) -> dict[str, Any]:
        # main.go@2.5.0 writes this JSON by hand (not through grpc-gateway).
        return {"commit_sha": "test", "tag_name": "2.5.0", "multi_user": self._multi_user}

    def _authorize_endpoint(self, ctx: _Ctx) -> dict[str, Any]:
        namespace = ctx.query.get("namespace", "")
        if self._multi_user:
            verb = ctx.query.get("verb", "UNASSIGNED_VERB").lower()
            self._authorize(ctx, namespace, verb, "viewers")
        return {}

    # Pipelines -----------------------------------------------------------------------------

    def _pipeline_or_404(self, pipeline_id: str, context: str) -> dict[str, Any]:
        pipeline = self.pipelines.get(pipeline_id)
        if pipeline is None:
            raise _not_found("Pipeline", pipeline_id).wrap(context)
        return pipeline

    def _version_or_404(self, version_id: str, context: str) -> dict[str, Any]:
        version = self.versions.get(version_id)
        if version is None:
            raise _not_found("PipelineVersion", version_id).wrap(context)
        return version

    def _latest_version(self, pipeline_id: str) -> dict[str, Any] | None:
        versions = [v for v in self.versions.values() if v["pipeline_id"] == pipeline_id]
        if not versions:
            return None
        return max(versions, key=lambda v: (_parse_rfc3339(v["created_at"]), v["pipeline_version_id"]))

    def _store_pipeline(self, name: str, description: str, namespace: str) -> dict[str, Any]:
        # model/pipeline.go@2.5.0: Name and Namespace share a unique index.
        if any(
            p["display_name"] == name and p.get("namespace", "") == namespace for p in self.pipelines.values()
        ):
            raise _already_exists(
                f"Failed to create a new pipeline. The name {name} already exists. Please specify a new name"
            )
        pipeline = _prune(
            {
                "pipeline_id": str(uuid.uuid4()),
                "display_name": name,
                "description": description,
                "created_at": _rfc3339(_now()),
                "namespace": namespace,
            }
        )
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        return pipeline

    def _store_version(
        self, pipeline_id: str, name: str, description: str, template: _Template, package_url: str = ""
    ) -> dict[str, Any]:
        # model/pipeline_version.go@2.5.0: PipelineId and Name share a unique index.
        if any(v["pipeline_id"] == pipeline_id and v["display_name"] == name for v in self.versions.values()):
            raise _already_exists(
                f"Failed to create a new pipeline version. The name {name} already exist. Specify a new name"
            )
        version = _prune(
            {
                "pipeline_id": pipeline_id,
                "pipeline_version_id": str(uuid.uuid4()),
                "display_name": name,
                "description": description,
                "created_at": _rfc3339(_now()),
                "package_url": {"pipeline_url": package_url},
                "pipeline_spec": template.api_struct(),
            },
            _OPAQUE,
        )
        self.versions[version["pipeline_version_id"]] = version
        return version

    @staticmethod
    def _upload_file(ctx: _Ctx, context: str) -> tuple[str, bytes]:
        # r.FormFile("uploadfile") fails when the part is a plain field, not a file.
        if "uploadfile" not in ctx.files:
            raise _UploadError(400, f"{context}: http: no such file")
        return ctx.files["uploadfile"]

    def _upload_pipeline(self, ctx: _Ctx) -> dict[str, Any]:
        """server/pipeline_upload_server.go@2.5.0 uploadPipeline: a pipeline and its first version."""
        filename, data = self._upload_file(ctx, "Failed to read pipeline from file")
        try:
            text = _read_pipeline_file(filename, data)
        except KFPError as exc:
            raise _UploadError(400, f"Failed to read a pipeline spec file: {exc.message}") from None
        namespace = self._replace_namespace(ctx.query.get("namespace", ""))
        if namespace:
            try:
                self._authorize(ctx, namespace, "create", "pipelines")
            except KFPError as exc:
                # The upload handler reports authorization failures as 400, not 403.
                raise _UploadError(
                    400,
                    "Failed to create a pipeline due to authorization error: Authorization Failure: "
                    + exc.message,
                ) from None
        name = ctx.query.get("name") or filename  # buildPipelineName
        description = ctx.query.get("description", "")
        try:
            template = _template_from_text(text)
            _validate_pipeline_name(template.name)
            pipeline = self._store_pipeline(name, description, namespace)
        except KFPError as exc:
            context = "Failed to create a pipeline and a pipeline version"
            if exc.code == 6:
                raise _UploadError(
                    409, f"{context}. The pipeline already exists.: {context}: {exc.message}"
                ) from None
            raise _UploadError(500, f"{context}: {exc.message}") from None
        self._store_version(pipeline["pipeline_id"], name, description, template)
        return pipeline

    def _upload_pipeline_version(self, ctx: _Ctx) -> dict[str, Any]:
        """server/pipeline_upload_server.go@2.5.0 uploadPipelineVersion."""
        filename, data = self._upload_file(
            ctx, "Failed to create a pipeline version due to error parsing pipeline spec filename"
        )
        try:
            text = _read_pipeline_file(filename, data)
        except KFPError as exc:
            raise _UploadError(
                400,
                f"Failed to create a pipeline version due to error reading pipeline spec file: {exc.message}",
            ) from None
        pipeline_id = ctx.query.get("pipelineid", "")
        if not pipeline_id:
            raise _UploadError(400, "Failed to create a pipeline version due to error reading pipeline id")
        pipeline = self.pipelines.get(pipeline_id)
        if pipeline is None:
            raise _UploadError(
                400,
                "Failed to create a pipeline version due to error reading namespace: Failed to get namespace for "
                f"pipeline id {pipeline_id}: Failed to get a pipeline with id {pipeline_id}: "
                + _not_found("Pipeline", pipeline_id).message,
            )
        namespace = pipeline.get("namespace", "")
        if namespace:
            try:
                self._authorize(ctx, namespace, "create", "pipelines")
            except KFPError as exc:
                raise _UploadError(
                    400,
                    "Failed to create a pipeline version due to authorization error: Authorization Failure: "
                    + exc.message,
                ) from None
        name = ctx.query.get("name") or filename
        try:
            template = _template_from_text(text)
            _validate_pipeline_name(template.name)
            return self._store_version(pipeline_id, name, ctx.query.get("description", ""), template)
        except KFPError as exc:
            if exc.code == 6:
                raise _UploadError(
                    409,
                    "Failed to create a pipeline version. The pipeline already exists.: "
                    f"Failed to create pipeline version in PipelineStore: {exc.message}",
                ) from None
            raise _UploadError(500, f"Failed to create a pipeline version: {exc.message}") from None

    def _create_pipeline(self, ctx: _Ctx) -> dict[str, Any]:
        """server/pipeline_server.go@2.5.0 CreatePipeline: a pipeline without versions."""
        body = ctx.body or {}
        context = "Failed to create a pipeline due to server error"
        namespace = self._replace_namespace(body.get("namespace") or "")
        if namespace:
            self._authorize(ctx, namespace, "create", "pipelines")
        name = body.get("display_name") or ""
        try:
            if not name:
                raise _invalid("pipeline's name cannot be empty")
            return self._store_pipeline(name, body.get("description") or "", namespace)
        except KFPError as exc:
            raise exc.wrap(context) from None

    @staticmethod
    def _package_url(ctx: _Ctx) -> str:
        body = ctx.body or {}
        version = body.get("pipeline_version") if ctx.op.operation_id.endswith("AndVersion") else body
        return str(((version or {}).get("package_url") or {}).get("pipeline_url") or "")

    def _fetch_package(self, ctx: _Ctx) -> tuple[str, bytes] | None:
        """Download a package URL as server/pipeline_server.go@2.5.0 does (http.DefaultClient.Get)."""
        url = self._package_url(ctx)
        if not url:
            return None
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            return None  # rejected with KFP's message by the handler
        for_version = ctx.op.operation_id == "PipelineService_CreatePipelineVersion"
        context = (
            "Failed to create a pipeline version. Check error stack"
            if for_version
            else "Failed to create a pipeline"
        )
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return url, response.read(MAX_FILE_LENGTH + 1)
        except urllib.error.HTTPError as exc:
            if for_version:
                message = f"Failed to fetch pipeline spec with url: {url}. Request returned {exc.code}"
            else:
                message = f"error fetching pipeline spec from {url} - request returned {exc.code}"
            raise _invalid(message).wrap(context) from None
        except OSError as exc:
            raise _internal(str(exc), f"error downloading the pipeline spec from {url}").wrap(
                context
            ) from None

    def _create_pipeline_and_version(self, ctx: _Ctx) -> dict[str, Any]:
        """server/pipeline_server.go@2.5.0 CreatePipelineAndVersion: the version comes from a package URL."""
        body = ctx.body or {}
        context = "Failed to create a pipeline"
        pipeline_body = body.get("pipeline") or {}
        url = self._package_url(ctx)
        name = pipeline_body.get("display_name") or Path(urllib.parse.urlsplit(url).path).name
        namespace = self._replace_namespace(pipeline_body.get("namespace") or "")
        if namespace:
            self._authorize(ctx, namespace, "create", "pipelines")
        if ctx.fetched is None:
            raise _invalid(f"invalid pipeline spec URL: {url}").wrap(context)
        try:
            text = _read_pipeline_file(Path(urllib.parse.urlsplit(url).path).name, ctx.fetched[1])
            template = _template_from_text(text)
            _validate_pipeline_name(template.name)
            if not name:
                name = template.name
            description = pipeline_body.get("description") or ""
            pipeline = self._store_pipeline(name, description, namespace)
        except KFPError as exc:
            raise exc.wrap(context) from None
        self._store_version(pipeline["pipeline_id"], name, description, template, package_url=url)
        return pipeline

    def _create_pipeline_version(self, ctx: _Ctx) -> dict[str, Any]:
        """server/pipeline_server.go@2.5.0 CreatePipelineVersion (from a package URL)."""
        body = ctx.body or {}
        pipeline_id = ctx.path["pipeline_id"]
        url = self._package_url(ctx)
        if body.get("package_url") is None:
            raise _invalid("Failed to create a pipeline version. Package URL is nil")
        if not url:
            raise _invalid("Failed to create a pipeline version. Package URL is empty")
        if not body.get("pipeline_id"):
            raise _invalid("Failed to create a pipeline version. Parent pipeline id is empty")
        context = "Failed to create a pipeline version. Check error stack"
        pipeline = self._pipeline_or_404(pipeline_id, context)
        if pipeline.get("namespace"):
            self._authorize(ctx, pipeline["namespace"], "create", "pipelines")
        if ctx.fetched is None:
            raise _invalid(
                "Failed to create a pipeline version due to invalid pipeline spec URI. "
                f"PipelineSpecURI: {url}. Please specify a valid URL"
            ).wrap(context)
        try:
            filename = Path(urllib.parse.urlsplit(url).path).name
            template = _template_from_text(_read_pipeline_file(filename, ctx.fetched[1]))
            _validate_pipeline_name(template.name)
            name = body.get("display_name") or filename
            return self._store_version(
                pipeline_id, name, body.get("description") or "", template, package_url=url
            )
        except KFPError as exc:
            raise exc.wrap(context) from None

    def _get_pipeline(self, ctx: _Ctx) -> dict[str, Any]:
        pipeline_id = ctx.path["pipeline_id"]
        context = (
            f"Failed to get a pipeline {pipeline_id}. Check error stack: "
            f"Failed to get a pipeline with id {pipeline_id}"
        )
        pipeline = self._pipeline_or_404(pipeline_id, context)
        if pipeline.get("namespace"):
            self._authorize(ctx, pipeline["namespace"], "get", "pipelines")
        return pipeline

    def _get_pipeline_by_name(self, ctx: _Ctx) -> dict[str, Any]:
        name = ctx.path["name"]
        namespace = self._replace_namespace(ctx.query.get("namespace", ""))
        if namespace:
            self._authorize(ctx, namespace, "get", "pipelines")
        for pipeline in self.pipelines.values():
            if pipeline["display_name"] == name and pipeline.get("namespace", "") == namespace:
                return pipeline
        raise _not_found("Namespace/Pipeline", f"{namespace}/{name}").wrap(
            f"Failed to get a pipeline with name {name} and namespace {namespace}. Check error stack: "
            f"Failed to get a pipeline named {name} in namespace {namespace}"
        )

    def _list_pipelines(self, ctx: _Ctx) -> dict[str, Any]:
        namespace = self._replace_namespace(ctx.query.get("namespace", ""))
        context = "Failed to list pipelines due invalid list options"
        try:
            opts = self._list_options(_PIPELINES, ctx)
        except KFPError as exc:
            raise exc.wrap(context) from None
        if namespace:
            self._authorize(ctx, namespace, "list", "pipelines")
        items = [p for p in self.pipelines.values() if p.get("namespace", "") == namespace]
        page, total, token = self._page(items, _PIPELINES, opts)
        return _prune({"pipelines": page, "total_size": total, "next_page_token": token}, _OPAQUE)

    def _delete_pipeline(self, ctx: _Ctx) -> dict[str, Any]:
        pipeline_id = ctx.path["pipeline_id"]
        context = f"Failed to delete pipeline {pipeline_id}. Check error stack"
        pipeline = self._pipeline_or_404(
            pipeline_id, f"{context}: Failed to delete pipeline with id {pipeline_id} as it was not found"
        )
        if pipeline.get("namespace"):
            self._authorize(ctx, pipeline["namespace"], "delete", "pipelines")
        latest = self._latest_version(pipeline_id)
        if latest is not None:
            # resource/resource_manager.go@2.5.0 DeletePipeline refuses while versions exist.
            raise _invalid(
                f"Failed to delete pipeline with id {pipeline_id} as it has existing pipeline versions "
                f"(e.g. {latest['pipeline_version_id']})"
            ).wrap(context)
        del self.pipelines[pipeline_id]
        return {}

    def _get_pipeline_version(self, ctx: _Ctx) -> dict[str, Any]:
        # KFP looks the version up by its id alone: the pipeline id in the path is not checked.
        version_id = ctx.path["pipeline_version_id"]
        version = self._version_or_404(
            version_id,
            f"Failed to get a pipeline version {version_id}: Failed to get a pipeline version with id {version_id}",
        )
        namespace = self.pipelines.get(version["pipeline_id"], {}).get("namespace", "")
        if namespace:
            self._authorize(ctx, namespace, "get", "pipelines")
        return version

    def _list_pipeline_versions(self, ctx: _Ctx) -> dict[str, Any]:
        pipeline_id = ctx.path["pipeline_id"]
        try:
            opts = self._list_options(_VERSIONS, ctx)
        except KFPError as exc:
            raise exc.wrap("Failed to list pipeline versions due invalid list options") from None
        pipeline = self._pipeline_or_404(
            pipeline_id,
            f"Failed to list pipeline versions for pipeline {pipeline_id}: Failed to list pipeline versions due to "
            f"error fetching the namespace for pipeline {pipeline_id}",
        )
        if pipeline.get("namespace"):
            self._authorize(ctx, pipeline["namespace"], "list", "pipelines")
        items = [v for v in self.versions.values() if v["pipeline_id"] == pipeline_id]
        page, total, token = self._page(items, _VERSIONS, opts)
        return _prune({"pipeline_versions": page, "total_size": total, "next_page_token": token}, _OPAQUE)

    def _delete_pipeline_version(self, ctx: _Ctx) -> dict[str, Any]:
        version_id = ctx.path["pipeline_version_id"]
        pipeline_id = ctx.path["pipeline_id"]
        version = self._version_or_404(
            version_id,
            f"Failed to delete a pipeline version id {version_id} under pipeline id {pipeline_id}. Check error "
            f"stack: Failed to delete pipeline version with id {version_id} as it was not found",
        )
        namespace = self.pipelines.get(version["pipeline_id"], {}).get("namespace", "")
        if namespace:
            self._authorize(ctx, namespace, "delete", "pipelines")
        del self.versions[version_id]
        return {}

    # Experiments ---------------------------------------------------------------------------

    def _experiment_access(
        self, ctx: _Ctx, experiment_id: str, verb: str, context: str
    ) -> dict[str, Any] | None:
        """server/experiment_server.go@2.5.0 canAccessExperiment (multi-user only)."""
        if not self._multi_user:
            return self.experiments.get(experiment_id)
        experiment = self.experiments.get(experiment_id)
        if experiment is None:
            raise _not_found("Experiment", experiment_id).wrap(
                f"{context}: Failed to authorize with the experiment ID"
            )
        namespace = experiment.get("namespace", "")
        if not namespace:
            raise _invalid("An experiment cannot have an empty namespace in multi-user mode").wrap(context)
        self._authorize(ctx, namespace, verb, "experiments")
        return experiment

    def _store_experiment(self, name: str, description: str, namespace: str) -> dict[str, Any]:
        # model/experiment.go@2.5.0: Name and Namespace share a unique index.
        if any(
            e["display_name"] == name and e.get("namespace", "") == namespace
            for e in self.experiments.values()
        ):
            raise _already_exists(
                f"Failed to create a new experiment. The name {name} already exists. Please specify a new name"
            )
        experiment = _prune(
            {
                "experiment_id": str(uuid.uuid4()),
                "display_name": name,
                "description": description,
                "created_at": _rfc3339(_now()),
                "namespace": namespace,
                "storage_state": "AVAILABLE",
                "last_run_created_at": EPOCH,
            }
        )
        self.experiments[experiment["experiment_id"]] = experiment
        return experiment

    def _create_experiment(self, ctx: _Ctx) -> dict[str, Any]:
        body = ctx.body or {}
        context = "Failed to create an experiment"
        name = body.get("display_name") or ""
        if not name:
            raise _internal(
                _invalid("Experiment must have a non-empty name"),
                "Failed to convert API experiment to model experiment",
            ).wrap(f"{context} due to conversion error")
        namespace = self._replace_namespace(body.get("namespace") or "")
        if self._multi_user:
            if not namespace:
                raise _invalid("An experiment cannot have an empty namespace in multi-user mode").wrap(
                    f"{context}: Failed to authorize the request"
                )
            self._authorize(ctx, namespace, "create", "experiments")
        try:
            return self._store_experiment(name, body.get("description") or "", namespace)
        except KFPError as exc:
            raise exc.wrap(context) from None

    def _get_experiment(self, ctx: _Ctx) -> dict[str, Any]:
        experiment_id = ctx.path["experiment_id"]
        context = "Failed to get experiment"
        self._experiment_access(ctx, experiment_id, "get", f"{context}: Failed to authorize the request")
        experiment = self.experiments.get(experiment_id)
        if experiment is None:
            raise _not_found("Experiment", experiment_id).wrap(context)
        return experiment

    def _list_experiments(self, ctx: _Ctx) -> dict[str, Any]:
        try:
            opts = self._list_options(_EXPERIMENTS, ctx)
        except KFPError as exc:
            raise exc.wrap("Failed to create list options") from None
        namespace = self._replace_namespace(ctx.query.get("namespace", ""))
        if self._multi_user:
            context = "List experiments failed: Failed to authorize with API"
            if not namespace:
                raise _invalid("An experiment cannot have an empty namespace in multi-user mode").wrap(
                    context
                )
            self._authorize(ctx, namespace, "list", "experiments")
        items = [e for e in self.experiments.values() if e.get("namespace", "") == namespace]
        page, total, token = self._page(items, _EXPERIMENTS, opts)
        return _prune({"experiments": page, "total_size": total, "next_page_token": token})

    def _delete_experiment(self, ctx: _Ctx) -> dict[str, Any]:
        experiment_id = ctx.path["experiment_id"]
        context = "Failed to delete experiment"
        self._experiment_access(ctx, experiment_id, "delete", f"{context}: Failed to authorize the request")
        if self._default_experiment_id and experiment_id == self._default_experiment_id:
            raise _aborted(
                f"Invalid input error: Experiment id cannot be equal to the default id {experiment_id}",
                f"Failed to delete experiment {experiment_id}. The default experiment cannot be deleted",
            ).wrap(context)
        if experiment_id not in self.experiments:
            raise _not_found("Experiment", experiment_id).wrap(
                f"{context}: Failed to delete experiment {experiment_id} due to error fetching it"
            )
        del self.experiments[experiment_id]
        return {}

    def _archive_experiment(self, ctx: _Ctx) -> dict[str, Any]:
        """resource/resource_manager.go@2.5.0 ArchiveExperiment: archive its runs, disable its recurring runs.

        In single-user mode KFP does not check that the experiment exists (a plain SQL UPDATE),
        so an unknown id is answered 200 there too.
        """
        experiment_id = ctx.path["experiment_id"]
        self._experiment_access(ctx, experiment_id, "archive", "Failed to archive experiment")
        if experiment_id in self.experiments:
            self.experiments[experiment_id]["storage_state"] = "ARCHIVED"
            for run in self.runs.values():
                if run.get("experiment_id") == experiment_id:
                    run["storage_state"] = "ARCHIVED"
            now = _rfc3339(_now())
            for job in self.recurring_runs.values():
                if job.get("experiment_id") == experiment_id:
                    job.update(status="DISABLED", mode="DISABLE", updated_at=now)
        return {}

    def _unarchive_experiment(self, ctx: _Ctx) -> dict[str, Any]:
        # storage/experiment_store.go@2.5.0: runs stay archived and recurring runs stay disabled.
        experiment_id = ctx.path["experiment_id"]
        self._experiment_access(ctx, experiment_id, "unarchive", "Failed to unarchive experiment")
        if experiment_id in self.experiments:
            self.experiments[experiment_id]["storage_state"] = "AVAILABLE"
        return {}

    def _experiment_namespace(self, experiment_id: str, namespace: str, context: str) -> tuple[str, str]:
        """resource/resource_manager.go@2.5.0 GetValidExperimentNamespacePair, incl. the default experiment."""
        if self._multi_user and not experiment_id:
            raise _invalid("Experiment id can not be empty in multi-user mode").wrap(context)
        if experiment_id:
            experiment = self.experiments.get(experiment_id)
            if experiment is None:
                raise _not_found("Experiment", experiment_id).wrap(
                    f"{context}: Failed to fetch namespace for experiment {experiment_id}"
                )
            experiment_namespace = experiment.get("namespace", "")
            if namespace and namespace != experiment_namespace:
                raise _invalid(
                    f"Experiment {experiment_id} belongs to namespace '{experiment_namespace}' instead of '{namespace}'"
                ).wrap(context)
            return experiment_id, experiment_namespace
        if not self._default_experiment_id or self._default_experiment_id not in self.experiments:
            existing = next(
                (
                    e
                    for e in self.experiments.values()
                    if e["display_name"] == "Default" and e.get("namespace", "") == namespace
                ),
                None,
            )
            if existing is None:
                existing = self._store_experiment(
                    "Default",
                    "All runs created without specifying an experiment will be grouped here.",
                    namespace,
                )
            self._default_experiment_id = existing["experiment_id"]
        return self._default_experiment_id, namespace

    # Pipeline sources of runs and recurring runs -------------------------------------------

    def _version_template(self, version: dict[str, Any]) -> _Template:
        return _template_from_struct(version.get("pipeline_spec") or {})

    def _resolve_source(self, body: dict[str, Any]) -> tuple[_Template, str, str]:
        """resource/resource_manager.go@2.5.0 fetchTemplateFromPipelineSpec: (template, pipeline id, version id).

        The deprecated top-level `pipeline_version_id` is ignored (server/api_converter.go@2.5.0
        toModelRun reads only pipeline_version_reference).
        """
        reference = body.get("pipeline_version_reference") or {}
        pipeline_id = reference.get("pipeline_id") or ""
        version_id = reference.get("pipeline_version_id") or ""
        context = "Failed to fetch a template due to error retrieving pipeline version"
        if version_id:
            version = self.versions.get(version_id)
            if version is None:
                raise _not_found("PipelineVersion", version_id).wrap(
                    f"{context}: Failed to fetch a pipeline version and its manifest from pipeline version "
                    f"{version_id}: Failed to get a pipeline version with id {version_id}"
                )
            if pipeline_id and version["pipeline_id"] != pipeline_id:
                raise _invalid(
                    f"Pipeline version {version_id} belongs to pipeline {version['pipeline_id']} (not {pipeline_id})"
                ).wrap(context)
            return self._version_template(version), version["pipeline_id"], version_id
        if pipeline_id:
            if pipeline_id not in self.pipelines:
                raise _not_found("Pipeline", pipeline_id).wrap(
                    f"{context}: Failed to fetch a pipeline version and its manifest from pipeline {pipeline_id}: "
                    "Failed to get the latest pipeline version as pipeline was not found"
                )
            latest = self._latest_version(pipeline_id)
            if latest is None:
                raise _not_found("PipelineVersion", pipeline_id).wrap(
                    f"{context}: Failed to fetch a pipeline version and its manifest from pipeline {pipeline_id}"
                )
            return self._version_template(latest), pipeline_id, latest["pipeline_version_id"]
        struct = body.get("pipeline_spec")
        if not struct:
            raise _invalid("Failed to fetch a template with an empty pipeline spec manifest")
        try:
            return _template_from_struct(struct), "", ""
        except KFPError as exc:
            raise exc.wrap("Failed to fetch a template with an invalid pipeline spec manifest") from None

    # Runs ----------------------------------------------------------------------------------

    def _run_or_404(self, run_id: str, context: str) -> dict[str, Any]:
        run = self.runs.get(run_id)
        if run is None:
            raise _not_found("Run", run_id).wrap(f"{context}: Failed to fetch run {run_id}")
        return run

    def _run_access(self, ctx: _Ctx, run_id: str, verb: str, context: str) -> dict[str, Any]:
        """server/run_server.go@2.5.0 canAccessRun: the run's (or its experiment's) namespace.

        Only multi-user KFP looks the run up while authorizing; the message chain says so.
        """
        if self._multi_user:
            context = (
                f"{context}: Failed to authorize the request: Failed to authorize with the run ID {run_id}"
            )
        run = self._run_or_404(run_id, context)
        if self._multi_user:
            namespace = self._run_namespace.get(run_id, "")
            if not namespace:
                raise _invalid("A run cannot have an empty namespace in multi-user mode").wrap(context)
            self._authorize(ctx, namespace, verb, "runs")
        return run

    def _create_run(self, ctx: _Ctx) -> dict[str, Any]:
        """server/run_server.go@2.5.0 CreateRun and resource/resource_manager.go@2.5.0 CreateRun."""
        body = ctx.body or {}
        name = body.get("display_name") or ""
        if not name:
            raise _internal(
                _invalid("Run name cannot be empty"),
                "Failed to convert a API run detail to its internal representation",
            ).wrap("CreateJob(job.ToV2())Failed to create a run due to conversion error")
        context = "Failed to create a new run"
        experiment_id, namespace = self._experiment_namespace(
            body.get("experiment_id") or "",
            "",
            f"{context}: Failed to create a run due to invalid experimentId and namespace combination",
        )
        if self._multi_user:
            if not namespace:
                raise _invalid("A run cannot have an empty namespace in multi-user mode").wrap(context)
            self._authorize(ctx, namespace, "create", "runs")
        try:
            template, pipeline_id, version_id = self._resolve_source(body)
        except KFPError as exc:
            raise _internal(exc, "Failed to create a run due to error fetching manifest").wrap(
                context
            ) from None
        runtime_config = body.get("runtime_config") or {}
        parameters = runtime_config.get("parameters") or {}
        try:
            _validate_inputs(template, parameters)
        except KFPError as exc:
            raise exc.wrap(
                f"{context}: Failed to generate the ExecutionSpec: invalid pipeline job inputs"
            ) from None

        script, self._next_script = self._next_script, None
        state = script.states[0] if script else "PENDING"
        now = _now()
        run_id = str(uuid.uuid4())
        run: dict[str, Any] = {
            "experiment_id": experiment_id,
            "run_id": run_id,
            "display_name": name,
            "storage_state": "AVAILABLE",
            "description": body.get("description") or "",
            "runtime_config": {
                "parameters": parameters,
                "pipeline_root": runtime_config.get("pipeline_root") or "",
            },
            "service_account": body.get("service_account") or DEFAULT_SERVICE_ACCOUNT,
            "created_at": _rfc3339(now),
            "scheduled_at": _rfc3339(now),
            "finished_at": EPOCH,
            "state": state,
            "state_history": [{"update_time": _rfc3339(now), "state": state}],
        }
        if version_id:
            run["pipeline_version_reference"] = {
                "pipeline_id": pipeline_id,
                "pipeline_version_id": version_id,
            }
        else:
            run["pipeline_spec"] = template.api_struct()
        if script and script.task_details:
            run["run_details"] = {"task_details": self._task_details(run_id, script.task_details[0])}
        if state in TERMINAL_STATES:
            run["finished_at"] = _rfc3339(now)
        run = _prune(run, _OPAQUE)
        self.runs[run_id] = run
        self._run_namespace[run_id] = namespace
        self._run_template[run_id] = template
        if script is not None:
            self._scripts[run_id] = script
        # storage/experiment_store.go@2.5.0 SetLastRunTimestamp.
        if experiment_id in self.experiments:
            self.experiments[experiment_id]["last_run_created_at"] = _rfc3339(now)
        return run

    @staticmethod
    def _task_details(run_id: str, details: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for detail in details:
            item = copy.deepcopy(detail)
            item.setdefault("run_id", run_id)
            out.append(item)
        return out

    def _set_state(self, run: dict[str, Any], state: str) -> None:
        if run.get("state") == state:
            return
        now = _rfc3339(_now())
        run["state"] = state
        run.setdefault("state_history", []).append({"update_time": now, "state": state})
        if state in TERMINAL_STATES:
            run["finished_at"] = now

    def _advance(self, run_id: str) -> None:
        """A GET of a scripted run moves it to its next state (the persistence agent's report)."""
        script = self._scripts.get(run_id)
        run = self.runs[run_id]
        if script is None:
            return
        script.cursor = min(script.cursor + 1, len(script.states) - 1)
        self._set_state(run, script.states[script.cursor])
        if script.task_details is not None:
            details = self._task_details(run_id, script.task_details[script.cursor])
            if details:
                run["run_details"] = {"task_details": details}
            else:
                run.pop("run_details", None)

    def _get_run(self, ctx: _Ctx) -> dict[str, Any]:
        run_id = ctx.path["run_id"]
        self._run_access(ctx, run_id, "get", "Failed to get a run")
        self._advance(run_id)
        return self.runs[run_id]

    def _list_runs(self, ctx: _Ctx) -> dict[str, Any]:
        try:
            opts = self._list_options(_runs_listable(self._run_namespace), ctx)
        except KFPError as exc:
            raise exc.wrap("Failed to list runs: Failed to create list options") from None
        items = self._scoped(ctx, self.runs.values(), "runs", "Failed to list runs")
        page, total, token = self._page(items, _runs_listable(self._run_namespace), opts)
        return _prune({"runs": page, "total_size": total, "next_page_token": token}, _OPAQUE)

    def _scoped(
        self, ctx: _Ctx, items: Iterable[dict[str, Any]], resource: str, context: str
    ) -> list[dict[str, Any]]:
        """server/run_server.go / server/job_server.go@2.5.0 listRuns, listJobs: by experiment or by namespace."""
        namespace = self._replace_namespace(ctx.query.get("namespace", ""))
        experiment_id = ctx.query.get("experiment_id", "")
        if experiment_id:
            experiment = self.experiments.get(experiment_id)
            if experiment is None:
                raise _not_found("Experiment", experiment_id).wrap(
                    f"{context}: Failed to fetch namespace from experiment {experiment_id}"
                )
            namespace = experiment.get("namespace", "")
        if self._multi_user:
            if not namespace:
                raise _invalid(f"A {resource[:-1]} cannot have an empty namespace in multi-user mode").wrap(
                    context
                )
            self._authorize(ctx, namespace, "list", resource)
        if experiment_id:
            return [i for i in items if i.get("experiment_id") == experiment_id]
        if resource == "runs":
            return [i for i in items if self._run_namespace.get(i["run_id"], "") == namespace]
        if not self._multi_user:
            return list(items)
        return [i for i in items if i.get("namespace", "") == namespace]

    def _delete_run(self, ctx: _Ctx) -> dict[str, Any]:
        run_id = ctx.path["run_id"]
        self._run_access(ctx, run_id, "delete", "Failed to delete a run")
        del self.runs[run_id]
        for table in (self._scripts, self._run_namespace, self._run_template):
            table.pop(run_id, None)
        return {}

    def _terminate_run(self, ctx: _Ctx) -> dict[str, Any]:
        """storage/run_store.go@2.5.0 TerminateRun: PENDING/RUNNING/PAUSED runs become CANCELING.

        The next GET reports CANCELED, as the persistence agent would once Argo stops the run.
        """
        run_id = ctx.path["run_id"]
        context = "Failed to terminate a run"
        run = self._run_access(ctx, run_id, "terminate", context)
        if run.get("state", "RUNTIME_STATE_UNSPECIFIED") not in TERMINABLE_STATES:
            raise _invalid(f"Failed to terminate a run {run_id}. Row not found").wrap(
                f"{context}: Failed to terminate run {run_id}"
            )
        self._set_state(run, "CANCELING")
        self._scripts[run_id] = _Script(["CANCELING", "CANCELED"], None)
        return {}

    def _archive_run(self, ctx: _Ctx) -> dict[str, Any]:
        run_id = ctx.path["run_id"]
        run = self._run_access(ctx, run_id, "archive", "Failed to archive a run")
        run["storage_state"] = "ARCHIVED"
        return {}

    def _unarchive_run(self, ctx: _Ctx) -> dict[str, Any]:
        run_id = ctx.path["run_id"]
        context = "Failed to unarchive a run"
        run = self._run_access(ctx, run_id, "unarchive", context)
        experiment = self.experiments.get(run.get("experiment_id", ""))
        if experiment is not None and experiment.get("storage_state") == "ARCHIVED":
            raise _failed_precondition(
                "Unarchive the experiment first to allow the run to be restored",
                f"Failed to unarchive run {run_id} as experiment {run['experiment_id']} must be un-archived first",
            ).wrap(context)
        run["storage_state"] = "AVAILABLE"
        return {}

    def _retry_run(self, ctx: _Ctx) -> dict[str, Any]:
        """resource/resource_manager.go@2.5.0 RetryRun: only a failed run (Argo's CanRetry) is retried."""
        run_id = ctx.path["run_id"]
        context = "Failed to retry a run"
        run = self._run_access(ctx, run_id, "retry", context)
        if run.get("state") != "FAILED":
            raise _internal(
                f"workflow must be Failed/Error to retry (state {run.get('state')})",
                f"Failed to retry run {run_id} as it does not allow reties",
            ).wrap(context)
        self._scripts.pop(run_id, None)
        self._set_state(run, "RUNNING")
        run["finished_at"] = EPOCH
        return {}

    def _read_artifact(self, ctx: _Ctx) -> dict[str, Any]:
        run_id = ctx.path["run_id"]
        self._run_access(ctx, run_id, "readArtifact", "failed to read artifact")
        raise _not_found("artifact", ctx.path["artifact_name"]).wrap(
            f"failed to read artifact: node {ctx.path['node_id']} of run {run_id} has no stored artifacts"
        )

    # Recurring runs ------------------------------------------------------------------------

    def _create_recurring_run(self, ctx: _Ctx) -> dict[str, Any]:
        """server/api_converter.go@2.5.0 toModelJob, server/job_server.go createJob, resource/resource_manager.go CreateJob."""
        body = ctx.body or {}
        conversion = "Failed to create a recurring run due to conversion error"
        name = body.get("display_name") or ""
        if not name:
            raise _internal(
                _invalid("Recurring run's name cannot be empty"),
                "Failed to convert a API recurring run to its internal representation",
            ).wrap(conversion)
        mode = body.get("mode", "MODE_UNSPECIFIED")
        enabled = mode in ("ENABLE", 1)
        max_concurrency = _as_int(body.get("max_concurrency"))
        if not 1 <= max_concurrency <= 10:
            raise _invalid(
                f"Max concurrency of a recurring run must be at least 1 and at most 10. Received {max_concurrency}"
            ).wrap(conversion)
        trigger = body.get("trigger") or {}
        cron = trigger.get("cron_schedule")
        periodic = trigger.get("periodic_schedule")
        if cron is not None:
            expression = cron.get("cron") or ""
            try:
                parse_cron(expression)
            except CronError as exc:
                raise _invalid(
                    "Schedule cron is not a supported format(https://godoc.org/github.com/robfig/cron). "
                    f"Error: {exc}"
                ).wrap(conversion) from None
        if periodic is not None:
            interval = _as_int(periodic.get("interval_second"))
            if interval < 1:
                raise _invalid(
                    f"Found invalid period schedule interval {interval}. Set at interval to least 1 second"
                ).wrap(conversion)

        context = "Failed to create a recurring run"
        experiment_id, namespace = self._experiment_namespace(
            body.get("experiment_id") or "",
            body.get("namespace") or "",
            f"{context}: Failed to create a recurring run due to invalid experimentId and namespace combination",
        )
        if self._multi_user:
            if not namespace:
                raise _invalid("Recurring run cannot have an empty namespace in multi-user mode").wrap(
                    context
                )
            self._authorize(ctx, namespace, "create", "jobs")
        runtime_config = body.get("runtime_config") or {}
        parameters = runtime_config.get("parameters") or {}
        reference = body.get("pipeline_version_reference") or {}
        if reference.get("pipeline_version_id") or body.get("pipeline_spec"):
            try:
                template, pipeline_id, version_id = self._resolve_source(body)
            except KFPError as exc:
                raise _internal(
                    exc, "Failed to create a recurring run with an invalid pipeline spec manifest"
                ).wrap(context) from None
            validation = "Failed to create a recurring run during scheduled workflow creation"
        elif not reference.get("pipeline_id"):
            # A plain Go error, not a UserError: ToGRPCError makes it an Internal error.
            raise KFPError(
                13,
                f"{context}: Cannot create a job with an empty pipeline ID",
                "Internal error: Cannot create a job with an empty pipeline ID",
            )
        else:
            # Not pinned: the ScheduledWorkflow runs the latest version when it fires.
            pipeline_id, version_id = reference["pipeline_id"], ""
            if pipeline_id not in self.pipelines:
                raise _not_found("Pipeline", pipeline_id).wrap(
                    f"{context}: Failed to validate the input parameters on the latest pipeline version: "
                    "Failed to get the latest template as pipeline was not found"
                )
            latest = self._latest_version(pipeline_id)
            if latest is None:
                raise _not_found("PipelineVersion", pipeline_id).wrap(
                    f"{context}: Failed to validate the input parameters on the latest pipeline version"
                )
            template = self._version_template(latest)
            validation = "Failed to validate the input parameters on the latest pipeline version"
        try:
            _validate_inputs(template, parameters)
        except KFPError as exc:
            raise exc.wrap(f"{context}: {validation}: invalid pipeline job inputs") from None

        now = _rfc3339(_now())
        job: dict[str, Any] = {
            "recurring_run_id": str(uuid.uuid4()),
            "display_name": name,
            "description": body.get("description") or "",
            "service_account": body.get("service_account") or "",
            "max_concurrency": str(max_concurrency),
            "trigger": self._api_trigger(trigger),
            "mode": "ENABLE" if enabled else "DISABLE",
            "created_at": now,
            "updated_at": now,
            "status": "ENABLED" if enabled else "DISABLED",
            "no_catchup": bool(body.get("no_catchup")),
            # resource/resource_manager.go@2.5.0 CreateJob puts single-user recurring runs in POD_NAMESPACE.
            "namespace": namespace or POD_NAMESPACE,
            "experiment_id": experiment_id,
            "runtime_config": {
                "parameters": parameters,
                "pipeline_root": runtime_config.get("pipeline_root") or "",
            },
        }
        if pipeline_id or version_id:
            job["pipeline_version_reference"] = {
                "pipeline_id": pipeline_id,
                "pipeline_version_id": version_id,
            }
        else:
            job["pipeline_spec"] = template.api_struct()
        job = _prune(job, _OPAQUE)
        self.recurring_runs[job["recurring_run_id"]] = job
        return job

    @staticmethod
    def _api_trigger(trigger: dict[str, Any]) -> dict[str, Any]:
        """server/api_converter.go@2.5.0 toApiTrigger: times come back as whole-second timestamps."""

        def times(schedule: dict[str, Any]) -> dict[str, Any]:
            return {
                key: _rfc3339(_parse_rfc3339(schedule[key]))
                for key in ("start_time", "end_time")
                if schedule.get(key)
            }

        cron = trigger.get("cron_schedule")
        if cron is not None and cron.get("cron"):
            return {"cron_schedule": {"cron": cron["cron"], **times(cron)}}
        periodic = trigger.get("periodic_schedule")
        if periodic is not None and _as_int(periodic.get("interval_second")):
            return {
                "periodic_schedule": {
                    "interval_second": str(_as_int(periodic["interval_second"])),
                    **times(periodic),
                }
            }
        return {}

    def _job_access(self, ctx: _Ctx, job_id: str, verb: str, context: str) -> dict[str, Any]:
        """server/job_server.go@2.5.0 canAccessJob and resource/resource_manager.go GetJob."""
        job = self.recurring_runs.get(job_id)
        if job is None:
            raise _not_found("Job", job_id).wrap(context)
        if self._multi_user:
            self._authorize(ctx, job.get("namespace", ""), verb, "jobs")
        return job

    def _get_recurring_run(self, ctx: _Ctx) -> dict[str, Any]:
        return self._job_access(ctx, ctx.path["recurring_run_id"], "get", "Failed to get a recurring run")

    def _list_recurring_runs(self, ctx: _Ctx) -> dict[str, Any]:
        try:
            opts = self._list_options(_JOBS, ctx)
        except KFPError as exc:
            raise exc.wrap("Failed to list recurring runs: Failed to create list options") from None
        items = self._scoped(ctx, self.recurring_runs.values(), "jobs", "Failed to list recurring runs")
        page, total, token = self._page(items, _JOBS, opts)
        return _prune({"recurringRuns": page, "total_size": total, "next_page_token": token}, _OPAQUE)

    def _change_mode(self, ctx: _Ctx, enable: bool) -> dict[str, Any]:
        job_id = ctx.path["recurring_run_id"]
        verb = "enable" if enable else "disable"
        job = self._job_access(ctx, job_id, verb, f"Failed to {verb} a recurring run")
        # storage/job_store.go@2.5.0 ChangeJobMode updates only a job whose mode changes.
        if job.get("mode") != ("ENABLE" if enable else "DISABLE"):
            job.update(
                mode="ENABLE" if enable else "DISABLE",
                status="ENABLED" if enable else "DISABLED",
                updated_at=_rfc3339(_now()),
            )
        return {}

    def _enable_recurring_run(self, ctx: _Ctx) -> dict[str, Any]:
        return self._change_mode(ctx, True)

    def _disable_recurring_run(self, ctx: _Ctx) -> dict[str, Any]:
        return self._change_mode(ctx, False)

    def _delete_recurring_run(self, ctx: _Ctx) -> dict[str, Any]:
        job_id = ctx.path["recurring_run_id"]
        self._job_access(ctx, job_id, "delete", "Failed to delete a recurring run")
        del self.recurring_runs[job_id]
        return {}

    # Listing -------------------------------------------------------------------------------

    def _list_options(self, kind: _Listable, ctx: _Ctx) -> dict[str, Any]:
        """server/list_request_util.go@2.5.0 validatedListOptions and list/list.go@2.5.0 NewOptions."""
        page_token = ctx.query.get("page_token", "")
        page_size = int(ctx.query.get("page_size") or 0)
        sort_by = ctx.query.get("sort_by", "")
        filter_spec = ctx.query.get("filter", "")
        size = self._page_size(page_size)
        if not page_token:
            return {"PageSize": size, **self._new_options(kind, sort_by, filter_spec)}
        try:
            token = json.loads(base64.b64decode(page_token, validate=True))
            if not isinstance(token, dict) or token.get("ModelName") != kind.model:
                raise ValueError("the token is not a page token of this list")
            if token.get("SortByFieldName") not in kind.columns or not isinstance(token.get("Filter"), list):
                raise ValueError("the token names no sortable field")
        except ValueError as exc:
            raise _invalid_details(str(exc), "Invalid package token") from None
        if sort_by or filter_spec:
            fresh = self._new_options(kind, sort_by, filter_spec)
            keys = ("SortByFieldName", "IsDesc", "Filter")
            if any(token.get(k) != fresh[k] for k in keys):
                raise _invalid(
                    "page token does not match the supplied sort by and/or filtering criteria. Either specify "
                    "the same criteria or leave the latter empty if page token is specified"
                )
        return {**token, "PageSize": size}

    @staticmethod
    def _page_size(page_size: int) -> int:
        if page_size < 0:
            raise _invalid(f"The page size should be greater than 0. Got {page_size}")
        if page_size == 0:
            return DEFAULT_PAGE_SIZE
        return min(page_size, MAX_PAGE_SIZE)

    @staticmethod
    def _new_options(kind: _Listable, sort_by: str, filter_spec: str) -> dict[str, Any]:
        words = sort_by.lower().split()
        if len(words) > 2 or (len(words) == 2 and words[1] not in ("desc", "asc")):
            raise _invalid(
                f'Received invalid sort by format "{sort_by}". Supported format: "field_name", '
                '"field_name desc", or "field_name asc"'
            )
        sort_field = "CreatedAtInSec"  # every model's DefaultSortField
        if words:
            if words[0] not in kind.fields:
                raise _invalid(f'Invalid sorting field: "{words[0]}" on listable type {kind.model}')
            sort_field = kind.fields[words[0]]
        predicates: list[list[Any]] = []
        if filter_spec:
            for operation, key, value in _parse_filter(filter_spec):
                if key not in kind.fields:
                    raise _invalid(f'no support for filtering on unrecognized field "{key}"')
                predicates.append([operation, kind.fields[key], value])
            predicates.sort(key=json.dumps)
        return {
            "SortByFieldName": sort_field,
            "SortByFieldValue": None,
            "KeyFieldName": "UUID",
            "KeyFieldValue": None,
            "IsDesc": len(words) == 2 and words[1] == "desc",
            "ModelName": kind.model,
            "Filter": predicates,
        }

    @staticmethod
    def _page(
        items: Iterable[dict[str, Any]], kind: _Listable, opts: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], int, str]:
        """Filter, sort by (sort field, id) and cut a page the way list/list.go@2.5.0 does.

        Ties in the sort field (created_at has one-second resolution) are broken by the id,
        as KFP's SQL does, not by insertion order.
        """
        predicates = opts.get("Filter") or []
        sort_column = kind.columns[opts["SortByFieldName"]]
        key_column = kind.columns["UUID"]
        desc = bool(opts.get("IsDesc"))
        try:
            rows = [item for item in items if _matches(predicates, item, kind)]
            total = len(rows)
            rows.sort(key=lambda item: (sort_column(item), key_column(item)), reverse=desc)
            if opts.get("KeyFieldValue") is not None:
                start = (opts["SortByFieldValue"], opts["KeyFieldValue"])
                if desc:
                    rows = [r for r in rows if (sort_column(r), key_column(r)) <= start]
                else:
                    rows = [r for r in rows if (sort_column(r), key_column(r)) >= start]
        except (KeyError, TypeError, ValueError) as exc:  # only a hand-made page token gets here
            raise _invalid_details(repr(exc), "Invalid package token") from None
        size = opts["PageSize"]
        page, rest = rows[:size], rows[size:]
        token = ""
        if rest:
            state = {k: v for k, v in opts.items() if k != "PageSize"}
            state["SortByFieldValue"] = sort_column(rest[0])
            state["KeyFieldValue"] = key_column(rest[0])
            token = base64.b64encode(json.dumps(state).encode()).decode()
        return [copy.deepcopy(item) for item in page], total, token


def _runs_listable(run_namespace: dict[str, str]) -> _Listable:
    """model/run.go@2.5.0 runAPIToModelFieldMap (the namespace lives beside the run's JSON)."""
    return _Listable(
        model="run_details",
        key="run_id",
        fields={
            "run_id": "UUID",
            "id": "UUID",
            "display_name": "DisplayName",
            "name": "DisplayName",
            "created_at": "CreatedAtInSec",
            "finished_at": "FinishedAtInSec",
            "description": "Description",
            "scheduled_at": "ScheduledAtInSec",
            "storage_state": "StorageState",
            "status": "Conditions",
            "namespace": "Namespace",
            "experiment_id": "ExperimentUUID",
            "state": "State",
            "state_history": "StateHistory",
            "runtime_details": "PipelineRuntimeManifest",
            "recurring_run_id": "JobUUID",
        },
        columns={
            "UUID": _str_column("run_id"),
            "DisplayName": _str_column("display_name"),
            "CreatedAtInSec": _ts_column("created_at"),
            "FinishedAtInSec": _ts_column("finished_at"),
            "Description": _str_column("description"),
            "ScheduledAtInSec": _ts_column("scheduled_at"),
            "StorageState": _str_column("storage_state"),
            "Conditions": lambda item: _STATE_V1.get(item.get("state", ""), "Unknown"),
            "Namespace": lambda item: run_namespace.get(item.get("run_id", ""), ""),
            "ExperimentUUID": _str_column("experiment_id"),
            "State": _str_column("state"),
            "StateHistory": lambda item: json.dumps(item.get("state_history", [])),
            "PipelineRuntimeManifest": lambda item: "",
            "JobUUID": _str_column("recurring_run_id"),
        },
    )
