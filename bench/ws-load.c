// wsload: a closed-loop WebSocket load generator in C, what wrk is to HTTP. In bench:ws the
// load generator shares core 1 with the upstream (the gRPC server in the bridge rounds),
// so its cost per message sets a ceiling on what the gateway can be measured at: the `ws`
// package's client cost ~13 µs a message there, a minimal Node client over `net` 11.3 µs
// (docs/transcoding.md § WebSocket bridge). This one costs what the system calls cost.
//
//   wsload HOST PORT PATH CONNECTIONS SECONDS MESSAGE [EXPECT]
//
// Each connection upgrades (RFC 6455), then sends MESSAGE as a masked text frame (a fresh
// key from getrandom per frame, 5.3) and waits for one text message back before the next.
// An answer that does not contain EXPECT (when given) counts as an error, as does a close,
// a non-101 upgrade or a read/write failure. Pings are answered. Prints
// {"messages","perSecond","p50","p99","errors"} like the Node loads (message-summary.ts).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_BUF (64 * 1024)
#define OUT_BUF (64 * 1024)

struct conn {
  int fd;
  int open;          // upgraded
  int dead;
  int want_out;      // EPOLLOUT armed: output is waiting
  double sent_at;    // when the message in flight was sent
  size_t in_len;
  unsigned char in[READ_BUF];
  size_t out_len;
  unsigned char out[OUT_BUF];
};

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static unsigned char keys[4096];
static size_t key_at = sizeof keys;
static void mask_key(unsigned char k[4]) {
  if (key_at + 4 > sizeof keys) {
    if (getrandom(keys, sizeof keys, 0) != (ssize_t)sizeof keys) { perror("getrandom"); exit(1); }
    key_at = 0;
  }
  memcpy(k, keys + key_at, 4);
  key_at += 4;
}

static const char *message, *expect;
static size_t message_len;
static double *lat;
static size_t lat_n, lat_cap;
static long errors;
static int running = 1;

static void record(double ms) {
  if (lat_n == lat_cap) { lat_cap = lat_cap ? lat_cap * 2 : 1 << 16; lat = realloc(lat, lat_cap * sizeof *lat); if (!lat) exit(1); }
  lat[lat_n++] = ms;
}

/** Appends one masked client frame to the connection's output. */
static int frame(struct conn *c, int opcode, const unsigned char *p, size_t n) {
  size_t head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  if (c->out_len + head + 4 + n > OUT_BUF) return -1;
  unsigned char *o = c->out + c->out_len;
  o[0] = 0x80 | opcode;
  if (n < 126) o[1] = 0x80 | n;
  else if (n < 65536) { o[1] = 0x80 | 126; o[2] = n >> 8; o[3] = n; }
  else { o[1] = 0x80 | 127; for (int i = 0; i < 8; i++) o[2 + i] = (uint64_t)n >> (56 - 8 * i); }
  unsigned char *k = o + head;
  mask_key(k);
  for (size_t i = 0; i < n; i++) o[head + 4 + i] = p[i] ^ k[i & 3];
  c->out_len += head + 4 + n;
  return 0;
}

static void fail(struct conn *c, int epfd) {
  if (c->dead) return;
  c->dead = 1;
  if (running) errors++;
  epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
}

/** Writes what is waiting; EAGAIN keeps the rest for EPOLLOUT. */
static void flush(struct conn *c, int epfd) {
  size_t at = 0;
  while (at < c->out_len) {
    ssize_t w = write(c->fd, c->out + at, c->out_len - at);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      fail(c, epfd);
      return;
    }
    at += (size_t)w;
  }
  memmove(c->out, c->out + at, c->out_len - at);
  c->out_len -= at;
  int want = c->out_len > 0;
  if (want != c->want_out) {
    struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c };
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want;
  }
}

static void send_message(struct conn *c) {
  c->sent_at = now_ms();
  frame(c, 0x1, (const unsigned char *)message, message_len);
}

/** Parses what was read: the 101 first, then whole frames. */
static void on_input(struct conn *c, int epfd) {
  size_t at = 0;
  if (!c->open) {
    unsigned char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) { if (c->in_len == READ_BUF) fail(c, epfd); return; }
    if (c->in_len < 13 || memcmp(c->in, "HTTP/1.1 101 ", 13) != 0) { fail(c, epfd); return; }
    c->open = 1;
    at = (size_t)(end - c->in) + 4;
    send_message(c);
  }
  while (c->in_len - at >= 2) {
    unsigned char *f = c->in + at;
    int opcode = f[0] & 0x0f;
    uint64_t n = f[1] & 0x7f;
    size_t head = 2;
    if (n == 126) { if (c->in_len - at < 4) break; n = (f[2] << 8) | f[3]; head = 4; }
    else if (n == 127) { if (c->in_len - at < 10) break; n = 0; for (int i = 0; i < 8; i++) n = (n << 8) | f[2 + i]; head = 10; }
    if (n > READ_BUF - 10) { fail(c, epfd); return; }
    if (c->in_len - at < head + n) break;
    unsigned char *p = f + head;
    if (opcode == 0x1) {
      record(now_ms() - c->sent_at);
      if (expect && !memmem(p, n, expect, strlen(expect)) && running) errors++;
      if (running) send_message(c);
    } else if (opcode == 0x9) {
      frame(c, 0xa, p, n);
    } else if (opcode == 0x8) {
      fail(c, epfd);
      return;
    }
    at += head + n;
  }
  memmove(c->in, c->in + at, c->in_len - at);
  c->in_len -= at;
  if (c->out_len) flush(c, epfd);
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 7) { fprintf(stderr, "usage: wsload HOST PORT PATH CONNECTIONS SECONDS MESSAGE [EXPECT]\n"); return 2; }
  const char *host = argv[1], *path = argv[3];
  int port = atoi(argv[2]), n = atoi(argv[4]);
  double seconds = atof(argv[5]);
  message = argv[6];
  message_len = strlen(message);
  expect = argc > 7 ? argv[7] : NULL;
  int epfd = epoll_create1(0);
  struct conn *conns = calloc((size_t)n, sizeof *conns);
  if (!conns || epfd < 0) return 1;
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) { fprintf(stderr, "wsload: %s is not an IPv4 address\n", host); return 2; }
  for (int i = 0; i < n; i++) {
    struct conn *c = &conns[i];
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("wsload: connect"); return 1; }
    char req[1024];
    unsigned char nonce[16];
    if (getrandom(nonce, sizeof nonce, 0) != 16) return 1;
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char key[25];
    for (int j = 0, k = 0; j < 15; j += 3) {
      uint32_t v = nonce[j] << 16 | nonce[j + 1] << 8 | nonce[j + 2];
      key[k++] = b64[v >> 18]; key[k++] = b64[(v >> 12) & 63]; key[k++] = b64[(v >> 6) & 63]; key[k++] = b64[v & 63];
    }
    key[20] = b64[nonce[15] >> 2]; key[21] = b64[(nonce[15] & 3) << 4]; key[22] = '='; key[23] = '='; key[24] = 0;
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, host, port, key);
    if (write(c->fd, req, (size_t)len) != len) { perror("wsload: write"); return 1; }
    if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) != 0) { perror("wsload: nonblock"); return 1; }
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
  }
  double started = now_ms(), until = started + seconds * 1e3;
  struct epoll_event evs[256];
  while (1) {
    double t = now_ms();
    if (t >= until) break;
    int k = epoll_wait(epfd, evs, 256, (int)(until - t) + 1);
    if (k < 0 && errno != EINTR) { perror("wsload: epoll_wait"); return 1; }
    for (int i = 0; i < k; i++) {
      struct conn *c = evs[i].data.ptr;
      if (c->dead) continue;
      if (evs[i].events & EPOLLOUT) flush(c, epfd);
      if (c->dead || !(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      ssize_t r = read(c->fd, c->in + c->in_len, READ_BUF - c->in_len);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0) { fail(c, epfd); continue; }
      c->in_len += (size_t)r;
      on_input(c, epfd);
    }
  }
  double elapsed = (now_ms() - started) / 1e3;
  running = 0;
  for (int i = 0; i < n; i++) if (!conns[i].dead) close(conns[i].fd);
  qsort(lat, lat_n, sizeof *lat, by_value);
  double p50 = lat_n ? lat[(size_t)(0.5 * lat_n)] : 0, p99 = lat_n ? lat[(size_t)(0.99 * lat_n)] : 0;
  printf("{\"messages\":%zu,\"perSecond\":%.0f,\"p50\":%.2f,\"p99\":%.2f,\"errors\":%ld}\n", lat_n, lat_n / elapsed, p50, p99, errors);
  return 0;
}
