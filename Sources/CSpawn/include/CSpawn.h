// What glibc declares only under _GNU_SOURCE: spawn.h's extensions and pipe2, for spawning
// a child, and gettid, for lowering one thread's priority. The Glibc module is not built
// with _GNU_SOURCE, so Swift cannot see them: thin wrappers, compiled with it.
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

#endif
