/** Authenticated calls to the control plane's `/v1` API: the token only ever travels as a Bearer header. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class Api {
  constructor(private readonly token: string) {}

  async get<T>(path: string): Promise<T> {
    const response = await fetch(path, {
      headers: { authorization: `Bearer ${this.token}`, accept: 'application/json' },
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try {
        const body = (await response.json()) as { error?: { message?: unknown } };
        if (typeof body.error?.message === 'string') message = `${message}: ${body.error.message}`;
      } catch {
        // Not JSON: the status says enough.
      }
      throw new ApiFailure(response.status, message);
    }
    return (await response.json()) as T;
  }
}
