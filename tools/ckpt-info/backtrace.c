/* SPDX-License-Identifier: MIT */
/*
 * Backtraces of the checkpointed threads, by libunwind's remote unwinding
 * over the image: the stack comes from the stored pages, code and unwind
 * tables (.eh_frame_hdr, .eh_frame) from the mapped files, and the first
 * frame's registers from the thread's saved gregs.
 */
#include <errno.h>
#include <libunwind.h>
#include <string.h>
#include <sys/ucontext.h>
#include <unistd.h>

#include "ckpt-info.h"

/* Exported by libunwind (1.6) but not declared in its public headers. */
int _Ux86_64_dwarf_search_unwind_table(unw_addr_space_t as, unw_word_t ip, unw_dyn_info_t *di,
				       unw_proc_info_t *pi, int need_unwind_info, void *arg);

#define DW_EH_PE_omit		0xff
#define DW_EH_PE_datarel_sdata4	0x3b

struct unwind_arg {
	struct info *in;
	const struct ckpt_thread *t;
};

static const struct ckpt_run *find_run(const struct ckpt_image *img,
				       const struct ckpt_region *r, uint64_t addr)
{
	for (uint32_t i = r->first_run; i < r->first_run + r->nr_runs; i++) {
		const struct ckpt_run *run = &img->runs[i];

		if (addr >= run->vaddr && addr - run->vaddr < run->npages * CKPT_PAGE_SIZE)
			return run;
	}
	return NULL;
}

static int pread_full(int fd, char *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pread(fd, buf, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* Reads len bytes at addr, all within one page. */
static int read_in_page(struct info *in, uint64_t addr, char *buf, size_t len)
{
	const struct ckpt_region *r = find_region(in->img, addr);
	const struct mapped_file *f;
	const struct ckpt_run *run;
	uint64_t off;

	if (!r)
		return -1;
	run = find_run(in->img, r, addr);
	if (run)
		return pread_full(in->img->fd, buf, len, run->data_off + (addr - run->vaddr));
	memset(buf, 0, len);	/* pages not stored were never touched: zero */
	if (r->kind != CKPT_REG_FILE)
		return 0;
	f = mapped_file_get(in, r);
	if (!f || !f->map)
		return -1;
	off = r->pgoff + (addr - r->start);
	if (off < f->size)
		memcpy(buf, f->map + off, len < f->size - off ? len : f->size - off);
	return 0;
}

static int read_mem(struct info *in, uint64_t addr, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		size_t n = CKPT_PAGE_SIZE - (addr & (CKPT_PAGE_SIZE - 1));

		if (n > len)
			n = len;
		if (read_in_page(in, addr, p, n))
			return -1;
		addr += n;
		p += n;
		len -= n;
	}
	return 0;
}

static int enc_size(uint8_t enc)
{
	if (enc == DW_EH_PE_omit)
		return 0;
	switch (enc & 0x0f) {
	case 0x00:	/* absptr */
	case 0x04:	/* udata8 */
	case 0x0c:	/* sdata8 */
		return 8;
	case 0x03:	/* udata4 */
	case 0x0b:	/* sdata4 */
		return 4;
	default:
		return -1;
	}
}

/* Describes the binary-search table of .eh_frame_hdr for the file at ip. */
static int eh_table(struct info *in, uint64_t ip, unw_dyn_info_t *di)
{
	const struct ckpt_region *r = find_region(in->img, ip);
	const struct mapped_file *f;
	const Elf64_Phdr *ph;
	const uint8_t *hdr;
	uint64_t bias, count = 0;
	int ptr_size, count_size;

	if (!r || r->kind != CKPT_REG_FILE)
		return -1;
	f = mapped_file_get(in, r);
	if (!f || elf_load_bias(f, r, &bias))
		return -1;
	ph = elf_find_phdr(f, PT_GNU_EH_FRAME);
	if (!ph || ph->p_offset > f->size || f->size - ph->p_offset < 4 + 8 + 8)
		return -1;
	hdr = (const uint8_t *)f->map + ph->p_offset;
	ptr_size = enc_size(hdr[1]);
	count_size = enc_size(hdr[2]);
	if (hdr[0] != 1 || ptr_size < 0 || count_size <= 0 || hdr[3] != DW_EH_PE_datarel_sdata4)
		return -1;
	memcpy(&count, hdr + 4 + ptr_size, count_size);

	memset(di, 0, sizeof(*di));
	elf_ip_range(f, bias, &di->start_ip, &di->end_ip);
	di->format = UNW_INFO_FORMAT_REMOTE_TABLE;
	di->u.rti.segbase = bias + ph->p_vaddr;
	di->u.rti.table_data = di->u.rti.segbase + 4 + ptr_size + count_size;
	/* Each entry is two 32-bit words: initial location and FDE offset. */
	di->u.rti.table_len = count * 8 / sizeof(unw_word_t);
	return 0;
}

static int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi,
			  int need_unwind_info, void *arg)
{
	struct unwind_arg *ua = arg;
	unw_dyn_info_t di;

	if (eh_table(ua->in, ip, &di))
		return -UNW_ENOINFO;
	return _Ux86_64_dwarf_search_unwind_table(as, ip, &di, pi, need_unwind_info, arg);
}

/* libunwind frees the DWARF unwind info it allocates itself. */
static void put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
}

static int get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *addr, void *arg)
{
	return -UNW_ENOINFO;
}

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write,
		      void *arg)
{
	struct unwind_arg *ua = arg;

	if (write)
		return -UNW_EINVAL;
	return read_mem(ua->in, addr, val, sizeof(*val)) ? -UNW_EINVAL : 0;
}

static int access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write,
		      void *arg)
{
	static const int greg[] = {
		[UNW_X86_64_RAX] = REG_RAX, [UNW_X86_64_RDX] = REG_RDX,
		[UNW_X86_64_RCX] = REG_RCX, [UNW_X86_64_RBX] = REG_RBX,
		[UNW_X86_64_RSI] = REG_RSI, [UNW_X86_64_RDI] = REG_RDI,
		[UNW_X86_64_RBP] = REG_RBP, [UNW_X86_64_RSP] = REG_RSP,
		[UNW_X86_64_R8] = REG_R8, [UNW_X86_64_R9] = REG_R9,
		[UNW_X86_64_R10] = REG_R10, [UNW_X86_64_R11] = REG_R11,
		[UNW_X86_64_R12] = REG_R12, [UNW_X86_64_R13] = REG_R13,
		[UNW_X86_64_R14] = REG_R14, [UNW_X86_64_R15] = REG_R15,
		[UNW_X86_64_RIP] = REG_RIP,
	};
	struct unwind_arg *ua = arg;

	if (write)
		return -UNW_EREADONLYREG;
	if (reg < 0 || reg > UNW_X86_64_RIP)
		return -UNW_EBADREG;
	*val = ua->t->gregs[greg[reg]];
	return 0;
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
			void *arg)
{
	return -UNW_EBADREG;
}

static int resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	return -UNW_EINVAL;
}

static int get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
			 unw_word_t *off, void *arg)
{
	return -UNW_ENOINFO;
}

static unw_accessors_t accessors = {
	.find_proc_info = find_proc_info,
	.put_unwind_info = put_unwind_info,
	.get_dyn_info_list_addr = get_dyn_info_list_addr,
	.access_mem = access_mem,
	.access_reg = access_reg,
	.access_fpreg = access_fpreg,
	.resume = resume,
	.get_proc_name = get_proc_name,
};

int backtrace_thread(struct info *in, const struct ckpt_thread *t, struct frame *frames,
		     int max)
{
	struct unwind_arg ua = { .in = in, .t = t };
	unw_cursor_t cursor;
	int n = 0, exact = 1;

	if (!in->unwind)
		in->unwind = unw_create_addr_space(&accessors, 0);
	if (!in->unwind || unw_init_remote(&cursor, in->unwind, &ua) < 0)
		return 0;
	do {
		unw_word_t ip;

		if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || !ip)
			break;
		/* Only the interrupted frame and frames below a signal frame
		 * hold the exact ip; the others hold a return address. */
		symbolize(in, ip, exact ? ip : ip - 1, &frames[n++]);
		exact = unw_is_signal_frame(&cursor) > 0;
	} while (n < max && unw_step(&cursor) > 0);
	return n;
}

void backtrace_done(struct info *in)
{
	if (in->unwind)
		unw_destroy_addr_space(in->unwind);
	in->unwind = NULL;
}
