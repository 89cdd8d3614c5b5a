"""Every error responsd raises on purpose, each carrying its wire envelope.

ResponsdError                      500 server_error
├── InvalidRequestError            400 invalid_request_error (param names the field)
│   ├── UnsupportedParameterError  400 a known parameter this server cannot honour yet
│   └── PreviousResponseNotFound   400 previous_response_not_found
├── InvalidAPIKeyError             401 a bearer key is missing or wrong
├── PermissionDeniedError          403 the operation is not allowed on this object
├── RequestTimeoutError            408 the request body stopped arriving
├── RequestTooLargeError           413 the request body is over the limit
├── NotFoundError                  404 invalid_request_error
├── ProviderError                  502 the model backend failed
│   ├── ProviderRequestError       400 the backend rejected the request as invalid
│   ├── ProviderRateLimitError     429 the backend is rate limiting (Retry-After kept)
│   ├── ProviderTimeoutError       504 the backend did not answer in time
│   └── ProviderUnavailableError   502 the backend could not be reached
├── ToolServerError                424 a built-in tool's server failed (MCP listing)
├── ModelOutputError               502 the model's output broke the requested format
└── StoreError                     500 the database failed; nothing was applied

`api/errors.py` maps them to HTTP in one place; `api/sse.py` turns the same objects into
an `error` event once a stream has started. A failed Response's own `error.code` is
limited to the hosted API's short list, so each class also names the closest of those
(`response_code`); the detailed `code` travels in the `error` event and HTTP envelope.
"""


class ResponsdError(Exception):
    status_code = 500
    type = "server_error"
    code: str | None = "server_error"
    response_code = "server_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = headers or {}

    def envelope(self) -> dict:
        return {"message": self.message, "type": self.type, "param": self.param, "code": self.code}


class InvalidRequestError(ResponsdError):
    status_code = 400
    type = "invalid_request_error"
    code: str | None = None
    response_code = "invalid_prompt"


class UnsupportedParameterError(InvalidRequestError):
    code = "unsupported_parameter"


class PreviousResponseNotFound(InvalidRequestError):
    code = "previous_response_not_found"

    def __init__(self, response_id: str) -> None:
        super().__init__(
            f"Previous response with id '{response_id}' not found.",
            param="previous_response_id",
        )


class InvalidAPIKeyError(ResponsdError):
    status_code = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class RequestTimeoutError(ResponsdError):
    status_code = 408
    type = "invalid_request_error"
    code = "request_timeout"


class RequestTooLargeError(ResponsdError):
    status_code = 413
    type = "invalid_request_error"
    code = "request_too_large"


class PermissionDeniedError(ResponsdError):
    status_code = 403
    type = "invalid_request_error"
    code = "permission_denied"


class NotFoundError(ResponsdError):
    status_code = 404
    type = "invalid_request_error"
    code = "not_found"


class ProviderError(ResponsdError):
    status_code = 502
    type = "server_error"
    code = "upstream_error"


class ProviderRequestError(ProviderError):
    status_code = 400
    type = "invalid_request_error"
    code = "upstream_rejected_request"
    response_code = "invalid_prompt"


class ProviderRateLimitError(ProviderError):
    status_code = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"
    response_code = "rate_limit_exceeded"


class ProviderTimeoutError(ProviderError):
    status_code = 504
    code = "upstream_timeout"


class ProviderUnavailableError(ProviderError):
    code = "upstream_unavailable"


class ToolServerError(ResponsdError):
    """A server a built-in tool depends on failed, as the hosted API's 424 Failed Dependency."""

    status_code = 424
    type = "external_connector_error"
    code = "tool_server_error"


class ModelOutputError(ResponsdError):
    status_code = 502
    type = "server_error"
    code = "invalid_model_output"


class StoreError(ResponsdError):
    code = "storage_error"
