// LD_PRELOAD probe for the read-back tests: whenever zcopy drops a file's cached pages
// (posix_fadvise with POSIX_FADV_DONTNEED), runs fincore(1) on that file just before
// and just after the call and appends "before BYTES" / "after BYTES" (bytes resident
// in the page cache) to the file named by ZCOPY_FINCORE_LOG. "after" is what the
// read-back that follows starts from.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static void probe(int fd, const char *when) {
    const char *log = getenv("ZCOPY_FINCORE_LOG");
    if (!log) return;
    char command[1024];
    // The descriptor is close-on-exec, so the path goes through this process's fd table.
    snprintf(command, sizeof command,
             "printf '%s %%s\\n' \"$(fincore --bytes --noheadings --raw --output RES /proc/%d/fd/%d)\" >> '%s'",
             when, (int)getpid(), fd, log);
    if (system(command) != 0) {
        FILE *out = fopen(log, "a");
        if (out) {
            fprintf(out, "%s failed\n", when);
            fclose(out);
        }
    }
}

static int call(const char *name, int fd, off_t offset, off_t len, int advice) {
    int (*real)(int, off_t, off_t, int) = dlsym(RTLD_NEXT, name);
    if (advice == POSIX_FADV_DONTNEED) probe(fd, "before");
    int result = real(fd, offset, len, advice);
    if (advice == POSIX_FADV_DONTNEED) probe(fd, "after");
    return result;
}

int posix_fadvise(int fd, off_t offset, off_t len, int advice) {
    return call("posix_fadvise", fd, offset, len, advice);
}

int posix_fadvise64(int fd, off_t offset, off_t len, int advice) {
    return call("posix_fadvise64", fd, offset, len, advice);
}
