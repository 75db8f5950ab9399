# SPDX-License-Identifier: MIT
"""QEMU acceptance cases: qemu-system-x86_64 (-accel tcg, -accel kvm) boots our
boot sector (guest.S: "tick N" on COM1, about 9 a second) with its serial port
and monitor multiplexed on stdio (-serial mon:stdio; Ctrl-A c switches between
them). Checkpoint while the guest counts, kill QEMU, restore: the counter goes
on from where the checkpoint was (no reset, no gap) and the monitor answers
"info status". No QEMU-specific code is involved outside the KVM plugin."""
import atexit
import os
import re
import shutil
import subprocess
import tempfile
import time

from harness import CaseFailure, CaseSkip, case, check_no_fail

HERE = os.path.dirname(os.path.abspath(__file__))
QEMU = 'qemu-system-x86_64'
TICK = re.compile(r'tick (\d+)$')
_guest = {}


def guest_image():
    """Assembles guest.S into a 512-byte boot sector (once per run)."""
    if 'path' in _guest:
        return _guest['path']
    for tool in ('as', 'ld'):
        if not shutil.which(tool):
            raise CaseSkip('%s (binutils) is not installed' % tool)
    d = tempfile.mkdtemp(prefix='ckpt-qemu-guest-')
    atexit.register(shutil.rmtree, d, True)
    obj, img = os.path.join(d, 'guest.o'), os.path.join(d, 'guest.img')
    for argv in (['as', '--32', os.path.join(HERE, 'guest.S'), '-o', obj],
                 ['ld', '-m', 'elf_i386', '-Ttext', '0x7c00', '--oformat', 'binary', obj,
                  '-o', img]):
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode:
            raise CaseFailure('%s: %s' % (' '.join(argv), r.stderr.strip()))
    if os.path.getsize(img) != 512:
        raise CaseFailure('guest boot sector is %d bytes, not 512' % os.path.getsize(img))
    _guest['path'] = img
    return img


def qemu_argv(accel, mem=64):
    if not shutil.which(QEMU):
        raise CaseSkip('%s is not installed (Debian package qemu-system-x86)' % QEMU)
    if accel == 'kvm' and not os.access('/dev/kvm', os.R_OK | os.W_OK):
        raise CaseSkip('no usable /dev/kvm')
    return [shutil.which(QEMU), '-accel', accel, '-m', str(mem), '-display', 'none',
            '-nodefaults', '-no-reboot', '-serial', 'mon:stdio',
            '-drive', 'file=%s,format=raw,if=floppy' % guest_image()]


def ticks(lines):
    """The counter values of the complete "tick N" lines (a line cut by the checkpoint or
    mixed with monitor output does not count)."""
    return [int(m.group(1)) for m in (TICK.match(l) for l in lines) if m]


def last(proc):
    t = ticks(proc.lines())
    return t[-1] if t else 0


def wait_tick(ctx, proc, n, cap=15):
    proc.out.wait(lambda l: (lambda m: m and int(m.group(1)) >= n)(TICK.match(l)),
                  ctx.left(cap), 'tick >= %d' % n)
    return last(proc)


def check_counting(ctx, rproc, t0, last_orig, count=10):
    """The restored guest's first ticks: the first one in [t0 + 1, last_orig + 1] (the image
    was taken after tick t0 was read and before the original was killed at last_orig),
    then `count` consecutive ones."""
    t = ticks(rproc.lines())
    ctx.check(t, '%s printed no tick' % rproc.name)
    first = t[0]
    ctx.check(t0 + 1 <= first <= last_orig + 1,
              '%s: first tick %d, want one in [%d, %d] (0 or 1 would be a reboot)' %
              (rproc.name, first, t0 + 1, last_orig + 1))
    for a, b in zip(t[:count], t[1:count + 1]):
        ctx.check(b == a + 1, '%s: tick %d followed by tick %d' % (rproc.name, a, b))
    return first


def monitor_status(ctx, proc):
    """Ctrl-A c to the monitor, "info status", the answer, Ctrl-A c back to the serial
    port; then the guest must still be counting."""
    n = len(proc.lines())
    proc.write_stdin(b'\x01cinfo status\n')
    i = proc.out.wait(lambda l: 'VM status:' in l, ctx.left(10), 'the monitor\'s "VM status"')
    line = proc.lines()[i]
    ctx.check(i >= n and 'VM status: running' in line,
              '%s: monitor answered %r' % (proc.name, line))
    proc.write_stdin(b'\x01c')
    t = last(proc)
    wait_tick(ctx, proc, t + 3, 10)


def start(ctx, accel, first_tick=5, mem=64):
    """QEMU under ckpt-run, once the guest has counted to first_tick. KVM on this host runs
    the real-mode BIOS through the kernel's emulator (about 4 s to the first tick), and a
    boot now and then never gets there, with or without ckpt: one more try then."""
    for attempt in (1, 2):
        orig = ctx.start(qemu_argv(accel, mem), name='qemu' if attempt == 1 else 'qemu (again)',
                         wait_ready=False)
        try:
            orig.out.wait(lambda l: TICK.match(l), ctx.left(15), 'the first tick')
            break
        except CaseFailure:
            if attempt == 2 or orig.poll() is not None:
                raise
            ctx.note('the guest did not boot within 15 s; QEMU started again')
            ctx.kill(orig)
    wait_tick(ctx, orig, first_tick, 15)
    return orig


def checkpoint_kill(ctx, proc, restored=False):
    """Checkpoint proc (after tick T0), let it tick on, kill it (at tick L).
    Returns (image, T0, L)."""
    t0 = last(proc)
    check_no_fail(ctx, proc)
    t = time.monotonic()
    img = ctx.checkpoint(proc)
    ctx.note('checkpoint %.0f ms, image %.1f MiB' % ((time.monotonic() - t) * 1000,
                                                     os.path.getsize(img) / 2**20))
    wait_tick(ctx, proc, last(proc) + 2, 10)
    if restored:
        ctx.kill_restored(proc)
    else:
        ctx.kill(proc)
    return img, t0, last(proc)


def restore_check(ctx, img, t0, l, name='restore'):
    t = time.monotonic()
    r = ctx.restore(img, name=name)
    r.out.wait(lambda l: TICK.match(l), ctx.left(15), 'a tick')
    ctx.note('%s: first tick after %.0f ms' % (name, (time.monotonic() - t) * 1000))
    wait_tick(ctx, r, l + 10, 15)
    check_counting(ctx, r, t0, l)
    return r


def accept(ctx, accel):
    orig = start(ctx, accel)
    img, t0, l = checkpoint_kill(ctx, orig)
    r = restore_check(ctx, img, t0, l)
    monitor_status(ctx, r)
    ctx.kill_restored(r)


def chain(ctx, accel):
    orig = start(ctx, accel)
    monitor_status(ctx, orig)          # the monitor used before the checkpoint, too
    img, t0, l = checkpoint_kill(ctx, orig)
    r1 = restore_check(ctx, img, t0, l, 'first restore')
    img2, t1, l1 = checkpoint_kill(ctx, r1, restored=True)
    r2 = restore_check(ctx, img2, t1, l1, 'second restore')
    monitor_status(ctx, r2)
    ctx.kill_restored(r2)


@case('qemu-tcg', timeout=60)
def qemu_tcg(ctx):
    """-accel tcg, 64 MiB: checkpoint, kill, restore; counter continues, monitor answers"""
    accept(ctx, 'tcg')


@case('qemu-tcg-chain', timeout=60)
def qemu_tcg_chain(ctx):
    """-accel tcg: the restored QEMU checkpointed, killed and restored again"""
    chain(ctx, 'tcg')


@case('qemu-kvm', timeout=60)
def qemu_kvm(ctx):
    """-accel kvm (KVM plugin), 64 MiB: checkpoint, kill, restore; counter, monitor"""
    accept(ctx, 'kvm')


@case('qemu-kvm-chain', timeout=60)
def qemu_kvm_chain(ctx):
    """-accel kvm: the restored QEMU checkpointed, killed and restored again"""
    chain(ctx, 'kvm')
