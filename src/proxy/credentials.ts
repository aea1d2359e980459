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
