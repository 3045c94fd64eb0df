/** OpenAI-style API errors: `{"error": {"message", "type", "param", "code"}}` with an HTTP status. */

export type ApiErrorType = "invalid_request_error" | "not_found_error" | "server_error" | "service_unavailable_error";

export class ApiError extends Error {
  constructor(
    readonly status: 400 | 404 | 405 | 413 | 500 | 502 | 503 | 504,
    readonly type: ApiErrorType,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }

  toJSON() {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export function invalidRequest(message: string, param: string | null, code = "invalid_value"): ApiError {
  return new ApiError(400, "invalid_request_error", message, param, code);
}
