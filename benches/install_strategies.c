// Microbenchmark (not built by cargo): the cost of creating N small files with each
// way of installing them, the floor under zcopy's per-file path.
//   cc -O2 -o install_strategies benches/install_strategies.c
//   ./install_strategies SRC_DIR DST_PARENT N STRATEGY [clone|cfr]
// STRATEGY: plain (open O_CREAT|O_EXCL, cp's cost, not atomic), tmpfile_proc (O_TMPFILE
// + linkat through /proc/self/fd), tmpfile_empty (O_TMPFILE + linkat AT_EMPTY_PATH),
// named_noreplace (named temp + renameat2 RENAME_NOREPLACE), named_rename (named temp
// + rename). The data is copied with pread/pwrite, FICLONE (clone) or copy_file_range
// (cfr). SRC_DIR holds f0..f{N-1}; a fresh DST_PARENT/d.PID is filled, then syncfs'ed.
// Prints CPU and wall time per file of the loop, the syncfs time, and files/s with it.
// Remove DST_PARENT/d.PID (printed as DST) afterwards.
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include <sys/resource.h>
static double cpu(void){struct rusage u;getrusage(RUSAGE_SELF,&u);return u.ru_utime.tv_sec+u.ru_stime.tv_sec+(u.ru_utime.tv_usec+u.ru_stime.tv_usec)/1e6;}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what, const char *name) {
  fprintf(stderr, "%s %s: %s\n", what, name, strerror(errno));
  exit(1);
}

static char buf[1 << 20] __attribute__((aligned(4096)));

int main(int argc, char **argv) {
  if (argc < 5) return 2;
  const char *src = argv[1];
  int n = atoi(argv[3]);
  const char *strategy = argv[4];
  int clone = argc > 5 && strcmp(argv[5], "clone") == 0; int cfr = argc > 5 && strcmp(argv[5], "cfr") == 0;
  char dst[4096];
  snprintf(dst, sizeof dst, "%s/d.%d", argv[2], getpid());
  int srcdir = open(src, O_RDONLY | O_DIRECTORY);
  if (srcdir < 0) die("open", src);
  if (mkdir(dst, 0755)) die("mkdir", dst);
  int dir = open(dst, O_RDONLY | O_DIRECTORY);
  if (dir < 0) die("open", dst);
  double t0 = now(); double c0 = cpu();
  for (int i = 0; i < n; i++) {
    char name[64], tmp[80], proc[64];
    snprintf(name, sizeof name, "f%d", i);
    snprintf(tmp, sizeof tmp, ".f%d.XXXXXX.zcopy-tmp", i);
    int in = openat(srcdir, name, O_RDONLY | O_NOCTTY | O_NONBLOCK);
    if (in < 0) die("open src", name);
    struct stat st;
    fstat(in, &st);
    int out;
    int unnamed = strncmp(strategy, "tmpfile", 7) == 0;
    if (strcmp(strategy, "plain") == 0)
      out = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL, 0644);
    else if (unnamed)
      out = openat(dir, ".", O_TMPFILE | O_RDWR, 0644);
    else
      out = openat(dir, tmp, O_RDWR | O_CREAT | O_EXCL, 0644);
    if (out < 0) die("create", name);
    if (clone) {
      if (ioctl(out, FICLONE, in)) die("ficlone", name);
    } else if (cfr) {
      loff_t a = 0, b = 0;
      if (copy_file_range(in, &a, out, &b, st.st_size, 0) != st.st_size) die("cfr", name);
    } else {
      ssize_t r = pread(in, buf, st.st_size, 0);
      if (r != st.st_size) die("read", name);
      if (pwrite(out, buf, r, 0) != r) die("write", name);
    }
    if (strcmp(strategy, "tmpfile_proc") == 0) {
      snprintf(proc, sizeof proc, "/proc/self/fd/%d", out);
      if (linkat(AT_FDCWD, proc, dir, name, AT_SYMLINK_FOLLOW)) die("linkat", name);
    } else if (strcmp(strategy, "tmpfile_empty") == 0) {
      if (linkat(out, "", dir, name, AT_EMPTY_PATH)) die("linkat", name);
    }
    close(out);
    close(in);
    if (strcmp(strategy, "named_noreplace") == 0) {
      if (renameat2(dir, tmp, dir, name, RENAME_NOREPLACE)) die("rename", name);
    } else if (strcmp(strategy, "named_rename") == 0) {
      if (renameat(dir, tmp, dir, name)) die("rename", name);
    }
  }
  double t1 = now(); double c1 = cpu();
  if (syncfs(dir)) die("syncfs", dst);
  double t2 = now();
  printf("%s%s cpu_us/file %.1f wall_us/file %.1f sync_ms %.0f files/s %.0f\n",
         strategy, clone ? "+clone" : cfr ? "+cfr" : "", (c1-c0)*1e6/n, (t1-t0)*1e6/n, (t2-t1)*1e3, n / (t2 - t0));
  printf("DST %s\n", dst);
  return 0;
}
