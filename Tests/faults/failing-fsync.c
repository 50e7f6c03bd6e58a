/* LD_PRELOAD shim for the storage-fault tests (Tests/IntegrationTests/StorageFaultTests.swift):
 * while the file named by $HOTLINE_FAIL_FSYNC exists, fsync and fdatasync fail with EIO, as
 * they do when the kernel cannot write back a file's pages. Nothing else is changed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int failing(void) {
    const char *flag = getenv("HOTLINE_FAIL_FSYNC");
    return flag != NULL && access(flag, F_OK) == 0;
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (failing()) { errno = EIO; return -1; }
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}

int fsync(int fd) {
    static int (*real)(int);
    if (failing()) { errno = EIO; return -1; }
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}
