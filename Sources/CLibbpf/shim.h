/* shim.h — libbpf for Swift.
 *
 * libbpf's opts structs must be zero in every byte libbpf does not know, padding included, and its
 * LIBBPF_OPTS macro does not import into Swift. So each opts struct is built here: memset, then the
 * fields. Names are prefixed CLibbpf_.
 */
#ifndef CLIBBPF_SHIM_H
#define CLIBBPF_SHIM_H

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/pkt_cls.h>
#include <string.h>
#include <unistd.h>

static inline struct bpf_tc_hook CLibbpf_tc_hook(int ifindex, enum bpf_tc_attach_point point)
{
    struct bpf_tc_hook hook;
    memset(&hook, 0, sizeof(hook));
    hook.sz = sizeof(hook);
    hook.ifindex = ifindex;
    hook.attach_point = point;
    return hook;
}

static inline struct bpf_tc_opts CLibbpf_tc_opts(int prog_fd, __u32 handle, __u32 priority,
                                                 __u32 flags)
{
    struct bpf_tc_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.sz = sizeof(opts);
    opts.prog_fd = prog_fd;
    opts.handle = handle;
    opts.priority = priority;
    opts.flags = flags;
    return opts;
}

/* Creates the clsact qdisc. Returns 1 if created, 0 if it already existed, -errno on failure. */
static inline int CLibbpf_tc_clsact_create(int ifindex)
{
    struct bpf_tc_hook hook = CLibbpf_tc_hook(ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS);
    int err = bpf_tc_hook_create(&hook);
    if (err == -EEXIST)
        return 0;
    return err < 0 ? err : 1;
}

/* Removes the clsact qdisc and with it every filter on it. */
static inline int CLibbpf_tc_clsact_destroy(int ifindex)
{
    struct bpf_tc_hook hook = CLibbpf_tc_hook(ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS);
    return bpf_tc_hook_destroy(&hook);
}

/* Attaches prog_fd at (handle, priority), replacing a filter left there by an earlier run. */
static inline int CLibbpf_tc_attach(int ifindex, int egress, int prog_fd, __u32 handle,
                                    __u32 priority)
{
    struct bpf_tc_hook hook = CLibbpf_tc_hook(ifindex, egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
    struct bpf_tc_opts opts = CLibbpf_tc_opts(prog_fd, handle, priority, BPF_TC_F_REPLACE);
    return bpf_tc_attach(&hook, &opts);
}

static inline int CLibbpf_tc_detach(int ifindex, int egress, __u32 handle, __u32 priority)
{
    struct bpf_tc_hook hook = CLibbpf_tc_hook(ifindex, egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
    struct bpf_tc_opts opts = CLibbpf_tc_opts(0, handle, priority, 0);
    return bpf_tc_detach(&hook, &opts);
}

/* Returns the program id attached at (handle, priority), 0 if none, -errno on failure. */
static inline long CLibbpf_tc_query(int ifindex, int egress, __u32 handle, __u32 priority)
{
    struct bpf_tc_hook hook = CLibbpf_tc_hook(ifindex, egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
    struct bpf_tc_opts opts = CLibbpf_tc_opts(0, handle, priority, 0);
    int err = bpf_tc_query(&hook, &opts);
    if (err == -ENOENT)
        return 0;
    return err < 0 ? err : (long)opts.prog_id;
}

/* tcx (Linux 6.6+), named here because the 6.1 UAPI headers and libbpf 1.1.2 do not know it yet:
 * enum bpf_attach_type's BPF_TCX_INGRESS and BPF_TCX_EGRESS. */
#define CLIBBPF_TCX_INGRESS 46
#define CLIBBPF_TCX_EGRESS 47

#define CLIBBPF_F_BEFORE (1U << 3) /* BPF_F_BEFORE: with no relative program, at the head */

/* Attaches prog_fd to the interface's tcx hook as a BPF link, ahead of any program already there
 * (a sensor sees packets before anything can drop or redirect them; it returns TCX_NEXT, so the
 * others still decide). Returns the link fd (closing it, or the process ending, detaches the
 * program) or -errno; a kernel without tcx answers -EINVAL. */
static inline int CLibbpf_tcx_attach(int ifindex, int egress, int prog_fd)
{
    struct bpf_link_create_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.sz = sizeof(opts);
    opts.flags = CLIBBPF_F_BEFORE;
    int fd = bpf_link_create(prog_fd, ifindex, egress ? CLIBBPF_TCX_EGRESS : CLIBBPF_TCX_INGRESS, &opts);
    return fd < 0 ? -errno : fd;
}

/* bpf_prog_test_run_opts on one packet: returns 0 and sets *retval to the program's return value,
 * or returns -errno. */
static inline int CLibbpf_prog_test_run(int prog_fd, const void *packet, __u32 size, int *retval)
{
    struct bpf_test_run_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.sz = sizeof(opts);
    opts.data_in = packet;
    opts.data_size_in = size;
    opts.repeat = 1;
    int err = bpf_prog_test_run_opts(prog_fd, &opts);
    *retval = (int)opts.retval;
    return err < 0 ? err : 0;
}

/* Sums the run time (ns) and run count of every loaded program named `name`: the kernel counts
 * them while run-time statistics are on (bpf_enable_stats, or kernel.bpf_stats_enabled). Returns
 * the number of programs found, or -errno. */
static inline int CLibbpf_prog_run_totals(const char *name, __u64 *run_time_ns, __u64 *run_count)
{
    __u32 id = 0;
    int found = 0;
    *run_time_ns = 0;
    *run_count = 0;
    while (bpf_prog_get_next_id(id, &id) == 0) {
        int fd = bpf_prog_get_fd_by_id(id);
        if (fd < 0)
            continue; /* unloaded meanwhile */
        struct bpf_prog_info info;
        __u32 len = sizeof(info);
        memset(&info, 0, sizeof(info));
        if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && strncmp(info.name, name, sizeof(info.name)) == 0) {
            *run_time_ns += info.run_time_ns;
            *run_count += info.run_cnt;
            found++;
        }
        close(fd);
    }
    return errno == ENOENT || found > 0 ? found : -errno;
}

#endif
