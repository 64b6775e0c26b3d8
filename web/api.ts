// Requests to the agent's JSON API with the token the agent expects (Authorization: Bearer),
// kept in sessionStorage for this tab once the user typed it.

const TOKEN_KEY = 'pidflow.token';

/** Thrown when the agent answers 401: the page shows the token form. */
export class NeedsToken extends Error {
  constructor(readonly wasWrong: boolean) {
    super(wasWrong ? 'the token is wrong' : 'this agent needs a token');
  }
}

/** An error answer of the API, with its message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token.trim());
}

/** GET one API path and parse its JSON. Only GET is ever sent: the page changes nothing. */
export async function getJson<T>(path: string): Promise<T> {
  const token = storedToken();
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(path, { headers, cache: 'no-store', credentials: 'omit' });
  if (res.status === 401) throw new NeedsToken(token !== null);
  const body = (await res.json()) as T & { error?: { message: string } };
  if (!res.ok) throw new ApiError(res.status, body.error?.message ?? `HTTP ${res.status}`);
  return body;
}
