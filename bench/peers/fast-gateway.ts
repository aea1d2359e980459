// fast-gateway as a plain reverse proxy (fast-proxy-lite with a keep-alive http.Agent).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const gateway = require('fast-gateway') as (opts: unknown) => { start(port: number, host?: string): Promise<{ address(): { port: number } }> };
const server = gateway({ routes: [{ prefix: '', target: process.env.UPSTREAM! }] });
const srv = await server.start(Number(process.env.PORT ?? 0), '127.0.0.1');
process.stdout.write(JSON.stringify({ port: srv.address().port }) + '\n');
