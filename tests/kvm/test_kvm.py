# SPDX-License-Identifier: MIT
"""KVM plugin cases: the minimal VMM (tests/kvm/minivmm) on the real /dev/kvm,
without and with an in-kernel irqchip + PIT, with 2 vCPUs; checkpoint, kill,
restore, the guest counter continues; repeated and chained checkpoints; an
unknown ioctl on the VM fd makes the checkpoint fail."""
import os

from harness import (CaseFailure, CaseSkip, case, check_no_fail, finish_restored,
                     read_header, run_case)


def vmm(ctx, *args):
    if not os.access('/dev/kvm', os.R_OK | os.W_OK):
        raise CaseSkip('no usable /dev/kvm')
    return [os.path.join(ctx.b.dir, 'tests', 'kvm', 'minivmm')] + list(args)


def plugin_section(ctx, img):
    secs = [s for s in read_header(img)['sections'] if s['name'] == 'plugin']
    ctx.check(secs and max(s['size'] for s in secs) > 4096,
              'image %s has no (non-empty) plugin section: %s' % (img, secs))


@case('kvm-minimal')
def minimal(ctx):
    """one vCPU, no irqchip: the guest counter continues after restore"""
    res = run_case(ctx, vmm(ctx, 'ticks=30', 'tick_ms=40'))
    plugin_section(ctx, res['images'][0][0])


@case('kvm-minimal-repeated')
def minimal_repeated(ctx):
    """one vCPU: three checkpoints of one run, each image restored in turn"""
    run_case(ctx, vmm(ctx, 'ticks=40', 'tick_ms=30'), checkpoints=3, gap=4, restore='all')


@case('kvm-minimal-chain')
def minimal_chain(ctx):
    """one vCPU: a restored VMM is checkpointed again, killed and restored again"""
    orig = ctx.start(vmm(ctx, 'ticks=40', 'tick_ms=40'))
    img, t0, last = ctx.checkpoint_and_kill(orig, 5, ticks_after=2)
    check_no_fail(ctx, orig)
    r1 = ctx.restore(img, name='first restore')
    img2, t1, last1 = ctx.checkpoint_and_kill(r1, last + 4, ticks_after=2)
    check_no_fail(ctx, r1)
    r2 = ctx.restore(img2, name='second restore')
    finish_restored(ctx, r2, t1, last1)


@case('kvm-irqchip-pit')
def irqchip_pit(ctx):
    """in-kernel irqchip + PIT2, guest halted between PIT interrupts: two images, both restored"""
    run_case(ctx, vmm(ctx, 'irqchip=1', 'ticks=40', 'tick_ms=40'), checkpoints=2, gap=5,
             restore='all')


@case('kvm-2vcpu')
def two_vcpus(ctx):
    """two vCPUs, no irqchip, each with its own gapless counter: two images, both restored"""
    run_case(ctx, vmm(ctx, 'cpus=2', 'ticks=40', 'tick_ms=40'), checkpoints=2, gap=5,
             restore='all')


@case('kvm-2vcpu-irqchip')
def two_vcpus_irqchip(ctx):
    """two vCPUs with irqchip + PIT: the BSP halts on PIT ticks, the AP counts"""
    run_case(ctx, vmm(ctx, 'cpus=2', 'irqchip=1', 'ticks=40', 'tick_ms=40'), checkpoints=2,
             gap=5, restore='all')


@case('kvm-unknown-ioctl-refused')
def unknown_ioctl(ctx):
    """an ioctl KVM does not have, on the VM fd: checkpoint fails (14) naming it, VMM runs on"""
    orig = ctx.start(vmm(ctx, 'ticks=30', 'tick_ms=40', 'badioctl=3'))
    orig.wait_line('badioctl', ctx.left(10))
    line = [l for l in orig.lines() if l.startswith('badioctl')][0]
    ctx.check(line == 'badioctl -1 errno 25', 'the bad ioctl did not fail with ENOTTY: %s' % line)
    t = orig.wait_tick(5, ctx.left(10))
    rc, out, err = ctx.checkpoint(orig, expect=14)
    ctx.check('0xae' in err.lower() and 'ioctl' in err and 'VM fd' in err,
              'ckpt-ctl does not name the ioctl: %r' % err.strip())
    ctx.note('ckpt-ctl: ' + err.strip())
    orig.wait_tick(t + 3, ctx.left(10))
    check_no_fail(ctx, orig)
    ctx.check(orig.poll() is None, 'the VMM stopped after the refused checkpoint')
    ctx.kill(orig)
