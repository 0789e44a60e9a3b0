/**
 * The one name grammar. Services, namespaces and service accounts end up in SPIFFE IDs, Envoy
 * cluster names and `xds:///` targets, so registration and policies both hold them to
 * Kubernetes' DNS-1123 label; names of policy documents (and their subsets) are DNS-1123
 * subdomains, as `metadata.name` is in Kubernetes. Each check returns a message or undefined.
 */

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const DNS1123_LABEL_RULE = 'a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters';
export const DNS1123_SUBDOMAIN_RULE = 'a DNS-1123 subdomain: dot-separated DNS-1123 labels, at most 253 characters';

export function checkDns1123Label(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length === 0) return 'must not be empty';
  if (value.length > 63) return 'must be at most 63 characters';
  if (!DNS1123_LABEL.test(value)) {
    return 'must be a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit';
  }
  return undefined;
}

export function checkDns1123Subdomain(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length === 0) return 'must not be empty';
  if (value.length > 253) return 'must be at most 253 characters';
  for (const label of value.split('.')) {
    if (!DNS1123_LABEL.test(label) || label.length > 63) {
      return 'must be a DNS-1123 subdomain: dot-separated lowercase labels';
    }
  }
  return undefined;
}
