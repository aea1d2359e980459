// Cookies and query parameters: reading one by name, and removing credentials before a
// request is forwarded (hideCredentials, as Kong's hide_credentials for query and cookie).

/** The value of cookie `name` in a Cookie header, or undefined. */
export function cookieValue(cookies: string | undefined, name: string): string | undefined {
  if (!cookies) return undefined;
  for (const part of cookies.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The Cookie header without the cookies in `names` ("" when none is left). */
export function withoutCookies(cookies: string, names: ReadonlySet<string>): string {
  return cookies.split(';').filter((part) => {
    const eq = part.indexOf('=');
    return !(eq > 0 && names.has(part.slice(0, eq).trim()));
  }).map((p) => p.trim()).join('; ');
}

function decodeName(raw: string): string {
  const plus = raw.replace(/\+/g, ' ');
  try { return decodeURIComponent(plus); } catch { return plus; }
}

/** The raw query string without the parameters in `names`; the others stay byte for byte. */
export function withoutQueryParams(query: string, names: ReadonlySet<string>): string {
  return query.split('&').filter((part) => {
    const eq = part.indexOf('=');
    return !names.has(decodeName(eq < 0 ? part : part.slice(0, eq)));
  }).join('&');
}

/** Header, query and field names that carry credentials: their values are never shown (admin config, access log). */
export const CREDENTIAL_NAME = /authorization|api[-_]?key|token|secret|passw|pwd|cookie|credential|session|signature|jwt|^key$|^sig$|^auth$/i;

export const REDACTED = '[redacted]';

/** The raw query with the values of credential-like parameters (and of `also`) replaced by [redacted]. */
export function redactQuery(query: string, also: ReadonlySet<string>): string {
  if (!query) return query;
  return query.split('&').map((part) => {
    const eq = part.indexOf('=');
    if (eq < 0) return part;
    const name = decodeName(part.slice(0, eq));
    return CREDENTIAL_NAME.test(name) || also.has(name) ? `${part.slice(0, eq)}=${REDACTED}` : part;
  }).join('&');
}
