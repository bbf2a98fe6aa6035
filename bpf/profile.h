/* SPDX-License-Identifier: Apache-2.0 */
/* profile.h -- structs shared by profile.bpf.c and the worker's sampler and unwinder.
 *
 * UAPI types only, so the same header compiles for the BPF target (with
 * vmlinux.h) and for user space (with <linux/types.h>).
 */
#ifndef PODPROF_BPF_PROFILE_H
#define PODPROF_BPF_PROFILE_H

#ifndef __VMLINUX_H__
#include <linux/types.h> /* user space; BPF side gets the types from vmlinux.h */
#endif

#define PROFILE_MAX_SLOTS	 64  /* concurrent jobs; a job's slot is its attach cookie */
#define PROFILE_MAX_USER_FRAMES	 128 /* user frames per stack (the last may be a marker) */
#define PROFILE_MAX_KERN_FRAMES	 64  /* kernel frames per stack, leaf first */
#define PROFILE_MAX_FRAMES	 (PROFILE_MAX_USER_FRAMES + PROFILE_MAX_KERN_FRAMES)
#define PROFILE_COMM_LEN	 16 /* TASK_COMM_LEN */
#define PROFILE_MAX_CGROUP_LEVEL 16 /* deepest cgroup ancestor level checked for a target */
#define PROFILE_COOKIE_KSTACKS	 (1ULL << 32) /* cookie bit: this job wants kernel stacks */
#define PROFILE_COOKIE_FP_ONLY	 (1ULL << 33) /* cookie bit: frame pointers only (no tables) */
#define PROFILE_COOKIE_SLOT_MASK 0xffffffffULL

/* Kernels without BPF cookies on perf links (before 5.15): the same slot and
 * flags ride in the low bits of the event's sample period instead (in ns;
 * cpu-clock is an hrtimer, so a fixed period is what a frequency becomes
 * anyway). The sampler rounds the period to a multiple of
 * 1 << PROFILE_PERIOD_CODE_BITS and adds the code; the program reads it back
 * from ctx->sample_period. At 1000 Hz that moves the period by at most
 * 0.026%. */
#define PROFILE_PERIOD_CODE_BITS 8
#define PROFILE_PERIOD_SLOT_MASK 0x3fULL     /* PROFILE_MAX_SLOTS - 1 */
#define PROFILE_PERIOD_KSTACKS	 (1ULL << 6) /* this job wants kernel stacks */
#define PROFILE_PERIOD_FP_ONLY	 (1ULL << 7) /* frame pointers only */

/* What a target key names: a cgroup v2 ID or a process (tgid). */
enum profile_target_kind {
	PROFILE_TARGET_CGROUP = 0,
	PROFILE_TARGET_TGID = 1,
};

/* Key of the `targets` map; the value is a __u64 count of samples matched. */
struct profile_target_key {
	__u32 slot; /* job slot */
	__u32 kind; /* enum profile_target_kind */
	__u64 id;   /* cgroup v2 ID (inode number) or tgid */
};

/* Key of the `counts` map; the value is a __u64 sample count. The stack is
 * in the `stacks` map under stack_hash. */
struct profile_count_key {
	__u32 slot;	   /* job slot */
	__u32 pid;	   /* tgid */
	__u32 tid;	   /* thread id, 0 unless the per-thread setting is on */
	__u32 target_kind; /* which target matched: enum profile_target_kind */
	__u64 target_id;   /* ... and its id, so samples can be labelled per container */
	__u64 stack_hash;  /* key in `stacks`, or enum profile_stack_hash */
	char comm[PROFILE_COMM_LEN];
	__u32 state; /* off-CPU: enum profile_thread_state at switch-out; 0 for CPU samples */
	__u32 pad;
};

/* Value of the `stacks` hash map, keyed by a 64-bit hash of its frames.
 * ips[0, n_kern) are kernel frames, ips[n_kern, n_kern + n_user) user frames,
 * each leaf first. A user frame with PROFILE_FRAME_MARKER set is not an
 * address: the walk stopped there for the reason in its low byte. */
struct profile_stack {
	__u32 n_kern;
	__u32 n_user;
	__u64 ips[PROFILE_MAX_FRAMES];
};

#define PROFILE_FRAME_MARKER (1ULL << 63)

/* A user frame with PROFILE_FRAME_PYTHON set (and MARKER clear) is a Python
 * frame, not an address: bits 61..44 hold the instruction offset in code
 * units (capped), bits 43..0 the code object's address >> 3 (objects are
 * 8-byte aligned, user addresses below 2^47). */
#define PROFILE_FRAME_PYTHON   (1ULL << 62)
#define PROFILE_PY_LASTI_SHIFT 44
#define PROFILE_PY_LASTI_MAX   ((1U << 18) - 1)
#define PROFILE_PY_CODE_MASK   ((1ULL << 44) - 1)

static inline __u64 profile_py_frame(__u64 code, __u64 lasti)
{
	if (lasti > PROFILE_PY_LASTI_MAX)
		lasti = PROFILE_PY_LASTI_MAX;
	return PROFILE_FRAME_PYTHON | lasti << PROFILE_PY_LASTI_SHIFT |
	       ((code >> 3) & PROFILE_PY_CODE_MASK);
}

static inline int profile_frame_is_python(__u64 f)
{
	return (f & (PROFILE_FRAME_MARKER | PROFILE_FRAME_PYTHON)) == PROFILE_FRAME_PYTHON;
}

static inline __u64 profile_py_frame_code(__u64 f)
{
	return (f & PROFILE_PY_CODE_MASK) << 3;
}

static inline __u32 profile_py_frame_lasti(__u64 f)
{
	return (__u32)((f >> PROFILE_PY_LASTI_SHIFT) & PROFILE_PY_LASTI_MAX);
}

/* Special values of profile_count_key.stack_hash; real hashes are larger. */
enum profile_stack_hash {
	PROFILE_STACK_NONE = 0,	      /* no frames at all (a kernel thread without kernel stacks) */
	PROFILE_STACK_NOT_STORED = 1, /* the stacks map was full: frames lost */
};

/* Why a user stack ends early (low byte of a marker frame). A clean walk
 * to the process entry has no marker. */
enum profile_stop_reason {
	PROFILE_STOP_DEPTH = 1,	      /* PROFILE_MAX_USER_FRAMES reached */
	PROFILE_STOP_NO_PROC = 2,     /* process not yet known to the unwinder */
	PROFILE_STOP_NO_MAPPING = 3,  /* address in no known executable mapping */
	PROFILE_STOP_NO_TABLE = 4,    /* mapping's unwind table not loaded (yet) */
	PROFILE_STOP_NO_CFI = 5,      /* no unwind rule covers the address */
	PROFILE_STOP_UNSUPPORTED = 6, /* a rule the unwinder does not implement */
	PROFILE_STOP_READ = 7,	      /* reading the stack faulted */
	PROFILE_STOP_BAD_FRAME = 8,   /* a frame pointer or stack pointer went backwards */
	PROFILE_STOP__MAX = 9,
};

/* ---- unwind tables ---------------------------------------------------------
 * One table per binary (by build ID): rows sorted by pc, stored in the global
 * `unwind_rows` array at [first, first + n). A page index (`unwind_pages`)
 * narrows the search: the entry of page P of table T covers the rows whose pc
 * lies in [P << SHIFT, (P + 1) << SHIFT) plus the row in force at the page's
 * start, so the binary search always finds its row inside the entry.
 */
#define PROFILE_UNWIND_PAGE_SHIFT   12
#define PROFILE_UNWIND_PAGE_ROWS    4097 /* rows one page entry may span (checked by the builder) */
#define PROFILE_UNWIND_SEARCH_STEPS 13	 /* ceil(log2(PROFILE_UNWIND_PAGE_ROWS)) */

/* How the canonical frame address (CFA) is found at a pc. */
enum profile_cfa_kind {
	PROFILE_CFA_INVALID = 0,     /* no rule covers this pc */
	PROFILE_CFA_RSP = 1,	     /* CFA = rsp + cfa_off */
	PROFILE_CFA_RBP = 2,	     /* CFA = rbp + cfa_off */
	PROFILE_CFA_PLT = 3,	     /* PLT stub: CFA = rsp + cfa_off (+ 8 past the push) */
	PROFILE_CFA_END = 4,	     /* the return address is undefined: outermost frame */
	PROFILE_CFA_UNSUPPORTED = 5, /* an expression or register the unwinder cannot follow */
};

#define PROFILE_RBP_SAME    0	/* rbp is unchanged in the caller */
#define PROFILE_RBP_UNKNOWN 255 /* the caller's rbp cannot be recovered */

/* One unwind rule, in force from pc (relative to the table's base) up to the
 * next row's pc. The return address is always at CFA - 8 (x86_64). */
struct profile_unwind_row {
	__u32 pc; /* offset from the table's base vaddr */
	__s16 cfa_off;
	__u8 kind; /* enum profile_cfa_kind */
	__u8 rbp;  /* PROFILE_RBP_SAME, PROFILE_RBP_UNKNOWN, or the caller's rbp at CFA - 8 * rbp */
};

struct profile_page_key {
	__u32 table; /* table id, never reused while the object is loaded */
	__u32 page;  /* pc >> PROFILE_UNWIND_PAGE_SHIFT */
};

struct profile_page {
	__u32 first; /* index in unwind_rows */
	__u32 n;     /* rows, at most PROFILE_UNWIND_PAGE_ROWS */
};

/* ---- processes ---------------------------------------------------------------
 * Per process (tgid), its executable mappings sorted by start, and for each
 * how to unwind through it. */
#define PROFILE_MAX_PROC_MAPS 128

enum profile_map_kind {
	PROFILE_MAP_TABLE = 0,	 /* unwind with the table `table` */
	PROFILE_MAP_FP = 1,	 /* no CFI (Go, JIT, anonymous code): follow frame pointers */
	PROFILE_MAP_PENDING = 2, /* table not built yet: stop with PROFILE_STOP_NO_TABLE */
};

struct profile_exec_map {
	__u64 start, end; /* [start, end) in the process */
	__u64 base;	  /* table-relative pc = address - base */
	__u32 table;	  /* table id for PROFILE_MAP_TABLE */
	__u32 kind;	  /* enum profile_map_kind */
};

#define PROFILE_PROC_OVERFLOW                                                                      \
	1 /* more executable mappings than fit: unknown ones use frame pointers */

struct profile_proc {
	__u64 mm;    /* address space the maps belong to; 0 until the first sample binds it */
	__u32 n;     /* maps in use */
	__u32 flags; /* PROFILE_PROC_* */
	struct profile_exec_map maps[PROFILE_MAX_PROC_MAPS];
};

/* Value of `proc_events` (keyed by tgid): why user space should (re)read a process. */
enum profile_proc_event {
	PROFILE_EVENT_NEW = 1,	/* sampled but unknown */
	PROFILE_EVENT_MAPS = 2, /* an address fell outside its known mappings (dlopen, JIT) */
	PROFILE_EVENT_EXEC = 3, /* its address space changed (exec) */
};

/* ---- CPython --------------------------------------------------------------
 * Per process running CPython (`py_procs`, keyed by tgid): where the runtime
 * state and the eval loop are, and the struct offsets of its version (a row
 * of worker/pyoffsets.c). While the native walk is inside
 * _PyEval_EvalFrameDefault, the Python frames that invocation runs are
 * emitted in its place. */
#define PROFILE_PY_NONE 0xffff /* offset absent in this version */

enum profile_py_frame_kind {
	PROFILE_PY_FRAME_OBJECT = 0,   /* 3.8-3.10: PyFrameObject, one per eval call */
	PROFILE_PY_FRAME_IS_ENTRY = 1, /* 3.11: _PyInterpreterFrame, is_entry ends an eval call */
	PROFILE_PY_FRAME_OWNER = 2,    /* 3.12+: a shim frame owned by the C stack ends it */
};

struct profile_py_offsets {
	__u16 version;		   /* major << 8 | minor */
	__u16 frame_kind;	   /* enum profile_py_frame_kind */
	__u16 runtime_interp_head; /* _PyRuntimeState.interpreters.head */
	__u16 interp_threads_head; /* PyInterpreterState.threads.head (tstate_head) */
	__u16 tstate_next;
	__u16 tstate_thread_id; /* pthread_self() of the thread: its fs base */
	__u16 tstate_frame;	/* frame (3.8-3.10), cframe (3.11-3.12), current_frame (3.13) */
	__u16 cframe_frame;	/* _PyCFrame.current_frame, or NONE */
	__u16 frame_back;	/* f_back / previous */
	__u16 frame_code;	/* f_code / f_executable */
	__u16 frame_lasti;	/* int f_lasti, or the prev_instr / instr_ptr pointer */
	__u16 frame_owner;	/* is_entry (3.11) or owner (3.12+), or NONE */
	__u16 owner_cstack;	/* FRAME_OWNED_BY_CSTACK */
	__u16 code_adaptive;	/* co_code_adaptive (3.11+): the first instruction */
	/* User space only: reading code objects. */
	__u16 code_name, code_qualname, code_filename, code_firstlineno, code_linetable;
	__u16 unicode_state, unicode_length, unicode_ascii_size, unicode_compact_size;
	__u16 bytes_size, bytes_data;
};

struct profile_py_proc {
	__u64 runtime;		    /* address of _PyRuntime */
	__u64 eval_start, eval_end; /* [start, end) of _PyEval_EvalFrameDefault */
	struct profile_py_offsets off;
};

/* Per-slot counters in the per-CPU `drops` array, index slot * PROFILE_DROP__MAX + kind.
 * Stack errors keep the sample (with a marked stack); COUNTS_FULL loses it. */
enum profile_drop_kind {
	PROFILE_DROP_USER_STACK = 0,  /* user stack not captured (empty stacks do not count) */
	PROFILE_DROP_KERN_STACK = 1,  /* kernel stack not captured */
	PROFILE_DROP_STACK_FULL = 2,  /* stacks map full: the sample counts without its stack */
	PROFILE_DROP_COUNTS_FULL = 3, /* counts map full: the sample is lost */
	PROFILE_DROP__MAX = 4,
};

/* ---- off-CPU ---------------------------------------------------------------
 * An off-CPU job has no perf events: one sched_switch program serves every
 * such job, which it finds in the `offcpu_jobs` array of .bss (no attach
 * cookie: tp_btf programs get one only from Linux 6.10 on). Its counts are
 * nanoseconds blocked, not samples, keyed like CPU samples plus the thread
 * state at switch-out. */
#define PROFILE_OFFCPU_MAX_JOBS 4 /* off-CPU jobs at once (each costs a match per switch) */
#define PROFILE_OFFCPU_KSTACKS	1 /* offcpu job flag: record kernel stacks */
#define PROFILE_OFFCPU_FP_ONLY	2 /* offcpu job flag: frame pointers only */

/* Why a thread was off CPU, from its state when it was switched out. */
enum profile_thread_state {
	PROFILE_STATE_NONE = 0,	    /* a CPU sample */
	PROFILE_STATE_RUNNABLE = 1, /* preempted, yielded or throttled: wanted the CPU */
	PROFILE_STATE_SLEEPING = 2, /* TASK_INTERRUPTIBLE (or TASK_IDLE): waiting for an event */
	PROFILE_STATE_UNINTERRUPTIBLE = 3, /* TASK_UNINTERRUPTIBLE: mostly disk I/O */
	PROFILE_STATE_OTHER = 4,	   /* stopped, traced, parked */
	PROFILE_STATE__MAX = 5,
};

/* One entry of `offcpu_jobs` (written by the worker: min_block_ns and flags
 * first, then slot_plus1 last; 0 frees the entry). */
struct profile_offcpu_job {
	__u32 slot_plus1;   /* job slot + 1; 0: entry unused */
	__u32 flags;	    /* PROFILE_OFFCPU_* */
	__u64 min_block_ns; /* shorter blocks are not counted */
};

#endif
