#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sched.h>
struct attr { uint32_t size, policy; uint64_t flags; int32_t nice; uint32_t prio; uint64_t runtime, deadline, period; uint32_t umin, umax; };
int main(int c, char **v) {
  int tid = atoi(v[1]); int policy = atoi(v[2]); uint64_t rt = strtoull(v[3],0,10);
  struct attr a = {0}; a.size = sizeof a; a.policy = policy; a.runtime = rt; a.nice = atoi(v[4]);
  if (syscall(SYS_sched_setattr, tid, &a, 0)) { perror("sched_setattr"); return 1; }
  return 0;
}
