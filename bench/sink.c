// The receiving end of the TCP benchmark (bench/tcp.js): a tiny TCP sink in its own process,
// so that only the sender (abio, Node, iperf3) is measured.
//
//   cc -O2 -o sink bench/sink.c
//   ./sink PORT [bytes|frames]      PORT 0: any free port
//
// It listens on 127.0.0.1:PORT, prints "listening <port>" on stdout once it does, then
// serves one connection at a time, forever:
//   bytes   (the default) read into a 1 MiB buffer until EOF, then write back the byte
//           count (u64 little-endian, 8 bytes) and close.
//   frames  the same reading, but the stream is parsed as frames (u32 big-endian length,
//           then that many bytes); at EOF it writes back 6 x u64 little-endian (48 bytes):
//           frames, payload bytes, sum of all payload bytes received (each byte as a number),
//           smallest and largest frame length (0 and 0 without frames), and the bytes of an
//           incomplete frame left at EOF (header included; 0 when the stream ended on a
//           frame boundary).
// It exits when its parent does (Linux) or on SIGTERM/SIGINT.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#if defined(__SSE2__) && defined(__x86_64__)
#include <emmintrin.h>
#endif

#define BUF_SIZE (1 << 20)

static unsigned char buf[BUF_SIZE];

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void put_u64le(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static int write_all(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

// bytes mode: count until EOF. Returns -1 on a read error.
static int64_t count_bytes(int fd) {
  uint64_t total = 0;
  for (;;) {
    ssize_t r = read(fd, buf, BUF_SIZE);
    if (r == 0) return (int64_t)total;
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    total += (uint64_t)r;
  }
}

struct frame_stats {
  uint64_t frames, payload, sum, min_len, max_len, leftover;
};

// The sum of n bytes, each as a number: fast enough (psadbw, 16 bytes a step) that the
// frames sink keeps up with the senders.
static uint64_t byte_sum(const unsigned char *p, size_t n) {
  uint64_t s = 0;
  size_t i = 0;
#if defined(__SSE2__) && defined(__x86_64__)
  __m128i acc = _mm_setzero_si128();
  const __m128i zero = _mm_setzero_si128();
  for (; i + 16 <= n; i += 16) acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_loadu_si128((const __m128i *)(p + i)), zero));
  s = (uint64_t)_mm_cvtsi128_si64(acc) + (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc));
#endif
  for (; i < n; i++) s += p[i];
  return s;
}

static uint64_t be32(const unsigned char *h) {
  return ((uint64_t)h[0] << 24) | ((uint64_t)h[1] << 16) | ((uint64_t)h[2] << 8) | h[3];
}

// frames mode: parse u32 big-endian length + payload until EOF. Returns -1 on a read error.
static int parse_frames(int fd, struct frame_stats *st) {
  memset(st, 0, sizeof *st);
  st->min_len = UINT64_MAX;
  unsigned char hdr[4];
  unsigned hdr_have = 0;  // header bytes of the current frame seen so far
  uint64_t need = 0;      // payload bytes of the current frame still to come
  int in_payload = 0;
  uint64_t cur_len = 0;
  for (;;) {
    ssize_t r = read(fd, buf, BUF_SIZE);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    const unsigned char *p = buf;
    size_t n = (size_t)r;
    while (n > 0) {
      if (!in_payload) {
        if (hdr_have == 0 && n >= 4) {  // the whole header in this read: the usual case
          cur_len = be32(p);
          p += 4;
          n -= 4;
        } else {
          while (hdr_have < 4 && n > 0) {
            hdr[hdr_have++] = *p++;
            n--;
          }
          if (hdr_have < 4) break;
          cur_len = be32(hdr);
        }
        need = cur_len;
        in_payload = 1;
      }
      size_t take = need < n ? (size_t)need : n;
      st->sum += byte_sum(p, take);
      st->payload += take;
      p += take;
      n -= take;
      need -= take;
      if (need == 0) {
        st->frames++;
        if (cur_len < st->min_len) st->min_len = cur_len;
        if (cur_len > st->max_len) st->max_len = cur_len;
        in_payload = 0;
        hdr_have = 0;
      }
    }
  }
  if (in_payload) {
    st->leftover = 4 + (cur_len - need);
    st->payload -= cur_len - need;  // not a whole frame: not counted as payload
  } else {
    st->leftover = hdr_have;
  }
  if (st->frames == 0) st->min_len = 0;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s PORT [bytes|frames]\n", argv[0]);
    return 2;
  }
  int frames_mode = argc == 3 && strcmp(argv[2], "frames") == 0;
  if (argc == 3 && !frames_mode && strcmp(argv[2], "bytes") != 0) {
    fprintf(stderr, "unknown mode %s (bytes or frames)\n", argv[2]);
    return 2;
  }
#ifdef __linux__
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() == 1) return 1;  // the parent is already gone
#endif
  signal(SIGPIPE, SIG_IGN);

  int ls = socket(AF_INET, SOCK_STREAM, 0);
  if (ls < 0) die("socket");
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons((uint16_t)atoi(argv[1]));
  if (bind(ls, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
  if (listen(ls, 16) < 0) die("listen");
  socklen_t alen = sizeof addr;
  if (getsockname(ls, (struct sockaddr *)&addr, &alen) < 0) die("getsockname");
  printf("listening %u\n", (unsigned)ntohs(addr.sin_port));
  fflush(stdout);

  for (;;) {
    int fd = accept(ls, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      die("accept");
    }
    if (frames_mode) {
      struct frame_stats st;
      if (parse_frames(fd, &st) == 0) {
        unsigned char out[48];
        put_u64le(out, st.frames);
        put_u64le(out + 8, st.payload);
        put_u64le(out + 16, st.sum);
        put_u64le(out + 24, st.min_len);
        put_u64le(out + 32, st.max_len);
        put_u64le(out + 40, st.leftover);
        write_all(fd, out, sizeof out);
      }
    } else {
      int64_t total = count_bytes(fd);
      if (total >= 0) {
        unsigned char out[8];
        put_u64le(out, (uint64_t)total);
        write_all(fd, out, sizeof out);
      }
    }
    close(fd);
  }
}
