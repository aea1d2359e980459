// Where access-log lines go: a file opened for append (or fd 1), written off the request
// path. Each line is encoded at once into a buffer; a full buffer (64 KB), or FLUSH_MS after
// the first line, goes out in one asynchronous write (as Envoy's access-log buffer: 64 KB or
// its flush interval), at most one write in flight, so a request never waits for a disk and
// a busy thread makes one system call for ~150 lines. Hand-written because the profile
// showed pino's destination (sonic-boom: string concatenation and a write per event-loop
// turn) costing several µs a line on the serving core (docs/observability.md, Cost).
// Bounded: when the disk is slower than the traffic, lines past MAX_PENDING bytes are dropped
// and counted (a log never takes the gateway's memory). Each front-end thread has its own
// writer on the same file: O_APPEND writes of whole lines do not interleave (for a pipe,
// buffers are PIPE_BUF long so each write stays atomic too).
import { closeSync, fstatSync, mkdirSync, openSync, write, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** bytes waiting to be written before lines are dropped */
export const MAX_PENDING = 8 * 1024 * 1024;
/** a line is on its way to the file at most this long after it was logged (unless the disk is slower) */
export const FLUSH_MS = 200;
const FILE_BUFFER = 64 * 1024;
const PIPE_BUFFER = 4096;

export class LineWriter {
  private fd: number;
  private size: number;
  /** the buffer lines are encoded into, and how much of it is used */
  private buf: Buffer;
  private used = 0;
  /** filled buffers waiting for the write in flight */
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private spare: Buffer | null = null;
  private writing = false;
  private timer: NodeJS.Timeout | null = null;
  private reopenWanted = false;
  private closed = false;
  /** lines dropped because too much was waiting */
  dropped = 0;

  /** `path` null: standard output; `onDrop` is told of each dropped line. */
  constructor(private readonly path: string | null, private readonly onDrop: () => void = () => undefined) {
    if (path !== null) mkdirSync(dirname(path), { recursive: true });
    this.fd = this.open();
    this.size = this.bufferSize();
    this.buf = Buffer.allocUnsafe(this.size);
  }

  /** One line (with its newline), ASCII only. */
  write(line: string): void {
    if (this.closed) return;
    // Lines are ASCII (the access log escapes the rest): a character is a byte.
    if (this.used + line.length > this.size) {
      if (this.queued + this.used + line.length > MAX_PENDING) { this.dropped++; this.onDrop(); return; }
      this.rotate();
      if (line.length > this.size) { this.enqueue(Buffer.from(line, 'latin1')); this.kick(); return; }
    }
    this.used += this.buf.write(line, this.used, 'latin1');
    if (!this.timer && !this.writing) { this.timer = setTimeout(this.flush, FLUSH_MS); this.timer.unref(); }
    if (this.queue.length) this.kick();
  }

  /** After logrotate moved the file: the next write goes to a new file at the path. */
  reopen(): void {
    if (this.path === null) return;
    this.reopenWanted = true;
    if (!this.writing) this.swapFile();
  }

  /**
   * Writes what is waiting, synchronously (a thread may end right after), and closes the file
   * — after the write in flight, if there is one (its lines may then land after these).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    this.rotate();
    try {
      for (const b of this.queue.splice(0)) this.writeAllSync(b);
    } catch { /* the disk is gone: nothing more to do at exit */ }
    this.queued = 0;
    if (!this.writing) this.closeFile();
  }

  private closeFile(): void {
    if (this.path !== null) try { closeSync(this.fd); } catch { /* already closed */ }
  }

  private open(): number {
    return this.path === null ? 1 : openSync(this.path, 'a', 0o640);
  }

  private bufferSize(): number {
    try { return fstatSync(this.fd).isFile() ? FILE_BUFFER : PIPE_BUFFER; } catch { return PIPE_BUFFER; }
  }

  private swapFile(): void {
    this.reopenWanted = false;
    try {
      const fd = this.open();
      try { closeSync(this.fd); } catch { /* already closed */ }
      this.fd = fd;
    } catch { /* the directory is gone: keep the old file */ }
  }

  /** The filled part of the current buffer joins the queue; lines go on in a fresh buffer. */
  private rotate(): void {
    if (this.used === 0) return;
    this.enqueue(this.buf.subarray(0, this.used));
    this.buf = this.spare ?? Buffer.allocUnsafe(this.size);
    this.spare = null;
    this.used = 0;
  }

  private enqueue(b: Buffer): void {
    this.queue.push(b);
    this.queued += b.length;
  }

  private kick(): void {
    if (!this.writing && this.queue.length) this.writeOut(this.queue.shift()!, 0);
  }

  private readonly flush = (): void => {
    this.timer = null;
    if (this.closed) return;
    this.rotate();
    this.kick();
  };

  private writeOut(buf: Buffer, from: number): void {
    this.writing = true;
    if (this.reopenWanted) this.swapFile();
    write(this.fd, buf, from, buf.length - from, null, (err, n) => {
      if (err && (err as NodeJS.ErrnoException).code === 'EAGAIN') { setTimeout(() => this.writeOut(buf, from), 5); return; }
      // Another error (disk full, closed pipe): these lines are lost; the next ones try again.
      if (!err && from + n < buf.length) { this.writeOut(buf, from + n); return; }
      this.writing = false;
      this.queued -= buf.length;
      // A whole buffer that was written is reused for the next lines (its slices were the only views).
      if (buf.byteOffset === 0 && buf.buffer.byteLength === this.size && !this.spare) this.spare = Buffer.from(buf.buffer, 0, this.size);
      if (this.closed) { this.closeFile(); return; }
      if (this.reopenWanted) this.swapFile();
      if (this.queue.length) this.kick();
      else if (this.used && !this.timer) { this.timer = setTimeout(this.flush, FLUSH_MS); this.timer.unref(); }
    });
  }

  private writeAllSync(buf: Buffer): void {
    let from = 0;
    while (from < buf.length) {
      try { from += writeSync(this.fd, buf, from, buf.length - from); } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      }
    }
  }
}
