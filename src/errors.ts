// Every error class pidflow throws: a PidflowError with a stable `code`, a message that says
// what failed, why and the fix, and the original error as `cause` where there is one.

/** Base class of every error pidflow throws. */
export class PidflowError extends Error {
  /** Stable machine-readable code, e.g. `ERR_USAGE`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A bad option or argument: nothing was started. */
export class UsageError extends PidflowError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_USAGE', message, options);
  }
}

/** Capture could not be opened or failed while running. */
export class CaptureError extends PidflowError {
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? 'ERR_CAPTURE', message, options);
  }
}

/** The process lacks a capability or permission (CAP_NET_RAW, cgroup writes...). */
export class PermissionError extends PidflowError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_PERMISSION', message, options);
  }
}

/** The native addon could not be loaded. */
export class AddonLoadError extends PidflowError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_ADDON_LOAD', message, options);
  }
}

/** An operation that the object's state does not allow (e.g. start() after stop()). */
export class StateError extends PidflowError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STATE', message, options);
  }
}

/** Resource limits (cgroups) could not be applied. */
export class LimitError extends PidflowError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_LIMIT', message, options);
  }
}

/** True for any pidflow error, also across realms and bundles (checks the shape, not the class). */
export function isPidflowError(value: unknown): value is PidflowError {
  return (
    value instanceof PidflowError ||
    (value instanceof Error &&
      typeof (value as { code?: unknown }).code === 'string' &&
      /^(UsageError|CaptureError|PermissionError|AddonLoadError|StateError|LimitError|PidflowError)$/.test(
        value.name,
      ))
  );
}
