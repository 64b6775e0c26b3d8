// Query string checks of the HTTP API: every parameter is named, bounded and rejected with a
// 400 that says which parameter and which values are allowed.

/** An error that becomes an HTTP response `{ error: { code, message } }`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Checked access to the query parameters of one request. */
export class Query {
  constructor(
    private readonly params: URLSearchParams,
    private readonly path: string,
  ) {}

  /** Reject any parameter not in `allowed`, and any given twice. */
  allow(...allowed: string[]): this {
    for (const name of new Set(this.params.keys())) {
      if (!allowed.includes(name)) {
        const list =
          allowed.length > 0 ? `allowed: ${allowed.join(', ')}` : 'it takes no parameters';
        throw new HttpError(
          400,
          'ERR_UNKNOWN_PARAMETER',
          `unknown query parameter '${name}' for ${this.path} (${list})`,
        );
      }
      if (this.params.getAll(name).length > 1) {
        throw new HttpError(
          400,
          'ERR_BAD_PARAMETER',
          `query parameter '${name}' is given more than once`,
        );
      }
    }
    return this;
  }

  /** An integer parameter in min..max, or `fallback` when absent. */
  integer(name: string, min: number, max: number, fallback: number): number {
    const raw = this.params.get(name);
    if (raw === null) return fallback;
    const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new HttpError(
        400,
        'ERR_BAD_PARAMETER',
        `query parameter '${name}' must be an integer ${min}..${max}, got '${clip(raw)}'`,
      );
    }
    return value;
  }

  /** True when the parameter is present. */
  has(name: string): boolean {
    return this.params.has(name);
  }

  /** A non-empty text parameter of at most `maxChars` characters, or undefined when absent. */
  text(name: string, maxChars: number): string | undefined {
    const raw = this.params.get(name);
    if (raw === null) return undefined;
    if (raw.length === 0 || raw.length > maxChars) {
      throw new HttpError(
        400,
        'ERR_BAD_PARAMETER',
        `query parameter '${name}' must be 1..${maxChars} characters, got ${raw.length}`,
      );
    }
    return raw;
  }

  /** One of `allowed`, or `fallback` when absent. */
  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.params.get(name);
    if (raw === null) return fallback;
    if (!(allowed as readonly string[]).includes(raw)) {
      throw new HttpError(
        400,
        'ERR_BAD_PARAMETER',
        `query parameter '${name}' must be one of ${allowed.join(', ')}, got '${clip(raw)}'`,
      );
    }
    return raw as T;
  }
}

/** Echo at most 64 characters of a bad value back. */
function clip(value: string): string {
  return value.length > 64 ? `${value.slice(0, 64)}...` : value;
}
