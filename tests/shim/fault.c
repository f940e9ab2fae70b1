// LD_PRELOAD fault injector for zcopy's tests: faults at the syscall boundary (the
// libc wrappers zcopy calls), never inside zcopy's own code. Built by the tests with
// cc; driven by environment variables, all optional:
//
//   ZCOPY_FAULT_FICLONE=ERRNO           ioctl(FICLONE) fails with ERRNO
//   ZCOPY_FAULT_COPY_FILE_RANGE=ERRNO   copy_file_range fails with ERRNO
//   ZCOPY_FAULT_SENDFILE=ERRNO          sendfile fails with ERRNO
//   ZCOPY_FAULT_AFTER_BYTES=N           once N bytes went through copy_file_range,
//   ZCOPY_FAULT_LATE_ERRNO=ERRNO          sendfile or (p)write (to regular files), the
//                                         next such call fails with ERRNO (the call
//                                         crossing N is shortened to end at N)
//   ZCOPY_FAULT_CORRUPT_WRITE=1         flips one byte of the first write to a regular file
//   ZCOPY_FAULT_LYING_WRITE=1           every write to a regular file writes half of its
//                                         bytes but reports all of them written
//   ZCOPY_FAULT_COPY_FILE_RANGE_EOF=1   copy_file_range copies nothing and returns 0, as
//   ZCOPY_FAULT_SENDFILE_EOF=1            on files that only look non-empty; sendfile too
//   ZCOPY_FAULT_DELAY_US=N              sleeps N microseconds before each data call
//   ZCOPY_FAULT_SOURCE_PATH=PATH        after the first data call that reads PATH's
//   ZCOPY_FAULT_SOURCE_ACTION=truncate|append|replace   content, changes PATH that way
//   ZCOPY_FAULT_SOURCE_WHEN=read|fsync  ... only at the first read/pread of it (not
//                                         copy_file_range or sendfile), or at the first
//                                         fsync/fdatasync of any file, instead
//   ZCOPY_FAULT_READ_ERRNO=ERRNO        every read/pread of PATH (the file named by
//                                         ZCOPY_FAULT_SOURCE_PATH) fails with ERRNO
//   ZCOPY_FAULT_LOG=PATH                appends "fsync TARGET" for every fsync/fdatasync
//                                         (and "linkat-empty-path refused" below)
//   ZCOPY_FAULT_LOG_FIRST_WRITE=1       ... and "first-write mode=OCTAL gid=N acl=0|1" for
//                                         the file of the first write: what the
//                                         copy's bytes are exposed to while written
//   ZCOPY_FAULT_REFUSE_EMPTY_PATH=ERRNO linkat(..., AT_EMPTY_PATH) fails with ERRNO, as
//                                         for a caller without CAP_DAC_READ_SEARCH on
//                                         kernels before 6.10 (ENOENT)
//   ZCOPY_FAULT_SWAP_PATH=PATH          just before the first open(2) of PATH, PATH
//   ZCOPY_FAULT_SWAP_TO=fifo|symlink      becomes a FIFO, or a symlink to the file it
//                                         was (moved to PATH.swapped): what a walk saw
//                                         is no longer there when the copy opens it
//   ZCOPY_FAULT_SWAP_TO=symlink-to:TARGET ... or a symlink to TARGET (PATH moved aside,
//                                         if there is one)
//   ZCOPY_FAULT_SWAP_WHEN_OPENING=PATH2 ... at the first open of PATH2 instead (a file
//                                         in the directory PATH, say), or its mkdir
//                                         or opendir
//   ZCOPY_FAULT_SWAP_AFTER_MAKING=PATH3 ... right after mknod(2) made PATH3 instead
//                                         (between a node's making and its attributes)
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

static long env_long(const char *name, long fallback) {
    const char *value = getenv(name);
    return value && *value ? strtol(value, NULL, 10) : fallback;
}

static long long passed_bytes;
static int corrupted, source_changed;

static int is_regular(int fd) {
    struct stat st;
    return fd > 2 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

static void delay(void) {
    long us = env_long("ZCOPY_FAULT_DELAY_US", 0);
    if (us > 0) usleep((useconds_t)us);
}

// Nonzero (with errno set) when the late fault is due.
static int late_fault(void) {
    long after = env_long("ZCOPY_FAULT_AFTER_BYTES", -1);
    if (after >= 0 && passed_bytes >= after) {
        errno = (int)env_long("ZCOPY_FAULT_LATE_ERRNO", EIO);
        return 1;
    }
    return 0;
}

// A request shortened so that it ends where the late fault is due (a short count,
// which callers must handle anyway).
static size_t limit(size_t len) {
    long after = env_long("ZCOPY_FAULT_AFTER_BYTES", -1);
    if (after >= 0 && passed_bytes < after && passed_bytes + (long long)len > after)
        return (size_t)(after - passed_bytes);
    return len;
}

// Does fd read the file at ZCOPY_FAULT_SOURCE_PATH?
static int is_source(int fd) {
    const char *path = getenv("ZCOPY_FAULT_SOURCE_PATH");
    struct stat a, b;
    return path && fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// Is now the moment ZCOPY_FAULT_SOURCE_WHEN names? `when` is where the caller is:
// "data" (copy_file_range, sendfile), "read" or "fsync".
static int source_change_due(const char *when) {
    const char *wanted = getenv("ZCOPY_FAULT_SOURCE_WHEN");
    if (!wanted || !*wanted) return strcmp(when, "fsync") != 0;
    return strcmp(wanted, when) == 0;
}

static void change_source(void) {
    const char *path = getenv("ZCOPY_FAULT_SOURCE_PATH");
    const char *action = getenv("ZCOPY_FAULT_SOURCE_ACTION");
    if (source_changed || !path || !action) return;
    source_changed = 1;
    if (strcmp(action, "truncate") == 0) {
        struct stat st;
        if (stat(path, &st) == 0) truncate(path, st.st_size / 2);
    } else if (strcmp(action, "append") == 0) {
        int fd = open(path, O_WRONLY | O_APPEND);
        if (fd >= 0) { write(fd, "appended", 8); close(fd); }
    } else if (strcmp(action, "replace") == 0) {
        char other[4096];
        snprintf(other, sizeof other, "%s.replacement", path);
        int fd = open(other, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) { write(fd, "replacement", 11); close(fd); rename(other, path); }
    }
}

int ioctl(int fd, unsigned long request, ...) {
    static int (*real)(int, unsigned long, ...);
    if (!real) real = dlsym(RTLD_NEXT, "ioctl");
    va_list args;
    va_start(args, request);
    void *argument = va_arg(args, void *);
    va_end(args);
    if (request == FICLONE) {
        long fault = env_long("ZCOPY_FAULT_FICLONE", 0);
        if (fault) { errno = (int)fault; return -1; }
    }
    return real(fd, request, argument);
}

ssize_t copy_file_range(int in, loff_t *off_in, int out, loff_t *off_out, size_t len, unsigned int flags) {
    static ssize_t (*real)(int, loff_t *, int, loff_t *, size_t, unsigned int);
    if (!real) real = dlsym(RTLD_NEXT, "copy_file_range");
    long fault = env_long("ZCOPY_FAULT_COPY_FILE_RANGE", 0);
    if (fault) { errno = (int)fault; return -1; }
    if (env_long("ZCOPY_FAULT_COPY_FILE_RANGE_EOF", 0)) return 0;
    delay();
    if (late_fault()) return -1;
    int source = is_source(in);
    ssize_t n = real(in, off_in, out, off_out, limit(len), flags);
    if (n > 0) passed_bytes += n;
    if (n > 0 && source && source_change_due("data")) change_source();
    return n;
}

static ssize_t sendfile_common(int out, int in, off_t *offset, size_t count) {
    static ssize_t (*real)(int, int, off_t *, size_t);
    if (!real) real = dlsym(RTLD_NEXT, "sendfile64");
    long fault = env_long("ZCOPY_FAULT_SENDFILE", 0);
    if (fault) { errno = (int)fault; return -1; }
    if (env_long("ZCOPY_FAULT_SENDFILE_EOF", 0)) return 0;
    delay();
    if (late_fault()) return -1;
    int source = is_source(in);
    ssize_t n = real(out, in, offset, limit(count));
    if (n > 0) passed_bytes += n;
    if (n > 0 && source && source_change_due("data")) change_source();
    return n;
}

ssize_t sendfile(int out, int in, off_t *offset, size_t count) { return sendfile_common(out, in, offset, count); }
ssize_t sendfile64(int out, int in, off_t *offset, size_t count) { return sendfile_common(out, in, offset, count); }

// The faults of reads and writes, shared by read/pread and write/pwrite: `io` does
// the real call with the (possibly shortened, possibly corrupted) buffer.
static ssize_t faulty_read(int fd, void *buffer, size_t count, ssize_t (*io)(int, void *, size_t, off_t), off_t offset) {
    int regular = is_regular(fd);
    if (regular) delay();
    int source = regular && is_source(fd);
    long fault = source ? env_long("ZCOPY_FAULT_READ_ERRNO", 0) : 0;
    if (fault) { errno = (int)fault; return -1; }
    ssize_t n = io(fd, buffer, count, offset);
    if (n > 0 && source && source_change_due("read")) change_source();
    return n;
}

// The access rights of the file of the first write (ZCOPY_FAULT_LOG_FIRST_WRITE).
static void log_first_write(int fd) {
    static int logged;
    const char *log = getenv("ZCOPY_FAULT_LOG");
    if (logged || !log || !env_long("ZCOPY_FAULT_LOG_FIRST_WRITE", 0)) return;
    logged = 1;
    struct stat st;
    if (fstat(fd, &st) != 0) return;
    int acl = fgetxattr(fd, "system.posix_acl_access", NULL, 0) >= 0;
    FILE *out = fopen(log, "a");
    if (out) {
        fprintf(out, "first-write mode=%o gid=%u acl=%d\n", st.st_mode & 07777, st.st_gid, acl);
        fclose(out);
    }
}

static ssize_t faulty_write(int fd, const void *buffer, size_t count, ssize_t (*io)(int, const void *, size_t, off_t), off_t offset) {
    if (!is_regular(fd)) return io(fd, buffer, count, offset);
    log_first_write(fd);
    delay();
    if (late_fault()) return -1;
    ssize_t n;
    count = limit(count);
    if (count > 0 && !corrupted && env_long("ZCOPY_FAULT_CORRUPT_WRITE", 0)) {
        corrupted = 1;
        char *copy = malloc(count);
        memcpy(copy, buffer, count);
        copy[count / 2] ^= 0x5a;
        n = io(fd, copy, count, offset);
        free(copy);
    } else if (count > 1 && env_long("ZCOPY_FAULT_LYING_WRITE", 0)) {
        n = io(fd, buffer, count / 2, offset);
        if (n > 0) n = (ssize_t)count;
    } else {
        n = io(fd, buffer, count, offset);
    }
    if (n > 0) passed_bytes += n;
    return n;
}

static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pread)(int, void *, size_t, off_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);

static ssize_t plain_read(int fd, void *buffer, size_t count, off_t offset) { (void)offset; return real_read(fd, buffer, count); }
static ssize_t plain_write(int fd, const void *buffer, size_t count, off_t offset) { (void)offset; return real_write(fd, buffer, count); }
static ssize_t positional_read(int fd, void *buffer, size_t count, off_t offset) { return real_pread(fd, buffer, count, offset); }
static ssize_t positional_write(int fd, const void *buffer, size_t count, off_t offset) { return real_pwrite(fd, buffer, count, offset); }

ssize_t read(int fd, void *buffer, size_t count) {
    if (!real_read) real_read = dlsym(RTLD_NEXT, "read");
    return faulty_read(fd, buffer, count, plain_read, 0);
}

ssize_t write(int fd, const void *buffer, size_t count) {
    if (!real_write) real_write = dlsym(RTLD_NEXT, "write");
    return faulty_write(fd, buffer, count, plain_write, 0);
}

ssize_t pread64(int fd, void *buffer, size_t count, off_t offset) {
    if (!real_pread) real_pread = dlsym(RTLD_NEXT, "pread64");
    return faulty_read(fd, buffer, count, positional_read, offset);
}

ssize_t pwrite64(int fd, const void *buffer, size_t count, off_t offset) {
    if (!real_pwrite) real_pwrite = dlsym(RTLD_NEXT, "pwrite64");
    return faulty_write(fd, buffer, count, positional_write, offset);
}

ssize_t pread(int fd, void *buffer, size_t count, off_t offset) { return pread64(fd, buffer, count, offset); }
ssize_t pwrite(int fd, const void *buffer, size_t count, off_t offset) { return pwrite64(fd, buffer, count, offset); }

static void log_sync(const char *what, int fd) {
    const char *log = getenv("ZCOPY_FAULT_LOG");
    if (!log) return;
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    FILE *out = fopen(log, "a");
    if (out) { fprintf(out, "%s %s\n", what, target); fclose(out); }
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fsync");
    log_sync("fsync", fd);
    if (source_change_due("fsync")) change_source();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fdatasync");
    log_sync("fdatasync", fd);
    if (source_change_due("fsync")) change_source();
    return real(fd);
}

static int swapped;

// `name`, relative to `dirfd` (or the current directory), as an absolute path.
static void absolute(int dirfd, const char *name, char *out, size_t size) {
    char base[4096] = "";
    if (name[0] == '/') {
        snprintf(out, size, "%s", name);
        return;
    }
    if (dirfd == AT_FDCWD) {
        if (!getcwd(base, sizeof base)) base[0] = 0;
    } else {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
        ssize_t length = readlink(link, base, sizeof base - 1);
        base[length < 0 ? 0 : length] = 0;
    }
    snprintf(out, size, "%s/%s", base, name);
}

// Replaces ZCOPY_FAULT_SWAP_PATH once, when `path` (relative to `dirfd`) names
// `trigger`, or with no trigger, that PATH itself.
static void swap_at(int dirfd, const char *path, const char *trigger) {
    const char *target = getenv("ZCOPY_FAULT_SWAP_PATH");
    const char *to = getenv("ZCOPY_FAULT_SWAP_TO");
    if (swapped || !target || !to) return;
    char opened[8192], wanted[8192];
    absolute(dirfd, path, opened, sizeof opened);
    absolute(AT_FDCWD, trigger ? trigger : target, wanted, sizeof wanted);
    if (strcmp(opened, wanted) != 0) return;
    swapped = 1;
    char moved[4096];
    snprintf(moved, sizeof moved, "%s.swapped", target);
    // A PATH that does not exist yet is simply made (a name taken meanwhile).
    if (rename(target, moved) != 0 && errno != ENOENT) return;
    if (strcmp(to, "fifo") == 0) mkfifo(target, 0644);
    else if (strncmp(to, "symlink-to:", 11) == 0) symlink(to + 11, target);
    else if (strcmp(to, "symlink") == 0) {
        // Relative to the link's own directory: the name beside it.
        const char *slash = strrchr(moved, '/');
        symlink(slash ? slash + 1 : moved, target);
    }
}

// The swap before `path` (relative to `dirfd`) is opened: zcopy opens a source by its
// directory's descriptor and name.
static void swap_before_open(int dirfd, const char *path) {
    if (getenv("ZCOPY_FAULT_SWAP_AFTER_MAKING")) return;
    swap_at(dirfd, path, getenv("ZCOPY_FAULT_SWAP_WHEN_OPENING"));
}

// The open functions zcopy may reach, each swapping first (see above).
#define OPEN_WRAPPER(name)                                                  \
    int name(const char *path, int flags, ...) {                            \
        static int (*real)(const char *, int, ...);                         \
        if (!real) real = dlsym(RTLD_NEXT, #name);                          \
        va_list args;                                                       \
        va_start(args, flags);                                              \
        mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(args, mode_t) : 0; \
        va_end(args);                                                       \
        swap_before_open(AT_FDCWD, path);                                   \
        return real(path, flags, mode);                                     \
    }
#define OPENAT_WRAPPER(name)                                                \
    int name(int dirfd, const char *path, int flags, ...) {                 \
        static int (*real)(int, const char *, int, ...);                    \
        if (!real) real = dlsym(RTLD_NEXT, #name);                          \
        va_list args;                                                       \
        va_start(args, flags);                                              \
        mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(args, mode_t) : 0; \
        va_end(args);                                                       \
        swap_before_open(dirfd, path);                                      \
        return real(dirfd, path, flags, mode);                              \
    }
OPEN_WRAPPER(open64)
OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

// opendir too: glibc's own open inside it is not one a preload sees.
DIR *opendir(const char *path) {
    static DIR *(*real)(const char *);
    if (!real) real = dlsym(RTLD_NEXT, "opendir");
    swap_before_open(AT_FDCWD, path);
    return real(path);
}

// mkdir counts as an open of the new directory for the swap: what the run makes.
int mkdir(const char *path, mode_t mode) {
    static int (*real)(const char *, mode_t);
    if (!real) real = dlsym(RTLD_NEXT, "mkdir");
    swap_before_open(AT_FDCWD, path);
    return real(path, mode);
}

int mkdirat(int dirfd, const char *path, mode_t mode) {
    static int (*real)(int, const char *, mode_t);
    if (!real) real = dlsym(RTLD_NEXT, "mkdirat");
    swap_before_open(dirfd, path);
    return real(dirfd, path, mode);
}

// A node made: the swap may come once it is there (ZCOPY_FAULT_SWAP_AFTER_MAKING).
int mknodat(int dirfd, const char *path, mode_t mode, dev_t dev) {
    static int (*real)(int, const char *, mode_t, dev_t);
    if (!real) real = dlsym(RTLD_NEXT, "mknodat");
    int made = real(dirfd, path, mode, dev);
    const char *after = getenv("ZCOPY_FAULT_SWAP_AFTER_MAKING");
    if (made == 0 && after) {
        int saved = errno;
        swap_at(dirfd, path, after);
        errno = saved;
    }
    return made;
}

int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags) {
    static int (*real)(int, const char *, int, const char *, int);
    if (!real) real = dlsym(RTLD_NEXT, "linkat");
    long refused = env_long("ZCOPY_FAULT_REFUSE_EMPTY_PATH", 0);
    if (refused > 0 && (flags & AT_EMPTY_PATH)) {
        const char *log = getenv("ZCOPY_FAULT_LOG");
        FILE *out = log ? fopen(log, "a") : NULL;
        if (out) { fprintf(out, "linkat-empty-path refused\n"); fclose(out); }
        errno = (int)refused;
        return -1;
    }
    return real(olddirfd, oldpath, newdirfd, newpath, flags);
}
