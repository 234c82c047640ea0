/**
 * The one error type users see. `type` says what went wrong in terms a page can act on; the message
 * says it to a human; `cause` keeps the underlying error.
 */

export type BagnetErrorType =
  | 'model-load'
  | 'model-invalid'
  | 'image-load'
  | 'image-invalid'
  | 'backend'
  | 'inference'
  | 'aborted';

export const ERROR_TYPES: readonly BagnetErrorType[] = Object.freeze([
  'model-load', 'model-invalid', 'image-load', 'image-invalid', 'backend', 'inference', 'aborted',
]);

export class BagnetError extends Error {
  override readonly name = 'BagnetError';
  constructor(readonly type: BagnetErrorType, message: string, options: { cause?: unknown } = {}) {
    super(message);
    if (options.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** Any failure as a BagnetError: anything else becomes a `type` error (default `inference`) with the original as `cause`. */
export function toBagnetError(cause: unknown, type: BagnetErrorType = 'inference'): BagnetError {
  if (cause instanceof BagnetError) return cause;
  return new BagnetError(type, cause instanceof Error ? cause.message : String(cause), { cause });
}

/** What crosses the worker boundary (Error objects lose their class there). */
export interface SerializedError {
  readonly type: BagnetErrorType;
  readonly message: string;
  readonly cause?: string;
}

export function serializeError(error: unknown, fallback: BagnetErrorType): SerializedError {
  if (error instanceof BagnetError) {
    const cause = (error as { cause?: unknown }).cause;
    return { type: error.type, message: error.message, ...(cause === undefined ? {} : { cause: describeCause(cause) }) };
  }
  return { type: fallback, message: describeCause(error) };
}

export function deserializeError(error: SerializedError): BagnetError {
  const type = ERROR_TYPES.includes(error.type) ? error.type : 'inference';
  return new BagnetError(type, String(error.message), error.cause === undefined ? {} : { cause: error.cause });
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) return `${cause.name}: ${cause.message}`;
  return String(cause);
}

/** The error an aborted request rejects with (a BagnetError, so one `catch` handles everything). */
export function abortError(reason?: unknown): BagnetError {
  const detail = reason instanceof Error ? `: ${reason.message}` : typeof reason === 'string' ? `: ${reason}` : '';
  return new BagnetError('aborted', `The request was aborted${detail}`, reason === undefined ? {} : { cause: reason });
}
