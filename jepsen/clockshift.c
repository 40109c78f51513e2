/* A wall-clock fault for the Jepsen harness: LD_PRELOADed into member processes, it adds an
 * offset (milliseconds, read from the file named by JEPSEN_CLOCK_FILE, re-read every 100 ms)
 * to CLOCK_REALTIME as seen through clock_gettime, gettimeofday and time. CLOCK_MONOTONIC is
 * untouched, as with an NTP step on a real host: timers keep running, wall time jumps.
 * (libfaketime 0.9.10 cannot do this: with monotonic time left alone, Python 3.11's
 * time.sleep fails with EINVAL under it.) */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

typedef int (*gettime_fn)(clockid_t, struct timespec *);

static gettime_fn real_gettime;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long long offset_ns;
static long long next_read_ns;

static gettime_fn real(void) {
    if (real_gettime == NULL) real_gettime = (gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
    return real_gettime;
}

static long long offset(void) {
    struct timespec m;
    real()(CLOCK_MONOTONIC, &m);
    long long now = m.tv_sec * 1000000000LL + m.tv_nsec;
    pthread_mutex_lock(&lock);
    if (now >= next_read_ns) {
        const char *path = getenv("JEPSEN_CLOCK_FILE");
        FILE *f = path ? fopen(path, "r") : NULL;
        if (f != NULL) {
            long long ms;
            if (fscanf(f, "%lld", &ms) == 1) offset_ns = ms * 1000000LL;
            fclose(f);
        }
        next_read_ns = now + 100000000LL;
    }
    long long o = offset_ns;
    pthread_mutex_unlock(&lock);
    return o;
}

int clock_gettime(clockid_t id, struct timespec *tp) {
    int rc = real()(id, tp);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
        long long ns = tp->tv_sec * 1000000000LL + tp->tv_nsec + offset();
        tp->tv_sec = ns / 1000000000LL;
        tp->tv_nsec = ns % 1000000000LL;
    }
    return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    (void)tz;
    struct timespec ts;
    int rc = clock_gettime(CLOCK_REALTIME, &ts);
    if (rc == 0) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return rc;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out != NULL) *out = ts.tv_sec;
    return ts.tv_sec;
}
