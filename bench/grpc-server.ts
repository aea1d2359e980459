// The benchmark gRPC upstream: the demo Catalog service (grpc-js). Prints {"port"}.
import { startCatalogServer } from '../src/demo/catalog-service.js';

const s = await startCatalogServer(Number(process.env.PORT ?? 0));
process.stdout.write(JSON.stringify({ port: s.port }) + '\n');
