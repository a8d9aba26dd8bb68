/**
 * Errors of dgg-native: one class with a machine-readable code, shared by the TypeScript layer and
 * the native addon (whose errors arrive as `"CODE: message"` and are mapped here).
 *
 * @packageDocumentation
 */

/**
 * What went wrong, as a stable string that callers can switch on.
 *
 * - `INVALID_OPTION`: an option (or CLI flag) is missing, unknown or out of range, or a fit would
 *   need more memory than is available (the message names the option to reduce).
 * - `INVALID_DATA`: the input data is malformed (empty, ragged, non-finite, unparsable).
 * - `IO_ERROR`: a file could not be read or written.
 * - `MODEL_FORMAT`: a saved model is corrupt, from an incompatible version, or too large for the
 *   memory available.
 * - `DIMENSION_MISMATCH`: shapes do not agree (features vs. model, labels vs. rows).
 * - `CANCELLED`: the work was aborted through an `AbortSignal`.
 * - `NON_FINITE`: training diverged (a loss or parameter became NaN or infinite).
 * - `DEVICE_UNAVAILABLE`: the requested device (e.g. `cuda`) cannot be used.
 * - `NOT_FITTED`: a model method (predict, transform, save, toBuffer, …) was called on a DGG
 *   that has not been fitted or loaded.
 * - `UNSUPPORTED_PLATFORM`: no native binary of this package loads on this platform (the message
 *   names the platform, the supported ones and how to build from source).
 * - `INTERNAL`: a bug or an unexpected failure.
 */
export type DggErrorCode =
  | 'INVALID_OPTION'
  | 'INVALID_DATA'
  | 'IO_ERROR'
  | 'MODEL_FORMAT'
  | 'DIMENSION_MISMATCH'
  | 'CANCELLED'
  | 'NON_FINITE'
  | 'DEVICE_UNAVAILABLE'
  | 'NOT_FITTED'
  | 'UNSUPPORTED_PLATFORM'
  | 'INTERNAL';

/** Every {@link DggErrorCode}, in declaration order (for validation and documentation). */
export const DGG_ERROR_CODES: readonly DggErrorCode[] = Object.freeze([
  'INVALID_OPTION',
  'INVALID_DATA',
  'IO_ERROR',
  'MODEL_FORMAT',
  'DIMENSION_MISMATCH',
  'CANCELLED',
  'NON_FINITE',
  'DEVICE_UNAVAILABLE',
  'NOT_FITTED',
  'UNSUPPORTED_PLATFORM',
  'INTERNAL',
]);

/** True when `s` is one of the {@link DggErrorCode} strings. */
export function isDggErrorCode(s: unknown): s is DggErrorCode {
  return typeof s === 'string' && (DGG_ERROR_CODES as readonly string[]).includes(s);
}

/**
 * The error type thrown (or rejected with) by every dgg-native API.
 *
 * @example
 * ```ts
 * try { parseOptions({ nClusters: 1 }) } catch (e) {
 *   if (e instanceof DggError && e.code === 'INVALID_OPTION') console.error(e.message);
 * }
 * ```
 */
export class DggError extends Error {
  /** The machine-readable kind of failure. */
  readonly code: DggErrorCode;

  /**
   * @param code - the kind of failure
   * @param message - a human-readable description (without the code prefix)
   * @param options - `cause`: the underlying error, kept for debugging
   */
  constructor(code: DggErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DggError';
    this.code = code;
  }

  /** Same code and cause, with `prefix` put before the message (e.g. a file path). */
  withPrefix(prefix: string): DggError {
    const e = new DggError(this.code, `${prefix}${this.message}`, { cause: this.cause ?? this });
    return e;
  }
}

// "CODE: message" — the code is upper snake case; the message may span lines.
const NATIVE_MESSAGE = /^([A-Z][A-Z0-9_]*): ?([\s\S]*)$/;

/**
 * Converts anything thrown by the native addon (or by a callback it ran) into a {@link DggError}.
 *
 * Native errors are JS `Error`s whose message is `"CODE: message"`; the code becomes
 * {@link DggError.code} (unknown codes map to `INTERNAL`, keeping the code in the text) and the
 * rest becomes the message. A `DggError` is returned unchanged; an `AbortError` maps to `CANCELLED`;
 * non-`Error` values become `INTERNAL` errors with their string form.
 */
export function fromNative(e: unknown): DggError {
  if (e instanceof DggError) return e;
  if (e instanceof Error) {
    if (e.name === 'AbortError') return new DggError('CANCELLED', e.message || 'cancelled', { cause: e });
    const m = NATIVE_MESSAGE.exec(e.message);
    if (m) {
      const [, code, rest] = m;
      if (isDggErrorCode(code)) return new DggError(code, rest, { cause: e });
      // Keep an unknown code visible: it is the best clue to what failed.
      return new DggError('INTERNAL', e.message, { cause: e });
    }
    return new DggError('INTERNAL', e.message || e.name, { cause: e });
  }
  let text: string;
  try {
    text = typeof e === 'string' ? e : JSON.stringify(e) ?? String(e);
  } catch {
    text = String(e);
  }
  // A bare string may still carry the "CODE: message" convention.
  const m = NATIVE_MESSAGE.exec(text);
  if (m && isDggErrorCode(m[1])) return new DggError(m[1], m[2], { cause: e });
  return new DggError('INTERNAL', `non-Error value thrown: ${text}`, { cause: e });
}

/**
 * Awaits `p` and rethrows any rejection as a {@link DggError} (via {@link fromNative}).
 *
 * @example
 * ```ts
 * const out = await rethrowNative(native.fit(data, opts));
 * ```
 */
export async function rethrowNative<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw fromNative(e);
  }
}
