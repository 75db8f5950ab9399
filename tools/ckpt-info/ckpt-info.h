/* SPDX-License-Identifier: MIT */
/* Internal interfaces of ckpt-info. */
#ifndef CKPT_INFO_H
#define CKPT_INFO_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "image_read.h"

#define MAX_FRAMES	32

/* A file mapped by the checkpointed process, opened again read-only. */
struct mapped_file {
	const char *path;		/* in the image's string table */
	const char *map;		/* NULL: missing, unreadable or changed */
	size_t size;
	const Elf64_Ehdr *ehdr;		/* NULL unless an x86_64 ELF64 object */
	const Elf64_Phdr *phdr;
	struct symtab {
		const Elf64_Sym *syms;
		size_t nr;
		const char *strs;
		size_t strs_size;
	} symtabs[2];			/* .symtab and .dynsym */
};

struct info {
	const struct ckpt_image *img;
	const char *path;
	int backtrace;
	int verify;			/* --verify given */
	int verify_code;
	char verify_err[256];
	struct mapped_file **files;
	uint32_t nr_files;
	void *unwind;			/* backtrace.c's address space */
};

/* One frame of a backtrace, or one code address to name. */
struct frame {
	uint64_t ip;
	const char *file;		/* mapped file holding ip; NULL if none */
	int file_gone;			/* that file is missing or changed */
	int has_file_off;
	uint64_t file_off;		/* ip as an address in that ELF file */
	const char *sym;		/* enclosing function; NULL if unknown */
	uint64_t sym_off;
};

/* elf.c */
const struct ckpt_region *find_region(const struct ckpt_image *img, uint64_t addr);
const struct mapped_file *mapped_file_get(struct info *in, const struct ckpt_region *r);
int elf_load_bias(const struct mapped_file *f, const struct ckpt_region *r, uint64_t *bias);
const Elf64_Phdr *elf_find_phdr(const struct mapped_file *f, uint32_t type);
void elf_ip_range(const struct mapped_file *f, uint64_t bias, uint64_t *start, uint64_t *end);
/* Names ip; lookup is ip - 1 for a return address, so that a call at the end
 * of a function is not attributed to the next one. */
void symbolize(struct info *in, uint64_t ip, uint64_t lookup, struct frame *fr);
void mapped_files_close(struct info *in);

/* backtrace.c: returns the number of frames stored, or -1 if unsupported. */
int backtrace_thread(struct info *in, const struct ckpt_thread *t, struct frame *frames,
		     int max);
void backtrace_done(struct info *in);

/* names.c */
size_t utf8_len(const unsigned char *p, size_t max);
const char *sig_name(int signo, char *buf, size_t len);
void sigset_names(uint64_t set, char *buf, size_t len);
void sigset_brief(uint64_t set, char *buf, size_t len);
void sa_flags_str(uint64_t flags, char *buf, size_t len);
const char *rlimit_name(int res);
const char *itimer_name(int which);
const char *clock_name(int clockid);
const char *notify_name(int notify);
void prot_str(const struct ckpt_region *r, char buf[5]);
void open_flags_str(uint32_t flags, uint32_t fdflags, char *buf, size_t len);
const char *inet_state_name(uint32_t state);
const char *tcp_state_name(uint32_t tcpi_state);
void inet_addr_str(const struct ckpt_fd_inet *s, const struct ckpt_inet_addr *a, char *buf,
		   size_t len);
const struct ckpt_inet_conn *inet_conn(const struct ckpt_fd *f, const struct ckpt_fd_inet *s);
const char *sock_type_name(uint32_t type);
void fd_state_str(const struct ckpt_image *img, const struct ckpt_fd *f, char *buf, size_t len);
void iso_time(uint64_t ns, char *buf, size_t len);
void human_size(uint64_t bytes, char *buf, size_t len);
void thread_flags_str(uint32_t flags, char *buf, size_t len);
const char *base_name(const char *path);
uint64_t image_stored_bytes(const struct ckpt_image *img);

/* How the page data is stored: compression, and pages left to the parent image. */
struct image_summary {
	uint32_t zstd_runs;
	uint64_t file_bytes;		/* page data as stored (compressed or not) */
	uint64_t inherited_bytes;
};
void image_summary(const struct ckpt_image *img, struct image_summary *s);

/* print_text.c, print_json.c */
void print_text(struct info *in, FILE *out);
void print_json(struct info *in, FILE *out);

#endif
