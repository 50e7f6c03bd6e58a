// The parts of libsystemd hotlined uses: socket activation, sd_notify, the watchdog and
// native journal logging. Location macros are suppressed: the Swift side passes CODE_FILE,
// CODE_LINE and CODE_FUNC itself, from the log call site.
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <stdlib.h>

// SOCK_STREAM is an enum in glibc's headers that Swift imports awkwardly; a plain int here.
static inline int csystemd_sock_stream(void) { return SOCK_STREAM; }

// sd_listen_fds_with_names hands back a malloc'd array of malloc'd strings.
static inline void csystemd_free_names(char **names, int n) {
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}
