/* LD_PRELOAD shim for the storage-fault tests (Tests/IntegrationTests/StorageFaultTests.swift).
 * When the file named by $HOTLINE_FAIL_FSYNC exists, the next fsync or fdatasync, whoever
 * calls it, fails with EIO and the file is removed: the error is reported once, as Linux
 * reports a write-back error once, and every later call succeeds. Nothing else is changed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int fail_once(void) {
    const char *flag = getenv("HOTLINE_FAIL_FSYNC");
    return flag != NULL && unlink(flag) == 0;
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (fail_once()) { errno = EIO; return -1; }
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}

int fsync(int fd) {
    static int (*real)(int);
    if (fail_once()) { errno = EIO; return -1; }
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}
