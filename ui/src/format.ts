/** Times as people read them: "in 23h", "5m ago", and ISO dates. */
export function relative(iso: string | number | undefined, now = Date.now()): string {
  if (iso === undefined) return '-';
  const at = typeof iso === 'number' ? iso : Date.parse(iso);
  if (!Number.isFinite(at)) return '-';
  const delta = at - now;
  const text = span(Math.abs(delta));
  return delta >= 0 ? `in ${text}` : `${text} ago`;
}

export function span(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.round(hours / 24)}d`;
}

export function isoDate(iso: string | number | undefined): string {
  if (iso === undefined) return '-';
  const at = typeof iso === 'number' ? iso : Date.parse(iso);
  return Number.isFinite(at) ? new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z') : '-';
}
