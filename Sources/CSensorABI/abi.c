#include "dps_record.h"

/* The same asserts as bpf/dps.bpf.c: host and BPF compilers must agree on the layout. */
DPS_ASSERT_LAYOUT
