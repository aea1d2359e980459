import { pino } from 'pino';

/** Process-wide JSON logger (stdout). LOG_LEVEL=debug|info|warn|error|silent. */
export const log = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { svc: 'gateway' } });
