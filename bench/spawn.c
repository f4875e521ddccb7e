/* spawn.c - run a program and read what it prints, or keep one running and
 * talk to it. cask-bench runs its "cold" repetitions as fresh copies of
 * itself (a new process has faulted in none of its memory yet), the
 * optional Dask graph comparison as a Python child, and the array anchors
 * as Python children that take commands on stdin, all through here. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

static void read_all(int fd, char *buf, size_t cap) {
  size_t len = 0;
  for (;;) {
    char sink[512];
    char *dst = len + 1 < cap ? buf + len : sink;
    size_t room = len + 1 < cap ? cap - 1 - len : sizeof sink;
    ssize_t r = read(fd, dst, room);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    if (dst == buf + len) len += (size_t)r;
  }
  buf[len] = '\0';
}

int bench_spawn_read(char *const argv[], char *buf, size_t cap) {
  int fds[2];
  if (cap == 0 || pipe(fds)) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc) {
    close(fds[0]);
    return -1;
  }
  read_all(fds[0], buf, cap);
  close(fds[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

pid_t bench_spawn_pipes(char *const argv[], FILE **to, FILE **from) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC)) return -1;
  if (pipe2(out, O_CLOEXEC)) {
    close(in[0]);
    close(in[1]);
    return -1;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  if (rc) {
    close(in[1]);
    close(out[0]);
    return -1;
  }
  *to = fdopen(in[1], "w");
  *from = fdopen(out[0], "r");
  return pid;
}

int bench_spawn_wait(pid_t pid, FILE *to, FILE *from) {
  fclose(to); /* end of input: the child's loop stops */
  fclose(from);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
