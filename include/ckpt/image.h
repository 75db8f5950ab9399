/* SPDX-License-Identifier: MIT */
/*
 * On-disk image format, version 1 (see docs/image-format.md).
 *
 * Layout of an image file:
 *
 *   offset 0      struct ckpt_header, padded to one page
 *   page 1 ...    page data: runs of whole pages, each run page-aligned
 *   after data    metadata sections (proc, threads, regions, runs, fds,
 *                 timers, strings, plugin blobs), 8-byte aligned
 *   at the end    the section table: header.nr_sections x ckpt_section
 *
 * All integers are little-endian (the image is only restored on the
 * architecture recorded in the header). Every section carries an XXH3-64
 * hash; each page run carries its own hash so that a run can be checked
 * when it is read. The header hash covers the header; the table hash
 * covers the section table.
 */
#ifndef CKPT_IMAGE_H
#define CKPT_IMAGE_H

#include <stdint.h>

#define CKPT_MAGIC		"CKPTIMG\0"
#define CKPT_MAGIC_LEN		8
#define CKPT_IMAGE_VERSION	1
#define CKPT_ARCH_X86_64	62	/* EM_X86_64 */
#define CKPT_PAGE_SIZE		4096u

enum ckpt_section_type {
	CKPT_SEC_PROC = 1,	/* struct ckpt_proc, exactly one */
	CKPT_SEC_THREADS,	/* struct ckpt_thread[] */
	CKPT_SEC_REGIONS,	/* struct ckpt_region[] */
	CKPT_SEC_RUNS,		/* struct ckpt_run[] */
	CKPT_SEC_FDS,		/* struct ckpt_fd[] */
	CKPT_SEC_TIMERS,	/* struct ckpt_timer[] */
	CKPT_SEC_STRINGS,	/* NUL-terminated strings, referenced by offset */
	CKPT_SEC_PLUGIN,	/* struct ckpt_plugin_hdr + plugin bytes, one per plugin */
	CKPT_SEC_PAGES,		/* page data; hashed per run (ckpt_run.hash) */
	CKPT_SEC_FDDATA,	/* per-fd state beyond struct ckpt_fd (see ckpt_fd.data_*) */
	CKPT_SEC_PARENT,	/* struct ckpt_parent: the image this one is incremental to */
	CKPT_SEC_INHERIT,	/* struct ckpt_range[]: pages whose data is the parent's */
	CKPT_SEC_PAGEHASH,	/* struct ckpt_pagehash[]: every non-zero page, for the next increment */
	CKPT_SEC_TREE,		/* struct ckpt_tree_proc[]: the other processes of a tree (root image) */
	CKPT_SEC_MAX,
};

struct ckpt_header {
	char magic[CKPT_MAGIC_LEN];
	uint32_t version;
	uint32_t arch;
	uint32_t page_size;
	uint32_t header_size;		/* sizeof(struct ckpt_header) */
	uint64_t file_size;		/* total bytes; detects truncation */
	uint64_t sections_off;		/* offset of the section table */
	uint32_t nr_sections;
	uint32_t flags;			/* CKPT_HDR_* */
	uint64_t created_ns;		/* CLOCK_REALTIME at capture */
	uint64_t pause_ns;		/* how long the application was stopped */
	int32_t pid;
	uint32_t seq;			/* checkpoint number within that process */
	char comm[16];
	uint64_t table_hash;		/* XXH3-64 of the section table */
	uint64_t header_hash;		/* XXH3-64 of this struct, this field 0 */
};

#define CKPT_HDR_TREE_MEMBER	0x1	/* written as part of a tree; its root image lists it */

struct ckpt_section {
	uint32_t type;
	uint32_t index;			/* n-th section of this type */
	uint64_t offset;
	uint64_t size;
	uint64_t hash;			/* XXH3-64 of the bytes; 0 for PAGES */
};

/* Process-wide state. */
#define CKPT_NR_RLIMITS		16
#define CKPT_NR_SIGNALS		64
#define CKPT_AUXV_WORDS		128

struct ckpt_ksigaction {		/* the kernel's struct sigaction */
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

struct ckpt_itimer {
	int64_t interval_sec, interval_usec;
	int64_t value_sec, value_usec;
};

struct ckpt_proc {
	int32_t pid, ppid, pgid, sid;
	uint32_t uid, gid, euid, egid;
	uint32_t umask;
	uint32_t nr_threads;
	uint32_t personality;
	uint32_t exe_str;		/* offsets into CKPT_SEC_STRINGS */
	uint32_t cwd_str;
	uint32_t auxv_words;		/* used entries of auxv[] */
	uint64_t exe_dev, exe_ino, exe_size;
	int64_t exe_mtime_sec;
	int64_t exe_mtime_nsec;
	/* the fields of struct prctl_mm_map */
	uint64_t start_code, end_code, start_data, end_data;
	uint64_t start_brk, brk, start_stack;
	uint64_t arg_start, arg_end, env_start, env_end;
	uint64_t auxv[CKPT_AUXV_WORDS];
	struct { uint64_t cur, max; } rlim[CKPT_NR_RLIMITS];
	struct ckpt_ksigaction sigact[CKPT_NR_SIGNALS];	/* index = signo - 1 */
	struct ckpt_itimer itimer[3];	/* ITIMER_REAL, _VIRTUAL, _PROF */
	uint64_t shared_pending;	/* process-wide pending signals, bit n-1 = signo n */
	uint64_t lib_resume;		/* address of the library's struct ckpt_resume */
	uint64_t clock_mono_ns;		/* CLOCK_MONOTONIC at capture */
	uint64_t xcr0;			/* XSAVE features in use (XGETBV 0) */
	uint32_t dumpable;		/* prctl PR_GET_DUMPABLE */
	uint32_t no_new_privs;
	uint32_t child_subreaper;
	uint32_t pad;
	char comm[16];
};

/* One thread. ctx is where the thread resumes inside libckpt. */
struct ckpt_jmp {
	uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;
	uint32_t mxcsr;
	uint16_t fpucw;
	uint16_t pad;
};

#define CKPT_NGREG 23			/* gregset_t of the interrupted context */

struct ckpt_thread {
	int32_t tid;
	uint32_t flags;			/* CKPT_THREAD_* */
	struct ckpt_jmp ctx;
	uint64_t fs_base, gs_base;
	uint64_t gregs[CKPT_NGREG];	/* application registers when stopped */
	uint64_t sigmask;		/* application signal mask */
	uint64_t pending;		/* thread-directed pending signals */
	uint64_t robust_list, robust_len;
	uint64_t clear_child_tid;
	uint64_t rseq, rseq_len;
	uint32_t rseq_sig;
	uint32_t pad;
	uint64_t altstack_sp, altstack_size;
	uint32_t altstack_flags;
	char comm[16];
	int32_t sched_policy;		/* sched_getattr */
	uint32_t sched_priority;
	int32_t nice;
	uint64_t sched_flags;
	uint64_t cpu_affinity[16];	/* first 1024 CPUs */
};

#define CKPT_THREAD_LEADER	0x1	/* tid == pid */
#define CKPT_THREAD_COORD	0x2	/* the thread that took the checkpoint */

/* One memory region (a VMA). */
enum ckpt_region_kind {
	CKPT_REG_ANON = 1,		/* private anonymous */
	CKPT_REG_HEAP,			/* [heap] */
	CKPT_REG_STACK,			/* [stack] */
	CKPT_REG_FILE,			/* mapped from a file that must exist at restore */
	CKPT_REG_SHANON,		/* MAP_SHARED anonymous (/dev/zero (deleted)) */
	CKPT_REG_MEMFD,			/* memfd, contents in the image */
	CKPT_REG_VDSO,			/* [vdso], not stored: moved at restore */
	CKPT_REG_VVAR,			/* [vvar], not stored: moved at restore */
	CKPT_REG_VVAR_VCLOCK,		/* [vvar_vclock], not stored */
	CKPT_REG_MAX,
};

#define CKPT_REGF_SHARED	0x1	/* MAP_SHARED */
#define CKPT_REGF_GROWSDOWN	0x2
#define CKPT_REGF_HUGEPAGE	0x4	/* had MADV_HUGEPAGE */
#define CKPT_REGF_DONTDUMP	0x8
#define CKPT_REGF_WIPEONFORK	0x10
#define CKPT_REGF_FILE_WRITABLE	0x20	/* shared writable file: contents may change */
#define CKPT_REGF_DONTFORK	0x40	/* had MADV_DONTFORK */

struct ckpt_region {
	uint64_t start, end;
	uint32_t prot;			/* PROT_* */
	uint32_t flags;			/* CKPT_REGF_* */
	uint32_t kind;			/* enum ckpt_region_kind */
	uint32_t name_str;		/* path or [name]; offset in STRINGS */
	uint64_t pgoff;			/* file offset in bytes */
	uint64_t dev, ino;
	uint64_t file_size;		/* file size at checkpoint (memfd: its size) */
	int64_t mtime_sec, mtime_nsec;
	uint32_t first_run, nr_runs;	/* into CKPT_SEC_RUNS */
	uint64_t bytes_stored;
	uint64_t bytes_present;		/* pages resident at capture, zero pages included */
};

/* A run of consecutive stored pages. */
struct ckpt_run {
	uint64_t vaddr;
	uint64_t npages;
	uint64_t data_off;		/* file offset; page aligned unless compressed */
	uint64_t hash;			/* XXH3-64 of the run's pages (uncompressed) */
	uint64_t stored_len;		/* bytes in the file: npages * page size, or compressed */
	uint64_t stored_hash;		/* compressed runs: XXH3-64 of the stored bytes, else 0 */
	uint32_t flags;			/* CKPT_RUN_* */
	uint32_t pad;
};

#define CKPT_RUN_ZSTD	0x1		/* one zstd frame; restore decompresses it */

/*
 * Incremental images. A child image stores the pages that changed since
 * its parent (runs) and lists the ranges whose contents are the
 * parent's (CKPT_SEC_INHERIT); any other page of its regions is zero.
 * Restore resolves inherited ranges through the chain, oldest last.
 * Changes are found by comparing each page's XXH3-64 with the parent's
 * CKPT_SEC_PAGEHASH, so no write tracking is needed in the application.
 */
struct ckpt_parent {
	char name[256];			/* file name, in the same directory as this image */
	uint64_t header_hash;		/* the parent's ckpt_header.header_hash */
	uint32_t depth;			/* 1 + the parent's depth; full images have 0 */
	uint32_t pad;
};

struct ckpt_range {
	uint64_t vaddr, npages;
};

struct ckpt_pagehash {
	uint64_t vaddr, hash;
};

/*
 * A process tree. A checkpoint of a process that has children running
 * libckpt covers them all, stopped together: each live descendant writes
 * an image of its own (flag CKPT_HDR_TREE_MEMBER) in the same directory,
 * and the root's image lists every descendant in CKPT_SEC_TREE, parents
 * before their children. Objects shared between processes (pipes,
 * sockets, shared memory) are matched at restore by their dev and ino.
 */
enum ckpt_tree_state {
	CKPT_TREE_LIVE = 1,		/* restored from its own image */
	CKPT_TREE_ZOMBIE,		/* exited, not waited for: recreated as a zombie */
	CKPT_TREE_STATE_MAX,
};

struct ckpt_tree_proc {
	int32_t pid, ppid, pgid, sid;	/* ppid: the root or an earlier entry */
	uint32_t state;			/* enum ckpt_tree_state */
	int32_t wait_status;		/* ZOMBIE: the status waitpid() would report */
	uint64_t header_hash;		/* LIVE: its image's ckpt_header.header_hash */
	char image[256];		/* LIVE: its image's file name, in this image's directory */
};

/* One open file descriptor. */
enum ckpt_fd_kind {
	CKPT_FD_REG = 1,		/* regular file: reopened by path, offset restored; ckpt_fd_lock[] */
	CKPT_FD_DIR,			/* directory: reopened by path */
	CKPT_FD_CHR,			/* character device such as /dev/null: reopened by path */
	CKPT_FD_STDIO,			/* 0-2 on a tty, pipe or socket: taken from the restorer */
	CKPT_FD_PIPE,			/* pipe end; ino names the pipe; struct ckpt_fd_pipe */
	CKPT_FD_FIFO,			/* named pipe end, reopened by path; struct ckpt_fd_pipe */
	CKPT_FD_UNIX,			/* AF_UNIX socket; struct ckpt_fd_unix */
	CKPT_FD_EVENTFD,		/* struct ckpt_fd_eventfd */
	CKPT_FD_TIMERFD,		/* struct ckpt_fd_timerfd */
	CKPT_FD_SIGNALFD,		/* struct ckpt_fd_signalfd */
	CKPT_FD_EPOLL,			/* struct ckpt_fd_epoll + targets, restored last */
	CKPT_FD_INOTIFY,		/* struct ckpt_fd_inotify + watches */
	CKPT_FD_MEMFD,			/* memfd; struct ckpt_fd_file + contents not in a mapping */
	CKPT_FD_DELETED,		/* deleted regular file; struct ckpt_fd_file + contents */
	CKPT_FD_TTY,			/* the controlling terminal: the restorer's terminal */
	CKPT_FD_INET,			/* TCP or UDP socket, IPv4 or IPv6; struct ckpt_fd_inet */
	CKPT_FD_MAX,
};

#define CKPT_FDX_DUP		0x1	/* same open file as the earlier entry for fd dup_of */
#define CKPT_FDX_PEER_GONE	0x2	/* pipe or socket whose other end was not ours */
#define CKPT_FDX_STDIO		0x4	/* tree member's fd 0-2 on a pipe: the restorer's stream
					   (as CKPT_FD_STDIO) unless the pipe's reader and writer
					   are both restored */
#define CKPT_FDX_INHERITED	0x8	/* tree member: the same open file (and offset) as its
					   parent's fd of the same number */

struct ckpt_fd {
	int32_t fd;
	uint32_t kind;
	uint32_t flags;			/* F_GETFL */
	uint32_t fdflags;		/* F_GETFD */
	int64_t pos;
	uint32_t path_str;
	uint32_t mode;			/* st_mode */
	uint64_t dev, ino, size, rdev;
	uint64_t data_off, data_len;	/* kind-specific bytes in CKPT_SEC_FDDATA */
	uint32_t xflags;		/* CKPT_FDX_* */
	int32_t dup_of;			/* with CKPT_FDX_DUP; such an entry has no data */
};

/*
 * Kind-specific state in CKPT_SEC_FDDATA, at ckpt_fd.data_off, 8-byte
 * aligned. Entries with the same kind, dev and ino are one object (a pipe,
 * a socket, a file); only the first of them carries the object's data.
 */
struct ckpt_fd_pipe {			/* PIPE, FIFO: first end of each pipe */
	uint32_t capacity;		/* F_GETPIPE_SZ */
	uint32_t pad;
	uint64_t queued;		/* bytes in the pipe; they follow */
};

#define CKPT_UNIX_SHUT_RD	0x1	/* RCV_SHUTDOWN */
#define CKPT_UNIX_SHUT_WR	0x2	/* SEND_SHUTDOWN */

struct ckpt_fd_unix {			/* UNIX: every socket */
	uint64_t peer_ino;		/* the other end (PAIR; 0 if none), maybe in another process */
	uint32_t type;			/* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
	uint32_t shutdown;		/* CKPT_UNIX_SHUT_* */
	int32_t sndbuf, rcvbuf;		/* getsockopt values (twice what was set) */
	int32_t peek_off;		/* SO_PEEK_OFF, -1 if off */
	uint32_t passcred;		/* SO_PASSCRED */
	uint32_t nr_msgs;		/* messages queued for this socket */
	uint32_t state;			/* CKPT_UNIX_PAIR, ...; not PAIR: a ckpt_unix_name follows */
	uint64_t queued;		/* their bytes; nr_msgs x (uint32_t len, bytes, pad to 4) follow */
};

enum ckpt_unix_state {
	CKPT_UNIX_PAIR = 0,		/* connected (or peer gone) unnamed pair end */
	CKPT_UNIX_LISTEN,		/* STREAM/SEQPACKET bound to name and listening */
	CKPT_UNIX_BOUND,		/* bound to name, not connected; DGRAM may have records */
	CKPT_UNIX_RESET,		/* STREAM/SEQPACKET connected to another process by name:
					   comes back reset by the peer */
	CKPT_UNIX_STATE_MAX,
};

struct ckpt_unix_name {			/* after ckpt_fd_unix unless state is PAIR */
	uint32_t len;			/* bytes of name used; an abstract name starts with 0 */
	uint32_t mode;			/* S_IFSOCK | permissions of a path's socket file, or 0 */
	uint32_t backlog;		/* LISTEN: listen() backlog */
	uint32_t pending;		/* LISTEN: connections waiting to be accepted (lost) */
	char name[108];			/* sun_path; a path is absolute, without a 0 inside len */
	uint32_t pad;
};

struct ckpt_fd_eventfd {
	uint64_t count;
	uint32_t semaphore;		/* EFD_SEMAPHORE */
	uint32_t pad;
};

struct ckpt_fd_timerfd {
	int32_t clockid;
	uint32_t settime_flags;		/* TFD_TIMER_ABSTIME (value is absolute), CANCEL_ON_SET */
	uint64_t ticks;			/* expirations not read yet */
	int64_t value_sec, value_nsec;	/* 0: disarmed; else time left (or the deadline) */
	int64_t interval_sec, interval_nsec;
};

struct ckpt_fd_signalfd {
	uint64_t sigmask;		/* bit n-1 = signal n */
};

struct ckpt_epoll_tfd {
	int32_t tfd;			/* target fd, an entry of the same image */
	uint32_t events;
	uint64_t data;
};

struct ckpt_fd_epoll {
	uint32_t nr;			/* struct ckpt_epoll_tfd[nr] follow */
	uint32_t pad;
};

struct ckpt_inotify_watch {
	int32_t wd;
	uint32_t mask;
	uint32_t path_str;		/* watched inode's path at checkpoint */
	uint32_t pad;
	uint64_t dev, ino;
};

#define CKPT_INOTIFY_MAX_WD	65536	/* restore reaches each wd by adding and removing */

struct ckpt_fd_inotify {
	uint32_t nr;			/* struct ckpt_inotify_watch[nr] follow, ascending wd */
	uint32_t pad;
};

struct ckpt_fd_extent {
	uint64_t off, len;		/* len bytes follow, padded to 8 */
};

struct ckpt_fd_file {			/* MEMFD, DELETED: first entry of each file */
	uint64_t size;
	uint32_t seals;			/* F_GET_SEALS (memfd) */
	uint32_t nr_extents;		/* struct ckpt_fd_extent + bytes follow, ascending */
};

/*
 * File locks (REG, every entry that is not a duplicate): data_len /
 * sizeof(struct ckpt_fd_lock) of them, as /proc/self/fdinfo showed them
 * for this open file. POSIX locks belong to the process, OFD locks and
 * flock() to the open file.
 */
enum ckpt_lock_kind {
	CKPT_LOCK_POSIX = 1,		/* fcntl F_SETLK */
	CKPT_LOCK_OFD,			/* fcntl F_OFD_SETLK */
	CKPT_LOCK_FLOCK,		/* flock(); start 0, end -1 */
	CKPT_LOCK_MAX,
};

struct ckpt_fd_lock {
	uint32_t kind;			/* CKPT_LOCK_* */
	uint32_t write;			/* 1: F_WRLCK / LOCK_EX, 0: F_RDLCK / LOCK_SH */
	int64_t start, end;		/* bytes start..end included; end -1: to the end of file */
};

/*
 * TCP and UDP sockets (INET, every socket). A listening socket binds and
 * listens again; a bound or connected UDP socket binds (and connects)
 * again. A TCP connection whose other end is restored too (in the same
 * process or another one of its tree) is connected again on the same
 * addresses and ports, with the bytes that were queued in each direction;
 * any other comes back as a socket reset by its peer.
 */
enum ckpt_inet_state {
	CKPT_INET_NEW = 1,		/* neither bound nor connected: a new socket */
	CKPT_INET_BOUND,		/* bound, not listening (TCP) or not connected (UDP) */
	CKPT_INET_LISTEN,		/* TCP: bound and listening */
	CKPT_INET_CONNECTED,		/* UDP with a default destination (connect) */
	CKPT_INET_RESET,		/* TCP connection whose queues were not saved (its other
					   end is not restored with it, it was being opened, or
					   they could not be read): comes back reset */
	CKPT_INET_ESTABLISHED,		/* TCP connection, open or half closed; struct
					   ckpt_inet_conn and its queued bytes follow */
	CKPT_INET_MAX,
};

#define CKPT_INET_OPT_REUSEADDR	0x1	/* SO_REUSEADDR */
#define CKPT_INET_OPT_REUSEPORT	0x2	/* SO_REUSEPORT */
#define CKPT_INET_OPT_KEEPALIVE	0x4	/* SO_KEEPALIVE */
#define CKPT_INET_OPT_BROADCAST	0x8	/* SO_BROADCAST */
#define CKPT_INET_OPT_V6ONLY	0x10	/* IPV6_V6ONLY (IPv6 only) */
#define CKPT_INET_OPT_NODELAY	0x20	/* TCP_NODELAY (TCP only) */

struct ckpt_inet_addr {
	uint8_t addr[16];		/* network byte order; IPv4 in the first 4, the rest 0 */
	uint16_t port;			/* host byte order */
	uint16_t pad;
	uint32_t scope_id;		/* IPv6 scope (link-local); 0 for IPv4 */
};

struct ckpt_fd_inet {
	uint32_t family;		/* AF_INET, AF_INET6 */
	uint32_t type;			/* SOCK_STREAM (with IPPROTO_TCP), SOCK_DGRAM (IPPROTO_UDP) */
	uint32_t protocol;		/* IPPROTO_TCP, IPPROTO_UDP */
	uint32_t state;			/* enum ckpt_inet_state */
	uint32_t opts;			/* CKPT_INET_OPT_* */
	uint32_t tcp_state;		/* TCP: tcpi_state at the checkpoint (for messages) */
	uint32_t backlog;		/* LISTEN: the listen() backlog, at most INT32_MAX */
	uint32_t pending;		/* LISTEN: connections not accepted yet (lost) */
	struct ckpt_inet_addr local;	/* getsockname */
	struct ckpt_inet_addr peer;	/* getpeername: CONNECTED, RESET (zero if unknown), ESTABLISHED */
};

/*
 * After ckpt_fd_inet when state is ESTABLISHED (tcp_state ESTABLISHED,
 * FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, CLOSING or LAST_ACK: whether each side
 * has sent its FIN follows from it). Offsets count the bytes of one
 * direction of the stream since the connection opened, as the kernel does
 * (tcpi_bytes_received, tcpi_bytes_sent); the two ends are saved one after
 * the other, and the offsets tell restore which of the bytes queued at one
 * end the other end had already received. Then follow recv_len bytes (the
 * stream from read_off on), padded with zeros to 8, and send_len bytes (the
 * stream up to write_off), padded to 8.
 */
#define CKPT_INET_SNDQ_UNREAD	0x1	/* unacked > 0 but the send queue could not be read
					   (TCP_REPAIR needs CAP_NET_ADMIN): send_len is 0 */

struct ckpt_inet_conn {
	uint64_t read_off;		/* bytes the program had read from the connection */
	uint64_t write_off;		/* bytes it had written to it (the FIN not counted) */
	uint64_t recv_len;		/* received, not read yet */
	uint64_t send_len;		/* written, not acknowledged by the peer: saved */
	uint64_t unacked;		/* written, not acknowledged (SIOCOUTQ, the FIN not counted) */
	uint32_t flags;			/* CKPT_INET_SNDQ_* */
	int32_t sndbuf, rcvbuf;		/* SO_SNDBUF, SO_RCVBUF as getsockopt reported them */
	int32_t peek_off;		/* SO_PEEK_OFF, -1 if off */
	int32_t linger;			/* SO_LINGER seconds, -1 if off */
	int32_t keepidle, keepintvl, keepcnt;	/* TCP_KEEPIDLE (s), TCP_KEEPINTVL (s), TCP_KEEPCNT */
	uint32_t user_timeout;		/* TCP_USER_TIMEOUT (ms) */
	uint32_t cork;			/* TCP_CORK */
};

/* One POSIX timer (timer_create). */
struct ckpt_timer {
	int32_t id;
	int32_t clockid;
	int32_t notify;			/* SIGEV_* */
	int32_t signo;
	int32_t target_tid;		/* SIGEV_THREAD_ID */
	int32_t pad;
	uint64_t sigval;
	int64_t interval_sec, interval_nsec;
	int64_t value_sec, value_nsec;
};

/* Header of each CKPT_SEC_PLUGIN section. */
struct ckpt_plugin_hdr {
	char name[16];
	uint32_t version;
	uint32_t pad;
	uint64_t size;			/* bytes after this header */
};

/*
 * Handshake between ckpt-restore and the restored library: the address of
 * this struct is recorded in ckpt_proc.lib_resume, and ckpt-restore fills
 * it in before the threads jump back into the library.
 */
#define CKPT_RESUME_MAGIC	0x43b7a0f1c4e5d6e7ull

#define CKPT_MAX_CHAIN	16	/* images in an incremental chain */

struct ckpt_resume {
	uint64_t magic;
	uint64_t hole_start, hole_len;	/* restorer memory the library unmaps */
	int32_t image_fd;		/* open image, for plugin sections; -1 if none */
	int32_t log_level;
	uint64_t restore_start_ns;	/* CLOCK_MONOTONIC when ckpt-restore started */
	uint32_t nr_images;		/* image files whose pages are mapped, not copied */
	uint32_t pad;
	struct { uint64_t dev, ino; } images[2 * CKPT_MAX_CHAIN];	/* images and decompressed copies */
};

#endif
