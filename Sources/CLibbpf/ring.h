/* ring.h — the consumer side of the BPF ring buffer, for the capture's hot path.
 *
 * libbpf's ring_buffer__consume reads each record where the sender's CPU wrote it, so every
 * record's cache lines are misses, one after another. This is libbpf's loop (the same two
 * mappings, the same BUSY and DISCARD bits, the same callback type) with the lines of the records
 * a kilobyte ahead prefetched while the current one is handled. Names are prefixed CLibbpf_ring.
 */
#ifndef CLIBBPF_RING_H
#define CLIBBPF_RING_H

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

/* How far ahead of the record handled the consumer prefetches: about four records. */
#define CLIBBPF_RING_PREFETCH_AHEAD 1024

struct CLibbpf_ring {
    ring_buffer_sample_fn callback;
    void *context;
    int epoll_fd;
    unsigned long mask;
    size_t page_size;
    size_t data_size; /* the producer page and the data, mapped twice over */
    unsigned long *consumer_pos;
    unsigned long *producer_pos;
    unsigned char *data;
};

static inline void CLibbpf_ring_free(struct CLibbpf_ring *r)
{
    if (!r)
        return;
    if (r->consumer_pos)
        munmap(r->consumer_pos, r->page_size);
    if (r->producer_pos)
        munmap(r->producer_pos, r->data_size);
    if (r->epoll_fd >= 0)
        close(r->epoll_fd);
    free(r);
}

/* Maps the ring buffer `map_fd` and watches it for wakeups; its records will go to `callback`
 * with `context`, as with ring_buffer__new. NULL with errno set on failure. */
static inline struct CLibbpf_ring *CLibbpf_ring_new(int map_fd, ring_buffer_sample_fn callback, void *context)
{
    struct bpf_map_info info;
    __u32 length = sizeof(info);
    memset(&info, 0, sizeof(info));
    if (bpf_obj_get_info_by_fd(map_fd, &info, &length) < 0)
        return NULL;
    if (info.type != BPF_MAP_TYPE_RINGBUF || info.max_entries == 0 ||
        (info.max_entries & (info.max_entries - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    struct CLibbpf_ring *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->callback = callback;
    r->context = context;
    r->epoll_fd = -1;
    r->page_size = (size_t)sysconf(_SC_PAGESIZE);
    r->mask = info.max_entries - 1;
    void *consumer = mmap(NULL, r->page_size, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
    if (consumer == MAP_FAILED)
        goto fail;
    r->consumer_pos = consumer;
    /* The data pages are mapped twice in a row, so a record that wraps reads as one piece. */
    r->data_size = r->page_size + 2 * (size_t)info.max_entries;
    void *producer = mmap(NULL, r->data_size, PROT_READ, MAP_SHARED, map_fd, (off_t)r->page_size);
    if (producer == MAP_FAILED)
        goto fail;
    r->producer_pos = producer;
    r->data = (unsigned char *)producer + r->page_size;
    r->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (r->epoll_fd < 0)
        goto fail;
    struct epoll_event event;
    memset(&event, 0, sizeof(event));
    event.events = EPOLLIN;
    if (epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, map_fd, &event) < 0)
        goto fail;
    return r;
fail:;
    int saved = errno;
    CLibbpf_ring_free(r);
    errno = saved;
    return NULL;
}

/* Waits up to `timeout_ms` for a wakeup: 0 or 1 (events), or -errno. */
static inline int CLibbpf_ring_wait(struct CLibbpf_ring *r, int timeout_ms)
{
    struct epoll_event event;
    int n = epoll_wait(r->epoll_fd, &event, 1, timeout_ms);
    return n < 0 ? -errno : n;
}

/* Hands every committed record to the callback, in order, until the ring is empty or the
 * callback returns a negative value (returned here; that record counts as consumed). Returns the
 * number of records handed over otherwise. */
static inline long CLibbpf_ring_consume(struct CLibbpf_ring *r)
{
    unsigned long consumer = *r->consumer_pos; /* only this side writes it */
    unsigned long producer = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
    long count = 0;
    int err = 0;
    while (consumer < producer) {
        __u32 *header = (__u32 *)(r->data + (consumer & r->mask));
        __u32 length = __atomic_load_n(header, __ATOMIC_ACQUIRE);
        if (length & BPF_RINGBUF_BUSY_BIT)
            break; /* reserved, not yet committed: the records after it wait for it */
        if (producer - consumer > CLIBBPF_RING_PREFETCH_AHEAD + 256) {
            const unsigned char *ahead = r->data + ((consumer + CLIBBPF_RING_PREFETCH_AHEAD) & r->mask);
            __builtin_prefetch(ahead);
            __builtin_prefetch(ahead + 64);
            __builtin_prefetch(ahead + 128);
            __builtin_prefetch(ahead + 192);
        }
        __u32 size = length & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
        consumer += (size + BPF_RINGBUF_HDR_SZ + 7) & ~7UL;
        if (!(length & BPF_RINGBUF_DISCARD_BIT)) {
            err = r->callback(r->context, (unsigned char *)header + BPF_RINGBUF_HDR_SZ, size);
            if (err >= 0)
                count++;
        }
        __atomic_store_n(r->consumer_pos, consumer, __ATOMIC_RELEASE);
        if (err < 0)
            return err;
        if (consumer == producer)
            producer = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
    }
    return count;
}

#endif
