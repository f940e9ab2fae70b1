// Microbenchmark (not built by cargo): what the safety contract's system calls cost
// on a tree of small files, with no program around them. It copies SRC (a directory
// of directories of files, as `zcopy bench` makes them) to DST with the calls cpz
// makes per file (open, statx, create, one copy, two closes), plus those FLAGS add:
//   r  pread + pwrite instead of copy_file_range (zcopy's chunk copy below
//      ZERO_COPY_MIN_SIZE_MB, where the kernel copy is not used)
//   c  FICLONE instead of copy_file_range (what zcopy does on btrfs and XFS)
//   e  a stat of the source's name after the copy (the source-changed check)
//   v  a stat of the copy (the size verification)
//   s  a stat of each file before the copy (the plan's size, for the hidden-tree
//      decision)
//   -  none of these: cpz's calls
// The source is opened O_NOFOLLOW and stat'ed through its descriptor, and the copy
// created O_EXCL, as zcopy does; cpz stats by name and truncates, the same cost.
//   2..9 that many threads share the work, each taking every n-th directory of SRC,
//      as zcopy's workers keep to a directory each (default 1)
//   cc -O2 -pthread -o contract_floor benches/contract_floor.c
//   /usr/bin/time ./contract_floor FLAGS SRC DST     (DST must not exist; e.g. FLAGS
//   "cevs2": clone, both looks, the walk's stat, two threads)
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static int rw, by_clone, end, verify, plan, threads = 1;
static int source_root, destination_root;

// One thread's part: every `threads`-th directory of the source, from `first`.
static void *copy_part(void *first_directory) {
  long first = (long)first_directory;
  static __thread char buffer[1 << 16] __attribute__((aligned(4096)));
  // Its own open of SRC: a dup would share one read position among the threads.
  DIR *top = fdopendir(openat(source_root, ".", O_RDONLY | O_DIRECTORY));
  if (top == NULL) {
    perror("fdopendir");
    exit(1);
  }
  struct dirent *directory;
  for (long index = 0; (directory = readdir(top)) != NULL;) {
    if (directory->d_name[0] == '.') continue;
    if (index++ % threads != first) continue;
    mkdirat(destination_root, directory->d_name, 0755);
    int from = openat(source_root, directory->d_name, O_RDONLY | O_DIRECTORY);
    int to = openat(destination_root, directory->d_name, O_RDONLY | O_DIRECTORY);
    DIR *files = fdopendir(dup(from));
    struct dirent *file;
    struct statx before, looked, after, copy;
    while ((file = readdir(files)) != NULL) {
      if (file->d_name[0] == '.') continue;
      if (plan) statx(from, file->d_name, AT_SYMLINK_NOFOLLOW, STATX_SIZE, &looked);
      int source = openat(from, file->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      statx(source, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &before);
      int target = openat(to, file->d_name,
                          O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (source < 0 || target < 0) {
        perror(file->d_name);
        exit(1);
      }
      if (rw) {
        for (off_t at = 0; at < (off_t)before.stx_size;) {
          ssize_t got = pread(source, buffer, sizeof buffer, at);
          if (got <= 0 || pwrite(target, buffer, got, at) != got) {
            perror(file->d_name);
            exit(1);
          }
          at += got;
        }
      } else if (by_clone) {
        if (ioctl(target, FICLONE, source) != 0) {
          perror("FICLONE");
          exit(1);
        }
      } else {
        copy_file_range(source, NULL, target, NULL, before.stx_size, 0);
      }
      if (end) statx(from, file->d_name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &after);
      if (verify) statx(target, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &copy);
      close(target);
      close(source);
    }
    closedir(files);
    close(from);
    close(to);
  }
  closedir(top);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s FLAGS SRC DST\n", argv[0]);
    return 2;
  }
  const char *flags = argv[1];
  rw = strchr(flags, 'r') != NULL;
  by_clone = strchr(flags, 'c') != NULL;
  end = strchr(flags, 'e') != NULL;
  verify = strchr(flags, 'v') != NULL;
  plan = strchr(flags, 's') != NULL;
  for (const char *flag = flags; *flag; flag++)
    if (*flag >= '2' && *flag <= '9') threads = *flag - '0';
  if (mkdir(argv[3], 0755) != 0) {
    perror(argv[3]);
    return 1;
  }
  source_root = open(argv[2], O_RDONLY | O_DIRECTORY);
  destination_root = open(argv[3], O_RDONLY | O_DIRECTORY);
  if (source_root < 0 || destination_root < 0) {
    perror("open");
    return 1;
  }
  pthread_t workers[9];
  for (long first = 0; first < threads; first++)
    pthread_create(&workers[first], NULL, copy_part, (void *)first);
  for (long first = 0; first < threads; first++) pthread_join(workers[first], NULL);
  return 0;
}
