/* SPDX-License-Identifier: MIT */
/*
 * The files the checkpointed process had mapped, opened again: their pages
 * are not in the image, and their symbol tables name code addresses. A file
 * whose size or mtime differs from the image's record is not used, since
 * its bytes would no longer be the ones that were mapped.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt-info.h"

const struct ckpt_region *find_region(const struct ckpt_image *img, uint64_t addr)
{
	uint32_t lo = 0, hi = img->nr_regions;

	/* The reader has checked that regions are sorted and disjoint. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct ckpt_region *r = &img->regions[mid];

		if (addr < r->start)
			hi = mid;
		else if (addr >= r->end)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

static int in_file(const struct mapped_file *f, uint64_t off, uint64_t len)
{
	return off <= f->size && len <= f->size - off;
}

static void load_symtab(struct mapped_file *f, const Elf64_Shdr *sh, const Elf64_Shdr *shdrs,
			struct symtab *st)
{
	const Elf64_Shdr *strsh;

	if (sh->sh_link >= f->ehdr->e_shnum || !in_file(f, sh->sh_offset, sh->sh_size))
		return;
	strsh = &shdrs[sh->sh_link];
	if (!in_file(f, strsh->sh_offset, strsh->sh_size))
		return;
	st->syms = (const Elf64_Sym *)(f->map + sh->sh_offset);
	st->nr = sh->sh_size / sizeof(Elf64_Sym);
	st->strs = f->map + strsh->sh_offset;
	st->strs_size = strsh->sh_size;
}

static void load_symtabs(struct mapped_file *f)
{
	const Elf64_Ehdr *eh = f->ehdr;
	const Elf64_Shdr *shdrs;

	if (eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    !in_file(f, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))
		return;
	shdrs = (const Elf64_Shdr *)(f->map + eh->e_shoff);
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		if (shdrs[i].sh_type == SHT_SYMTAB)
			load_symtab(f, &shdrs[i], shdrs, &f->symtabs[0]);
		else if (shdrs[i].sh_type == SHT_DYNSYM)
			load_symtab(f, &shdrs[i], shdrs, &f->symtabs[1]);
	}
}

static void parse_elf(struct mapped_file *f)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f->map;

	if (f->size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != EM_X86_64 ||
	    eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    !in_file(f, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
		return;
	f->ehdr = eh;
	f->phdr = (const Elf64_Phdr *)(f->map + eh->e_phoff);
	load_symtabs(f);
}

static int same_file(const struct stat *st, const struct ckpt_region *r)
{
	return S_ISREG(st->st_mode) && (uint64_t)st->st_size == r->file_size &&
	       st->st_mtim.tv_sec == r->mtime_sec && st->st_mtim.tv_nsec == r->mtime_nsec;
}

static void map_file(struct mapped_file *f, const struct ckpt_region *r)
{
	struct stat st;
	void *map;
	int fd;

	/* The path may name a FIFO or a device by now: never block or open one. */
	if (stat(f->path, &st) || !same_file(&st, r))
		return;
	fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return;
	if (fstat(fd, &st) || !same_file(&st, r) || !st.st_size) {
		close(fd);
		return;
	}
	map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return;
	f->map = map;
	f->size = st.st_size;
	parse_elf(f);
}

/* The file behind a CKPT_REG_FILE region, opened once per path. */
const struct mapped_file *mapped_file_get(struct info *in, const struct ckpt_region *r)
{
	const char *path = ckpt_image_str(in->img, r->name_str);
	struct mapped_file **files, *f;

	for (uint32_t i = 0; i < in->nr_files; i++)
		if (!strcmp(in->files[i]->path, path))
			return in->files[i];
	files = realloc(in->files, (in->nr_files + 1) * sizeof(*files));
	f = calloc(1, sizeof(*f));
	if (files)
		in->files = files;
	if (!files || !f) {
		free(f);
		return NULL;
	}
	f->path = path;
	map_file(f, r);
	in->files[in->nr_files++] = f;
	return f;
}

void mapped_files_close(struct info *in)
{
	for (uint32_t i = 0; i < in->nr_files; i++) {
		if (in->files[i]->map)
			munmap((void *)in->files[i]->map, in->files[i]->size);
		free(in->files[i]);
	}
	free(in->files);
	in->files = NULL;
	in->nr_files = 0;
}

/*
 * Load bias (runtime address - ELF address) from the PT_LOAD segment whose
 * file range holds the region's offset. Works for any region of the file,
 * also for the pieces a segment is split into by mprotect (RELRO).
 */
int elf_load_bias(const struct mapped_file *f, const struct ckpt_region *r, uint64_t *bias)
{
	if (!f->ehdr)
		return -1;
	for (unsigned i = 0; i < f->ehdr->e_phnum; i++) {
		const Elf64_Phdr *ph = &f->phdr[i];
		uint64_t off = ph->p_offset & ~(uint64_t)(CKPT_PAGE_SIZE - 1);
		uint64_t vaddr = ph->p_vaddr & ~(uint64_t)(CKPT_PAGE_SIZE - 1);

		if (ph->p_type != PT_LOAD || r->pgoff < off ||
		    r->pgoff >= ph->p_offset + ph->p_filesz)
			continue;
		*bias = r->start - (vaddr + (r->pgoff - off));
		return 0;
	}
	return -1;
}

const Elf64_Phdr *elf_find_phdr(const struct mapped_file *f, uint32_t type)
{
	for (unsigned i = 0; f->ehdr && i < f->ehdr->e_phnum; i++)
		if (f->phdr[i].p_type == type)
			return &f->phdr[i];
	return NULL;
}

/* The runtime address range covered by the file's PT_LOAD segments. */
void elf_ip_range(const struct mapped_file *f, uint64_t bias, uint64_t *start, uint64_t *end)
{
	*start = UINT64_MAX;
	*end = 0;
	for (unsigned i = 0; i < f->ehdr->e_phnum; i++) {
		const Elf64_Phdr *ph = &f->phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		if (ph->p_vaddr + bias < *start)
			*start = ph->p_vaddr + bias;
		if (ph->p_vaddr + ph->p_memsz + bias > *end)
			*end = ph->p_vaddr + ph->p_memsz + bias;
	}
}

static const char *sym_name(const struct symtab *st, const Elf64_Sym *s)
{
	if (s->st_name >= st->strs_size ||
	    !memchr(st->strs + s->st_name, 0, st->strs_size - s->st_name))
		return NULL;
	return st->strs + s->st_name;
}

static const Elf64_Sym *find_symbol(const struct symtab *st, uint64_t addr)
{
	for (size_t i = 0; i < st->nr; i++) {
		const Elf64_Sym *s = &st->syms[i];
		int type = ELF64_ST_TYPE(s->st_info);

		if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s->st_shndx == SHN_UNDEF)
			continue;
		if (addr >= s->st_value && addr - s->st_value < s->st_size && sym_name(st, s))
			return s;
	}
	return NULL;
}

void symbolize(struct info *in, uint64_t ip, uint64_t lookup, struct frame *fr)
{
	const struct ckpt_region *r = find_region(in->img, lookup);
	const struct mapped_file *f;
	uint64_t bias;

	memset(fr, 0, sizeof(*fr));
	fr->ip = ip;
	if (!r || r->kind != CKPT_REG_FILE)
		return;
	fr->file = ckpt_image_str(in->img, r->name_str);
	f = mapped_file_get(in, r);
	fr->file_gone = !f || !f->map;
	if (!f || elf_load_bias(f, r, &bias))
		return;
	fr->has_file_off = 1;
	fr->file_off = ip - bias;
	for (int i = 0; i < 2; i++) {
		const struct symtab *st = &f->symtabs[i];
		const Elf64_Sym *s = find_symbol(st, lookup - bias);

		if (s) {
			fr->sym = sym_name(st, s);
			fr->sym_off = ip - bias - s->st_value;
			return;
		}
	}
}
