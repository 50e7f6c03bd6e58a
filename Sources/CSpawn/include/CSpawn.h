// What glibc declares only under _GNU_SOURCE: spawn.h's extensions and pipe2, for spawning
// a child, and gettid, for lowering one thread's priority. The Glibc module is not built
// with _GNU_SOURCE, so Swift cannot see them: thin wrappers, compiled with it. And prctl,
// which is variadic, so Swift cannot call it at all.
#ifndef HOTLINE_CSPAWN_H
#define HOTLINE_CSPAWN_H

#include <spawn.h>

/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34): the child closes every
/// descriptor from `from` up, whatever flags they were opened with.
int hotline_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from);

/// posix_spawn_file_actions_addchdir_np (glibc 2.29): the child starts in `path`.
int hotline_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path);

/// pipe2(fds, O_CLOEXEC): a pipe whose ends no exec inherits, made in one step.
int hotline_pipe_cloexec(int fds[2]);

/// gettid(): the calling thread's id, which setpriority takes to act on that thread alone.
int hotline_gettid(void);

/// No core dump of this process, ever: RLIMIT_CORE 0 (soft and hard) and PR_SET_DUMPABLE 0,
/// which also keeps other processes of the same user from reading its memory through
/// /proc or ptrace. A process holding the encryption key calls it before reading the key.
/// Returns 0, or -1 with errno set by the call that failed.
int hotline_forbid_core_dumps(void);

/// prctl(PR_GET_DUMPABLE): 0 once hotline_forbid_core_dumps has run.
int hotline_dumpable(void);

/// explicit_bzero: zeroes `length` bytes at `bytes`, a write the compiler may not drop.
void hotline_wipe(void *bytes, unsigned long length);

#endif
