/* SPDX-License-Identifier: MIT */
/*
 * Register state that only lives in the CPU: threads load known values
 * into x87 st0-st7, xmm0-15, ymm0-15 (with AVX) and zmm0-31 + k1-k7
 * (with AVX-512F), then spin in inline assembly, the registers live,
 * until the main thread starts a new round (every 4 ticks); then they
 * store the registers and compare. The checkpoint lands inside a round.
 * The x87 thread and the AVX thread spin in user mode (so the stop
 * signal interrupts user code); the SSE thread spins around a raw
 * nanosleep system call. Each thread also has its own non-default x87
 * control word and MXCSR (rounding mode, FTZ/DAZ), checked by stmxcsr /
 * fnstcw and by a division whose last bit depends on the rounding mode.
 */
#include <pthread.h>
#include <sys/syscall.h>

#include "common.h"

static volatile int round_gen;
static volatile int stop;

struct fpu_thread {
	const char *name;
	void *(*fn)(void *);
	pthread_t t;
	volatile long rounds;
	long rounds_at_resume;
	int enabled;
};

static uint32_t get_mxcsr(void)
{
	uint32_t m;

	__asm__ volatile("stmxcsr %0" : "=m"(m));
	return m;
}

static void set_mxcsr(uint32_t m)
{
	__asm__ volatile("ldmxcsr %0" : : "m"(m));
}

static uint16_t get_fpucw(void)
{
	uint16_t cw;

	__asm__ volatile("fnstcw %0" : "=m"(cw));
	return cw;
}

static void set_fpucw(uint16_t cw)
{
	__asm__ volatile("fldcw %0" : : "m"(cw));
}

/* 1/3 in single precision: ...AB rounded to nearest or up, ...AA toward zero or down */
static uint32_t third_bits(void)
{
	volatile float a = 1.0f, b = 3.0f;
	float q = a / b;
	uint32_t u;

	memcpy(&u, &q, 4);
	return u;
}

#define MXCSR_RZ	(0x1f80u | 0x6000u | 0x8000u | 0x40u)	/* toward zero, FTZ, DAZ */
#define MXCSR_RD	(0x1f80u | 0x2000u)			/* round down */
#define MXCSR_RU	(0x1f80u | 0x4000u)			/* round up */
#define FPUCW_RZ	0x0f7f		/* x87: round toward zero, 64-bit precision */
#define FPUCW_MAIN	0x027f		/* x87: nearest, 53-bit precision */

static void check_mode(const char *who, uint32_t mxcsr, uint16_t cw)
{
	uint32_t m = get_mxcsr() & ~0x3fu;	/* ignore the sticky exception flags */
	uint16_t c = get_fpucw();
	uint32_t want_third = (mxcsr & 0x6000) == 0x0000 || (mxcsr & 0x6000) == 0x4000 ?
			      0x3eaaaaab : 0x3eaaaaaa;

	CHECK(m == (mxcsr & ~0x3fu), "%s: MXCSR %#x, want %#x", who, m, mxcsr & ~0x3fu);
	CHECK(c == cw, "%s: x87 control word %#x, want %#x", who, c, cw);
	CHECK(third_bits() == want_third, "%s: 1/3 is %#x under MXCSR %#x, want %#x", who,
	      third_bits(), m, want_third);
}

/* x87: eight 80-bit values in st0-st7 while spinning in user mode */
static void *x87_main(void *arg)
{
	struct fpu_thread *me = arg;
	long double in[8] __attribute__((aligned(16)));
	long double outv[8] __attribute__((aligned(16)));

	set_fpucw(FPUCW_RZ);
	set_mxcsr(MXCSR_RU);
	while (!stop) {
		int r = round_gen;

		for (int i = 0; i < 8; i++)
			in[i] = (long double)(r + 1) * (i + 1) / 7.0L + 1e-3L * i;
		memset(outv, 0, sizeof(outv));
		__asm__ volatile(
			"fldt 0(%[in])\n\t" "fldt 16(%[in])\n\t" "fldt 32(%[in])\n\t"
			"fldt 48(%[in])\n\t" "fldt 64(%[in])\n\t" "fldt 80(%[in])\n\t"
			"fldt 96(%[in])\n\t" "fldt 112(%[in])\n\t"
			"1: pause\n\t"
			"cmpl %[r], (%[flag])\n\t"
			"je 1b\n\t"
			"fstpt 0(%[out])\n\t" "fstpt 16(%[out])\n\t" "fstpt 32(%[out])\n\t"
			"fstpt 48(%[out])\n\t" "fstpt 64(%[out])\n\t" "fstpt 80(%[out])\n\t"
			"fstpt 96(%[out])\n\t" "fstpt 112(%[out])\n\t"
			:
			: [in] "r"(in), [out] "r"(outv), [flag] "r"(&round_gen), [r] "r"(r)
			: "memory", "cc");
		for (int i = 0; i < 8; i++)
			CHECK(!memcmp(&outv[7 - i], &in[i], 10), "x87 st%d lost its value (round %d)",
			      7 - i, r);
		check_mode("x87 thread", MXCSR_RU, FPUCW_RZ);
		me->rounds++;
	}
	return NULL;
}

/* SSE: xmm0-15 live around a raw nanosleep(1 ms) loop */
struct sse_args {
	uint8_t in[16][16];
	uint8_t out[16][16];
	struct timespec ts;
	volatile int *flag;
	long r;
};

static void *sse_main(void *arg)
{
	struct fpu_thread *me = arg;
	static struct sse_args a __attribute__((aligned(64)));

	set_mxcsr(MXCSR_RZ);
	set_fpucw(FPUCW_MAIN);
	while (!stop) {
		int r = round_gen;

		for (int i = 0; i < 16; i++)
			for (int j = 0; j < 16; j++)
				a.in[i][j] = (uint8_t)(r * 31 + i * 16 + j + 1);
		memset(a.out, 0, sizeof(a.out));
		a.ts.tv_sec = 0;
		a.ts.tv_nsec = 1000000;
		a.flag = &round_gen;
		a.r = r;
		__asm__ volatile(
			"movdqu 0(%[a]), %%xmm0\n\t"   "movdqu 16(%[a]), %%xmm1\n\t"
			"movdqu 32(%[a]), %%xmm2\n\t"  "movdqu 48(%[a]), %%xmm3\n\t"
			"movdqu 64(%[a]), %%xmm4\n\t"  "movdqu 80(%[a]), %%xmm5\n\t"
			"movdqu 96(%[a]), %%xmm6\n\t"  "movdqu 112(%[a]), %%xmm7\n\t"
			"movdqu 128(%[a]), %%xmm8\n\t" "movdqu 144(%[a]), %%xmm9\n\t"
			"movdqu 160(%[a]), %%xmm10\n\t" "movdqu 176(%[a]), %%xmm11\n\t"
			"movdqu 192(%[a]), %%xmm12\n\t" "movdqu 208(%[a]), %%xmm13\n\t"
			"movdqu 224(%[a]), %%xmm14\n\t" "movdqu 240(%[a]), %%xmm15\n\t"
			"1:\n\t"
			"movl $35, %%eax\n\t"		/* SYS_nanosleep */
			"leaq 512(%[a]), %%rdi\n\t"	/* &a.ts */
			"xorl %%esi, %%esi\n\t"
			"syscall\n\t"
			"movq 528(%[a]), %%rdx\n\t"	/* a.flag */
			"movl (%%rdx), %%edx\n\t"
			"cmpq %%rdx, 536(%[a])\n\t"	/* == a.r ? */
			"je 1b\n\t"
			"movdqu %%xmm0, 256(%[a])\n\t"  "movdqu %%xmm1, 272(%[a])\n\t"
			"movdqu %%xmm2, 288(%[a])\n\t"  "movdqu %%xmm3, 304(%[a])\n\t"
			"movdqu %%xmm4, 320(%[a])\n\t"  "movdqu %%xmm5, 336(%[a])\n\t"
			"movdqu %%xmm6, 352(%[a])\n\t"  "movdqu %%xmm7, 368(%[a])\n\t"
			"movdqu %%xmm8, 384(%[a])\n\t"  "movdqu %%xmm9, 400(%[a])\n\t"
			"movdqu %%xmm10, 416(%[a])\n\t" "movdqu %%xmm11, 432(%[a])\n\t"
			"movdqu %%xmm12, 448(%[a])\n\t" "movdqu %%xmm13, 464(%[a])\n\t"
			"movdqu %%xmm14, 480(%[a])\n\t" "movdqu %%xmm15, 496(%[a])\n\t"
			:
			: [a] "r"(&a)
			: "memory", "cc", "rax", "rcx", "rdx", "rsi", "rdi", "r11",
			  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
			  "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
		for (int i = 0; i < 16; i++)
			CHECK(!memcmp(a.out[i], a.in[i], 16), "xmm%d lost its value (round %d)", i, r);
		check_mode("sse thread", MXCSR_RZ, FPUCW_MAIN);
		me->rounds++;
	}
	return NULL;
}

_Static_assert(__builtin_offsetof(struct sse_args, ts) == 512, "layout");
_Static_assert(__builtin_offsetof(struct sse_args, flag) == 528, "layout");
_Static_assert(__builtin_offsetof(struct sse_args, r) == 536, "layout");

/* AVX: ymm0-15 (and with AVX-512F zmm0-31, k1-k7) while spinning in user mode */
static int have_avx512;

static void *avx_main(void *arg)
{
	struct fpu_thread *me = arg;
	static uint8_t in[32][64] __attribute__((aligned(64)));
	static uint8_t outv[32][64] __attribute__((aligned(64)));
	static uint16_t kin[8], kout[8];

	set_mxcsr(MXCSR_RD);
	set_fpucw(0x037f);
	while (!stop) {
		int r = round_gen;

		for (int i = 0; i < 32; i++)
			for (int j = 0; j < 64; j++)
				in[i][j] = (uint8_t)(r * 17 + i * 64 + j + 3);
		for (int i = 0; i < 8; i++)
			kin[i] = (uint16_t)(0x1111 * i + r);
		memset(outv, 0, sizeof(outv));
		memset(kout, 0, sizeof(kout));
		if (!have_avx512) {
			__asm__ volatile(
				"vmovdqu 0(%[in]), %%ymm0\n\t"    "vmovdqu 64(%[in]), %%ymm1\n\t"
				"vmovdqu 128(%[in]), %%ymm2\n\t"  "vmovdqu 192(%[in]), %%ymm3\n\t"
				"vmovdqu 256(%[in]), %%ymm4\n\t"  "vmovdqu 320(%[in]), %%ymm5\n\t"
				"vmovdqu 384(%[in]), %%ymm6\n\t"  "vmovdqu 448(%[in]), %%ymm7\n\t"
				"vmovdqu 512(%[in]), %%ymm8\n\t"  "vmovdqu 576(%[in]), %%ymm9\n\t"
				"vmovdqu 640(%[in]), %%ymm10\n\t" "vmovdqu 704(%[in]), %%ymm11\n\t"
				"vmovdqu 768(%[in]), %%ymm12\n\t" "vmovdqu 832(%[in]), %%ymm13\n\t"
				"vmovdqu 896(%[in]), %%ymm14\n\t" "vmovdqu 960(%[in]), %%ymm15\n\t"
				"1: pause\n\t"
				"cmpl %[r], (%[flag])\n\t"
				"je 1b\n\t"
				"vmovdqu %%ymm0, 0(%[out])\n\t"    "vmovdqu %%ymm1, 64(%[out])\n\t"
				"vmovdqu %%ymm2, 128(%[out])\n\t"  "vmovdqu %%ymm3, 192(%[out])\n\t"
				"vmovdqu %%ymm4, 256(%[out])\n\t"  "vmovdqu %%ymm5, 320(%[out])\n\t"
				"vmovdqu %%ymm6, 384(%[out])\n\t"  "vmovdqu %%ymm7, 448(%[out])\n\t"
				"vmovdqu %%ymm8, 512(%[out])\n\t"  "vmovdqu %%ymm9, 576(%[out])\n\t"
				"vmovdqu %%ymm10, 640(%[out])\n\t" "vmovdqu %%ymm11, 704(%[out])\n\t"
				"vmovdqu %%ymm12, 768(%[out])\n\t" "vmovdqu %%ymm13, 832(%[out])\n\t"
				"vmovdqu %%ymm14, 896(%[out])\n\t" "vmovdqu %%ymm15, 960(%[out])\n\t"
				"vzeroupper\n\t"
				:
				: [in] "r"(in), [out] "r"(outv), [flag] "r"(&round_gen), [r] "r"(r)
				: "memory", "cc",
				  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
				  "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
			for (int i = 0; i < 16; i++)
				CHECK(!memcmp(outv[i], in[i], 32), "ymm%d lost its value (round %d)", i, r);
		} else {
			/* the compiler is not told about zmm16-31 and k1-7: it does not use them */
#define Z(n) "vmovdqu64 " #n "*64(%[in]), %%zmm" #n "\n\t"
#define ZS(n) "vmovdqu64 %%zmm" #n ", " #n "*64(%[out])\n\t"
			__asm__ volatile(
				Z(0) Z(1) Z(2) Z(3) Z(4) Z(5) Z(6) Z(7) Z(8) Z(9) Z(10) Z(11) Z(12)
				Z(13) Z(14) Z(15) Z(16) Z(17) Z(18) Z(19) Z(20) Z(21) Z(22) Z(23)
				Z(24) Z(25) Z(26) Z(27) Z(28) Z(29) Z(30) Z(31)
				"kmovw 2(%[kin]), %%k1\n\t" "kmovw 4(%[kin]), %%k2\n\t"
				"kmovw 6(%[kin]), %%k3\n\t" "kmovw 8(%[kin]), %%k4\n\t"
				"kmovw 10(%[kin]), %%k5\n\t" "kmovw 12(%[kin]), %%k6\n\t"
				"kmovw 14(%[kin]), %%k7\n\t"
				"1: pause\n\t"
				"cmpl %[r], (%[flag])\n\t"
				"je 1b\n\t"
				ZS(0) ZS(1) ZS(2) ZS(3) ZS(4) ZS(5) ZS(6) ZS(7) ZS(8) ZS(9) ZS(10)
				ZS(11) ZS(12) ZS(13) ZS(14) ZS(15) ZS(16) ZS(17) ZS(18) ZS(19) ZS(20)
				ZS(21) ZS(22) ZS(23) ZS(24) ZS(25) ZS(26) ZS(27) ZS(28) ZS(29) ZS(30)
				ZS(31)
				"kmovw %%k1, 2(%[kout])\n\t" "kmovw %%k2, 4(%[kout])\n\t"
				"kmovw %%k3, 6(%[kout])\n\t" "kmovw %%k4, 8(%[kout])\n\t"
				"kmovw %%k5, 10(%[kout])\n\t" "kmovw %%k6, 12(%[kout])\n\t"
				"kmovw %%k7, 14(%[kout])\n\t"
				"vzeroupper\n\t"
				:
				: [in] "r"(in), [out] "r"(outv), [flag] "r"(&round_gen), [r] "r"(r),
				  [kin] "r"(kin), [kout] "r"(kout)
				: "memory", "cc",
				  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
				  "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
#undef Z
#undef ZS
			for (int i = 0; i < 32; i++)
				CHECK(!memcmp(outv[i], in[i], 64), "zmm%d lost its value (round %d)", i, r);
			for (int i = 1; i < 8; i++)
				CHECK(kout[i] == kin[i], "k%d is %#x, want %#x (round %d)", i, kout[i],
				      kin[i], r);
		}
		check_mode("avx thread", MXCSR_RD, 0x037f);
		me->rounds++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct fpu_thread th[] = {
		{ "x87", x87_main, 0, 0, 0, 1 },
		{ "sse", sse_main, 0, 0, 0, 1 },
		{ "avx", avx_main, 0, 0, 0, 0 },
	};
	int n = sizeof(th) / sizeof(th[0]);

	common_init(argc, argv);
	__builtin_cpu_init();
	th[2].enabled = __builtin_cpu_supports("avx") && !opt_int("no_avx", 0);
	have_avx512 = __builtin_cpu_supports("avx512f") && !opt_int("no_avx512", 0);
	/* the main thread has a mode of its own */
	set_mxcsr(MXCSR_RU);
	set_fpucw(FPUCW_MAIN);
	for (int i = 0; i < n; i++)
		if (th[i].enabled && pthread_create(&th[i].t, NULL, th[i].fn, &th[i]))
			FAIL("pthread_create");
	out("registers: x87 sse%s%s\n", th[2].enabled ? " avx" : "",
	    th[2].enabled && have_avx512 ? " avx512" : "");
	out("ready\n");
	for (int t = 1; t <= g_ticks; t++) {
		g_tick = t;
		if (check_resumed())
			for (int i = 0; i < n; i++)
				th[i].rounds_at_resume = th[i].rounds;
		check_mode("main thread", MXCSR_RU, FPUCW_MAIN);
		if (t % 4 == 0) {
			/* new round; the previous one must have been verified by now */
			for (int i = 0; i < n; i++) {
				long want = t / 4 - 1;

				for (int k = 0; k < 300 && th[i].enabled && th[i].rounds < want; k++)
					sleep_ms(10);
				CHECK(!th[i].enabled || th[i].rounds >= want,
				      "%s thread finished %ld rounds, want %ld", th[i].name,
				      th[i].rounds, want);
			}
			round_gen++;
		}
		tick_out(t);
		sleep_ms(g_tick_ms);
	}
	stop = 1;
	round_gen++;
	for (int i = 0; i < n; i++) {
		if (!th[i].enabled)
			continue;
		pthread_join(th[i].t, NULL);
		if (g_resumes)
			CHECK(th[i].rounds > th[i].rounds_at_resume,
			      "%s thread verified no round after the restore", th[i].name);
	}
	out("done\n");
	return 0;
}
