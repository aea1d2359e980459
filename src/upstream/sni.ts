// The TLS server name an upstream connection sends (SNI) and checks the certificate for:
// the configured one, else the target's host name; an IP literal sends none (RFC 6066).
import net from 'node:net';

export function serverNameFor(host: string, configured?: string): string | undefined {
  return configured ?? (net.isIP(host) ? undefined : host);
}
