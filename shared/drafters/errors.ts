/**
 * Typed errors for bad input to the drafters, the composer, the suffix index and their state files.
 * Every boundary of this package throws `DraftInputError` with a code, never a plain `Error`, so the
 * worker can map each code to an HTTP status without parsing messages.
 */

export type DraftErrorCode =
  | "empty_context"
  | "token_out_of_range"
  | "invalid_budget"
  | "invalid_option"
  | "invalid_tree"
  | "invalid_feedback"
  | "corrupt_state"
  | "corrupt_index";

export class DraftInputError extends Error {
  readonly code: DraftErrorCode;

  constructor(code: DraftErrorCode, message: string) {
    super(message);
    this.name = "DraftInputError";
    this.code = code;
  }
}

/** Throws `token_out_of_range` unless every id is an integer in [0, vocabSize). */
export function checkTokenIds(tokens: ArrayLike<number>, vocabSize: number, what: string): void {
  for (let i = 0; i < tokens.length; i++) {
    const id = tokens[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new DraftInputError("token_out_of_range", `${what}[${i}] = ${id} is not a token id in [0, ${vocabSize})`);
    }
  }
}

/** Returns `value` when it is an integer in [min, max]; throws `code` naming the option otherwise. */
export function checkIntegerOption(
  value: number,
  min: number,
  max: number,
  what: string,
  code: DraftErrorCode = "invalid_option",
): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new DraftInputError(code, `${what} = ${value} must be an integer in [${min}, ${max}]`);
  }
  return value;
}
