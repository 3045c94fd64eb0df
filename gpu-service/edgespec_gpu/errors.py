"""Typed service errors and their wire form (PROTOCOL.md, "Errors")."""

from __future__ import annotations

from typing import Any

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    503: "overloaded_error",
    500: "server_error",
}


class ServiceError(Exception):
    """Error sent as HTTP `status` with the JSON error body. The session stays unchanged."""

    def __init__(
        self, status: int, code: str, message: str, param: str | None = None, committed_len: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.committed_len = committed_len

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": ERROR_TYPES[self.status], "code": self.code, "message": self.message}
        if self.param is not None:
            error["param"] = self.param
        body: dict[str, Any] = {"error": error}
        if self.committed_len is not None:
            body["committed_len"] = self.committed_len
        return body


def invalid(code: str, message: str, param: str | None = None) -> ServiceError:
    return ServiceError(400, code, message, param)
