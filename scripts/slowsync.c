// A model of "every process has a disk of its own", for benchmarks only:
// preloaded into a server, it makes each fsync/fdatasync take SLOWSYNC_US
// microseconds (default 1000), one at a time per process, and then runs
// the real call (put the data dirs on tmpfs, where that is free). Used in
// docs/benchmarks.md to run three nodes on one machine without their
// fsyncs queueing on its one disk.
//
//   gcc -O2 -shared -fPIC -o target/slowsync.so scripts/slowsync.c -ldl
//   LD_PRELOAD=$PWD/target/slowsync.so SLOWSYNC_US=1000 target/release/nocas server --data-dir /dev/shm/n1 ...
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t disk = PTHREAD_MUTEX_INITIALIZER;

static void wait_for_disk(void) {
  const char *s = getenv("SLOWSYNC_US");
  long us = s ? atol(s) : 1000;
  struct timespec t = {us / 1000000, (us % 1000000) * 1000};
  pthread_mutex_lock(&disk);
  nanosleep(&t, 0);
  pthread_mutex_unlock(&disk);
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  wait_for_disk();
  return real(fd);
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  wait_for_disk();
  return real(fd);
}
