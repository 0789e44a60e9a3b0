/** A small client for Accord's HTTP API, shared by every CLI command except `serve`. */
import { trustingFetch, type Fetch } from '../net/trusting-fetch.js';

/** Exit codes every command keeps: 0 ok, 1 failed, 2 the command line itself was wrong. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export interface ApiErrorBody {
  readonly code: string;
  readonly message: string;
  readonly details: readonly unknown[];
}

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = EXIT_FAILURE,
    /** The server's error, when the failure is an API answer. */
    readonly api?: ApiErrorBody & { readonly status: number },
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A command line that is well-formed for commander but still wrong (exit code 2). */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
    this.name = 'UsageError';
  }
}

export interface ClientOptions {
  readonly server: string;
  readonly token?: string;
  readonly timeoutMs?: number;
  /** CA bundle (PEM) to trust for an HTTPS server (`--ca-file` / `ACCORD_CA_FILE`). */
  readonly caBundlePem?: string;
}

interface ErrorBody {
  error?: { code?: string; message?: string; details?: unknown[] };
}

export function describeDetails(details: unknown[] | undefined): string {
  if (!details || details.length === 0) return '';
  const parts = details.map((detail) => {
    if (detail && typeof detail === 'object') {
      const d = detail as Record<string, unknown>;
      if (typeof d.file === 'string') return `${d.file}:${String(d.line)}:${String(d.column)}: ${String(d.path ?? '')}: ${String(d.message)}`;
      if (typeof d.field === 'string') return `${d.field}: ${String(d.message)}`;
    }
    return JSON.stringify(detail);
  });
  return ` (${parts.join('; ')})`;
}

export class ApiClient {
  private readonly fetch: Fetch;

  constructor(private readonly options: ClientOptions) {
    this.fetch = trustingFetch(options.caBundlePem);
  }

  async request(method: string, path: string, body?: { json?: unknown; text?: string; contentType?: string }): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    let payload: string | undefined;
    if (body?.json !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body.json);
    } else if (body?.text !== undefined) {
      headers['content-type'] = body.contentType ?? 'application/yaml';
      payload = body.text;
    }
    const url = new URL(path, this.options.server).toString();
    let response: Response;
    try {
      response = await this.fetch(url, { method, headers, body: payload, signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000) });
    } catch (error) {
      const cause = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
      throw new CliError(`cannot reach the Accord server at ${this.options.server}: ${cause}`);
    }
    if (!response.ok) {
      let message = `${method} ${path} failed with HTTP ${response.status}`;
      let api: CliError['api'];
      try {
        const parsed = (await response.json()) as ErrorBody;
        if (parsed.error?.message) {
          message = `${parsed.error.code ?? response.status}: ${parsed.error.message}${describeDetails(parsed.error.details)}`;
          api = { status: response.status, code: parsed.error.code ?? String(response.status), message: parsed.error.message, details: parsed.error.details ?? [] };
        }
      } catch {
        // body was not JSON; keep the status line
      }
      throw new CliError(message, EXIT_FAILURE, api);
    }
    return response;
  }

  async json<T>(method: string, path: string, body?: { json?: unknown; text?: string; contentType?: string }): Promise<T> {
    const response = await this.request(method, path, body);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  async text(method: string, path: string): Promise<string> {
    const response = await this.request(method, path);
    return response.text();
  }
}
