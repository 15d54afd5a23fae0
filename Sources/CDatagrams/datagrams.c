#define _GNU_SOURCE
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "dps_datagrams.h"

int dps_send_datagrams(int fd, const unsigned char *bytes, size_t start, const long *ends, unsigned int count,
                       int flags)
{
    struct mmsghdr messages[DPS_DATAGRAMS_MAX];
    struct iovec vectors[DPS_DATAGRAMS_MAX];
    if (count > DPS_DATAGRAMS_MAX)
        count = DPS_DATAGRAMS_MAX;
    memset(messages, 0, sizeof(messages[0]) * count);
    size_t from = start;
    for (unsigned int i = 0; i < count; i++) {
        vectors[i].iov_base = (void *)(bytes + from);
        vectors[i].iov_len = (size_t)ends[i] - from;
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        from = (size_t)ends[i];
    }
    return sendmmsg(fd, messages, count, flags);
}
