/* SPDX-License-Identifier: MIT */
/*
 * A minimal VMM on /dev/kvm for the KVM plugin's tests. Real-mode guest
 * code (guest.S) increments a counter in guest RAM and writes it to an
 * I/O port; the VMM prints "tick N" for vCPU 0's value and checks that
 * every vCPU's sequence is gapless (a counter that resets or jumps is a
 * FAIL). Follows tests/progs/common.h: ready, tick N, resumed N, done.
 *
 * Options: ticks=N tick_ms=N
 *   irqchip=1   in-kernel irqchip + PIT2: vCPU 0 halts and is woken by
 *               PIT interrupts (one tick per PIT period, ~tick_ms)
 *   cpus=2      a second vCPU counting on port 0xea (checked, not printed)
 *   badioctl=T  at tick T, issue an ioctl KVM does not have on the VM fd
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "../progs/common.h"

#define MEM_SIZE	0x100000
#define CODE_ADDR	0x1000
#define BAD_IOCTL	_IO(KVMIO, 0xfe)

extern const char guest_start[], guest_end[], guest_cpu0[], guest_cpu1[], guest_irq[],
	guest_irq0[];

static int kvm, vm, irqchip, ncpus, badioctl;
static uint8_t *mem;
static size_t run_size;

struct vcpu {
	int id, fd;
	struct kvm_run *run;
	pthread_t th;
	uint32_t last;
};

static struct vcpu cpus[2];

static uint64_t entry(const char *label)
{
	return CODE_ADDR + (label - guest_start);
}

static void setup_vcpu(struct vcpu *c)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	c->fd = ioctl(vm, KVM_CREATE_VCPU, c->id);
	CHECK(c->fd >= 0, "KVM_CREATE_VCPU: %s", strerror(errno));
	c->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
	CHECK(c->run != MAP_FAILED, "mmap kvm_run: %s", strerror(errno));
	CHECK(!ioctl(c->fd, KVM_GET_SREGS, &sregs), "KVM_GET_SREGS: %s", strerror(errno));
	sregs.cs.base = sregs.ds.base = sregs.es.base = sregs.ss.base = 0;
	sregs.cs.selector = sregs.ds.selector = sregs.es.selector = sregs.ss.selector = 0;
	CHECK(!ioctl(c->fd, KVM_SET_SREGS, &sregs), "KVM_SET_SREGS: %s", strerror(errno));
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 2;
	regs.rsp = 0x7000 - c->id * 0x800;
	if (c->id == 0)
		regs.rip = entry(irqchip ? guest_irq : guest_cpu0);
	else
		regs.rip = entry(guest_cpu1);
	CHECK(!ioctl(c->fd, KVM_SET_REGS, &regs), "KVM_SET_REGS: %s", strerror(errno));
	if (c->id && irqchip) {
		struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };

		CHECK(!ioctl(c->fd, KVM_SET_MP_STATE, &mp), "KVM_SET_MP_STATE: %s", strerror(errno));
	}
}

static void port_out(struct vcpu *c, uint16_t port, uint32_t val)
{
	if (port == 0xe9 && c->id == 0) {
		check_resumed();
		CHECK(val == c->last + 1, "guest counter %u after %u", val, c->last);
		c->last = val;
		g_tick = val;
		tick_out(val);
		if (badioctl && (int)val == badioctl) {
			int r = ioctl(vm, BAD_IOCTL, 0);

			out("badioctl %d errno %d\n", r, r < 0 ? errno : 0);
		}
		if (!irqchip)
			sleep_ms(g_tick_ms);
		if ((int)val >= g_ticks) {
			CHECK(ncpus < 2 || cpus[1].last > 0, "vCPU 1 never ran");
			out("cpu1 %u\n", cpus[1].last);
			out("done\n");
			_exit(0);
		}
		return;
	}
	if (port == 0xea && c->id == 1) {
		CHECK(val == c->last + 1, "vCPU 1 counter %u after %u", val, c->last);
		c->last = val;
		sleep_ms(g_tick_ms / 3 + 1);
		return;
	}
	FAIL("vCPU %d: OUT %#x to port %#x", c->id, val, port);
}

static void *vcpu_loop(void *arg)
{
	struct vcpu *c = arg;

	for (;;) {
		struct kvm_run *run = c->run;

		if (ioctl(c->fd, KVM_RUN, 0) < 0) {
			CHECK(errno == EINTR, "vCPU %d: KVM_RUN: %s", c->id, strerror(errno));
			continue;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			CHECK(run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 4 &&
			      run->io.count == 1, "vCPU %d: unexpected I/O at port %#x", c->id,
			      run->io.port);
			port_out(c, run->io.port, *(uint32_t *)((char *)run + run->io.data_offset));
			break;
		case KVM_EXIT_INTR:
			break;
		default:
			FAIL("vCPU %d: exit reason %u", c->id, run->exit_reason);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct kvm_userspace_memory_region region;
	int ret;

	common_init(argc, argv);
	irqchip = opt_int("irqchip", 0);
	ncpus = opt_int("cpus", 1);
	badioctl = opt_int("badioctl", 0);
	CHECK(ncpus >= 1 && ncpus <= 2, "cpus=%d", ncpus);

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	CHECK(kvm >= 0, "open /dev/kvm: %s", strerror(errno));
	CHECK(ioctl(kvm, KVM_GET_API_VERSION, 0) == KVM_API_VERSION, "KVM API version");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	CHECK(vm >= 0, "KVM_CREATE_VM: %s", strerror(errno));
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	CHECK((ssize_t)run_size > 0, "KVM_GET_VCPU_MMAP_SIZE");

	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED, "mmap guest RAM");
	memcpy(mem + CODE_ADDR, guest_start, guest_end - guest_start);
	/* IVT entry for vector 8 (IRQ0 after the guest's PIC setup): 0000:handler */
	*(uint16_t *)(mem + 8 * 4) = entry(guest_irq0);
	*(uint16_t *)(mem + 8 * 4 + 2) = 0;
	{
		long div = 1193182L * g_tick_ms / 1000;

		*(uint16_t *)(mem + 0x510) = div > 65535 ? 65535 : div < 100 ? 100 : div;
	}
	region = (struct kvm_userspace_memory_region){
		.slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE,
		.userspace_addr = (uintptr_t)mem,
	};
	CHECK(!ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region), "KVM_SET_USER_MEMORY_REGION: %s",
	      strerror(errno));
	ret = ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul);
	CHECK(!ret, "KVM_SET_TSS_ADDR: %s", strerror(errno));
	if (irqchip) {
		uint64_t idmap = 0xfffbc000ul;
		struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

		CHECK(!ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &idmap), "KVM_SET_IDENTITY_MAP_ADDR: %s",
		      strerror(errno));
		CHECK(!ioctl(vm, KVM_CREATE_IRQCHIP, 0), "KVM_CREATE_IRQCHIP: %s", strerror(errno));
		CHECK(!ioctl(vm, KVM_CREATE_PIT2, &pit), "KVM_CREATE_PIT2: %s", strerror(errno));
	}
	for (int i = 0; i < ncpus; i++) {
		cpus[i].id = i;
		setup_vcpu(&cpus[i]);
	}
	out("ready\n");
	for (int i = 0; i < ncpus; i++)
		CHECK(!pthread_create(&cpus[i].th, NULL, vcpu_loop, &cpus[i]), "pthread_create");
	pthread_join(cpus[0].th, NULL);
	return 1;
}
