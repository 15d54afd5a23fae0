#ifndef DPS_DATAGRAMS_H
#define DPS_DATAGRAMS_H

#include <stddef.h>

/* Most datagrams one dps_send_datagrams call sends. */
#define DPS_DATAGRAMS_MAX 32

/*
 * Sends up to `count` (at most DPS_DATAGRAMS_MAX) datagrams on the connected socket `fd` in one
 * sendmmsg(2) call. The datagrams lie back to back in `bytes`: datagram i ends at ends[i]
 * (exclusive) and starts where the one before ends, the first at `start`. Returns how many went
 * out, or -1 with errno set when the first could not (an error on a later one is reported by the
 * next call). glibc declares sendmmsg only under _GNU_SOURCE, which Swift's Glibc module does
 * not set: hence this shim.
 */
int dps_send_datagrams(int fd, const unsigned char *bytes, size_t start, const long *ends, unsigned int count,
                       int flags);

#endif
