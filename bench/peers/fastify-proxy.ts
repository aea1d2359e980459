// @fastify/http-proxy as a plain keep-alive reverse proxy (its default undici pool).
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';

const upstream = process.env.UPSTREAM!;
const app = Fastify({ logger: false });
await app.register(proxy, { upstream, prefix: '/', http: undefined });
const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.stdout.write(JSON.stringify({ port: Number(new URL(address).port) }) + '\n');
