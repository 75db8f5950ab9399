# SPDX-License-Identifier: MIT
"""State survives checkpoint + kill + restore: one test program per kind of state
(tests/progs), several images, restoring twice, checkpointing a restored process,
and descriptors the core refuses."""
import os
import re

from harness import (case, run_case, finish_restored, check_continuation, check_no_fail,
                     last_tick, tick_of, CaseFailure)


def prog(ctx, name, *args):
    return [ctx.b.prog(name)] + list(args)


# --- the programs themselves, under ckpt-run but never checkpointed -------------

PLAIN = [
    ('prog_counter', ()), ('prog_threads', ()), ('prog_fpu', ()), ('prog_signals', ()),
    ('prog_signals', ('mode=rtqueue',)), ('prog_signals', ('mode=itimer_pending',)),
    ('prog_syscall', ()), ('prog_fds', ('kind=pipe',)),
    ('prog_interpose', ()), ('prog_interpose', ('mode=blockall',)), ('prog_memory', ()),
]


def _plain(name, args):
    def fn(ctx):
        argv = prog(ctx, name, 'ticks=16', 'tick_ms=25', *args)
        if name == 'prog_memory':
            os.mkdir(os.path.join(ctx.tmp, 'work'))
            argv.append('dir=' + os.path.join(ctx.tmp, 'work'))
        p = ctx.start(argv)
        rc = p.wait(ctx.left(20))
        check_no_fail(ctx, p)
        ctx.check(rc == 0, '%s exited with %s' % (name, rc))
        lines = p.lines()
        ctx.check([tick_of(l) for l in lines if tick_of(l)] == list(range(1, 17)) and
                  lines[-1] == 'done', 'unexpected output')
    fn.__doc__ = 'runs %s %s under ckpt-run without a checkpoint' % (name, ' '.join(args))
    return fn


for _n, _a in PLAIN:
    case('plain_%s%s' % (_n[5:], ''.join('_' + a.split('=')[1] for a in _a)),
         root=False)(_plain(_n, _a))


# --- one program per kind of state ------------------------------------------------

@case('counter')
def counter(ctx):
    """global counter, heap checksum, small mallocs, stack array, sbrk chunks"""
    run_case(ctx, prog(ctx, 'prog_counter'), final=40, max_image_bytes=16 << 20)


@case('counter_64mib')
def counter_64mib(ctx):
    """64 MiB of random data: many page runs, verified word by word after the restore"""
    res = run_case(ctx, prog(ctx, 'prog_counter', 'data_mb=64'), start_tick=3, final=40)
    size = os.path.getsize(res['images'][0][0])
    ctx.check(size >= 64 << 20, 'image is %d bytes, smaller than the data' % size)


@case('threads')
def threads(ctx):
    """8 workers (tid, pthread_self, TLS, names), held errorcheck/recursive/robust mutexes,
    condvar ping-pong, join after restore, pthread_kill"""
    run_case(ctx, prog(ctx, 'prog_threads'), final=40)


@case('fpu')
def fpu(ctx):
    """x87 st0-7, xmm0-15, ymm0-15 / zmm0-31 + k1-7 live in spinning threads; MXCSR, x87 CW"""
    res = run_case(ctx, prog(ctx, 'prog_fpu'), final=40)
    regs = [l for l in res['orig'].lines() if l.startswith('registers:')]
    ctx.note(regs[0] if regs else 'registers: ?')


@case('signals')
def signals(ctx):
    """handlers, masks per thread, sigaltstack, pending signals, itimer, POSIX timers"""
    res = run_case(ctx, prog(ctx, 'prog_signals'), final=40)
    fired = [l for l in res['restored'][0].lines() if l.startswith('fired:')]
    ctx.note(fired[0] if fired else '')
    m = re.search(r'without siginfo (\d+)', fired[0] if fired else '')
    if m and int(m.group(1)):
        ctx.note('a POSIX timer signal pending at the checkpoint came back without its '
                 'siginfo (see signals_queued_siginfo)')


@case('signals_alarm')
def signals_alarm(ctx):
    """alarm(3) armed before the checkpoint fires once, after the restore"""
    res = run_case(ctx, prog(ctx, 'prog_signals', 'mode=alarm', 'ticks=80', 'alarm_s=3'),
                   final=80)
    ctx.note(''.join(l for l in res['restored'][0].lines() if l.startswith('alarm fired')))


@case('signals_queued_siginfo')
def signals_queued_siginfo(ctx):
    """RT signals queued twice with a value while blocked: still 2 x SI_QUEUE after restore"""
    run_case(ctx, prog(ctx, 'prog_signals', 'mode=rtqueue'), final=40)


@case('signals_itimer_pending')
def signals_itimer_pending(ctx):
    """ITIMER_REAL whose SIGALRM is pending (blocked) at the checkpoint: getitimer() says
    value 0, interval 20 ms; the interval must survive and keep firing after unblock"""
    run_case(ctx, prog(ctx, 'prog_signals', 'mode=itimer_pending'), final=40)


def _memory_argv(ctx, *extra):
    work = os.path.join(ctx.tmp, 'work')
    os.mkdir(work)
    return prog(ctx, 'prog_memory', 'dir=' + work, *extra), work


@case('memory')
def memory(ctx):
    """anon, shared anon, memfd (2 mappings), private file mapping, guard, read-only,
    untouched 64 MiB, 32 MiB of zeros, cmdline, comm, umask, cwd, rlimits, fds"""
    argv, work = _memory_argv(ctx)
    run_case(ctx, argv, final=40, max_image_bytes=16 << 20)


@case('memory_file_pages_from_file')
def memory_file_pages_from_file(ctx):
    """unmodified pages of a MAP_PRIVATE file mapping come from the file at restore time"""
    argv, work = _memory_argv(ctx)

    def rewrite(ctx, images):
        # new contents for the pages the program did not modify (3 and 7), same size
        # and mtime, so that the restore accepts the file: the restored mapping must
        # show the new contents (the program compares each page with pread)
        path = os.path.join(work, 'data.bin')
        st = os.stat(path)
        with open(path, 'r+b') as f:
            for p in range(16):
                if p not in (3, 7):
                    f.seek(p * 4096)
                    f.write(bytes([ord('a') + p]) * 4096)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    run_case(ctx, argv, final=40, after_kill=rewrite)


@case('memory_memfd_fd')
def memory_memfd_fd(ctx):
    """a memfd that is both mapped and still open as an fd"""
    argv, work = _memory_argv(ctx, 'memfd_fd=1')
    run_case(ctx, argv, final=40)


@case('syscall')
def syscall(ctx):
    """threads blocked in nanosleep, clock_nanosleep, select, poll, cond_wait,
    cond_timedwait, FUTEX_WAIT, sigwaitinfo, read(stdin)"""
    res = run_case(ctx, prog(ctx, 'prog_syscall', 'stdin_expect=hello-from-restore'),
                   final=40, stdin_data=b'hello-from-restore\n')
    ctx.note(''.join(l for l in res['restored'][0].lines() if l.startswith('interrupted')))


@case('interpose_app_sigusr2_handler')
def interpose_handler(ctx):
    """the program's own SIGUSR2 handler + pselect with an empty mask (like bash read -t)"""
    run_case(ctx, prog(ctx, 'prog_interpose', 'mode=handler'), final=40)


@case('interpose_blockall')
def interpose_blockall(ctx):
    """threads that block every signal with sigprocmask / pthread_sigmask"""
    run_case(ctx, prog(ctx, 'prog_interpose', 'mode=blockall', 'ticks=140', 'tick_ms=40'),
             final=140)


# --- several images, twice, chains --------------------------------------------

@case('several_images_restore_each')
def several_images(ctx):
    """3 checkpoints of one run; each image restored in turn continues from its own tick"""
    res = run_case(ctx, prog(ctx, 'prog_counter'), start_tick=3, checkpoints=3, gap=4,
                   restore='all', final=40)
    names = [os.path.basename(i) for i, _ in res['images']]
    ctx.check(len(set(names)) == 3 and all(n.endswith('_%d.img' % (k + 1))
                                           for k, n in enumerate(names)),
              'image names %s' % names)
    ctx.note('resumed at ticks %s' % res['resumed'])


@case('several_images_incremental_compressed')
def several_images_incremental(ctx):
    """CKPT_INCREMENTAL=1 CKPT_COMPRESS=zstd: 3 images of a program with 16 MiB of data,
    each restored in turn (the later ones need their parents)"""
    res = run_case(ctx, prog(ctx, 'prog_counter', 'data_mb=16', 'ticks=60'), start_tick=3,
                   checkpoints=3, gap=4, restore='all', final=60,
                   env={'CKPT_INCREMENTAL': '1', 'CKPT_COMPRESS': 'zstd'})
    sizes = [os.path.getsize(i) for i, _ in res['images']]
    ctx.note('image sizes %s, resumed at ticks %s' % (sizes, res['resumed']))
    ctx.check(sizes[1] < sizes[0] // 2 and sizes[2] < sizes[0] // 2,
              'images 2 and 3 are not incremental: sizes %s' % sizes)


@case('restore_twice')
def restore_twice(ctx):
    """the same image restored twice, one after the other, gives the same run"""
    res = run_case(ctx, prog(ctx, 'prog_threads'), final=40)
    img, t0 = res['images'][0]
    r2 = ctx.restore(img, name='second restore of the same image')
    r = finish_restored(ctx, r2, t0, res['last_orig'], final=40)
    ctx.check(r == res['resumed'][0], 'second restore resumed at %d, first at %d' %
              (r, res['resumed'][0]))
    first = [l for l in res['restored'][0].lines() if tick_of(l) or l.startswith('resumed')]
    second = [l for l in r2.lines() if tick_of(l) or l.startswith('resumed')]
    ctx.check(first == second, 'the two restores printed different ticks')


@case('restore_eager_image_deleted')
def restore_eager(ctx):
    """ckpt-restore --eager: the image may be deleted as soon as the program runs"""
    orig = ctx.start(prog(ctx, 'prog_counter', 'data_mb=8'))
    img, t0, last = ctx.checkpoint_and_kill(orig, 4)
    r = ctx.restore(img, args=['--eager'])
    r.wait_line('resumed', ctx.left(10))
    os.unlink(img)
    finish_restored(ctx, r, t0, last, final=40)


@case('restore_in_pidns_while_original_runs')
def restore_pidns(ctx):
    """pid busy: ckpt-restore (--pidns=auto) restores in a new pid namespace; the program
    keeps its pid and tids there, and both copies run to the end"""
    orig = ctx.start(prog(ctx, 'prog_threads'))
    orig.wait_tick(4, ctx.left(10))
    t0 = last_tick(orig.lines())
    img = ctx.checkpoint(orig)
    r = ctx.restore(img)
    finish_restored(ctx, r, t0, 40, final=40)
    rc = orig.wait(ctx.left(10))
    check_no_fail(ctx, orig)
    ctx.check(rc == 0 and orig.lines()[-1] == 'done', 'the original exited with %s' % rc)


def _chain(ctx, argv, final):
    orig = ctx.start(argv)
    orig.wait_tick(4, ctx.left(15))
    t0 = last_tick(orig.lines())
    img1 = ctx.checkpoint(orig)
    orig.wait_tick(t0 + 2, ctx.left(10))
    ctx.kill(orig)
    last1 = last_tick(orig.lines())
    r1 = ctx.restore(img1, name='first restore')
    r1.wait_line('resumed', ctx.left(10))
    res1 = int([l for l in r1.lines() if l.startswith('resumed')][0].split()[1])
    r1.wait_tick(res1 + 4, ctx.left(10))
    t0b = last_tick(r1.lines())
    img2 = ctx.checkpoint(r1)
    ctx.check(img2 != img1, 'the second checkpoint overwrote the first image')
    r1.wait_tick(t0b + 2, ctx.left(10))
    rc = ctx.kill_restored(r1)
    ctx.check(rc == 128 + 9, 'ckpt-restore exited with %d after SIGKILL of the program, '
              'want 137' % rc)
    check_no_fail(ctx, r1)
    check_continuation(ctx, r1, t0, last1, done=False)
    last2 = last_tick(r1.lines())
    r2 = ctx.restore(img2, name='second restore')
    res2 = finish_restored(ctx, r2, t0b, last2, final=final)
    ctx.check(res2 > res1, 'second image resumed at %d, first at %d' % (res2, res1))
    ctx.note('images %s resumed at %d, %d' % ([os.path.basename(img1), os.path.basename(img2)],
                                              res1, res2))


@case('chain_counter')
def chain_counter(ctx):
    """restore, checkpoint the restored process, kill it, restore the second image"""
    _chain(ctx, prog(ctx, 'prog_counter'), 40)


@case('chain_threads')
def chain_threads(ctx):
    """the same with 15 threads, held mutexes, a late join and pthread_kill"""
    _chain(ctx, prog(ctx, 'prog_threads'), 40)


@case('chain_signals')
def chain_signals(ctx):
    """the same with timers, itimers, altstack and pending signals"""
    _chain(ctx, prog(ctx, 'prog_signals'), 40)


# --- descriptors: refused cleanly, or saved and working after the restore ----------

def _fds(kind):
    def fn(ctx):
        work = os.path.join(ctx.tmp, 'work')
        os.mkdir(work)
        orig = ctx.start(prog(ctx, 'prog_fds', 'kind=' + kind, 'dir=' + work, 'close_tick=12',
                              'ticks=24', 'tick_ms=25'))
        fds = [int(x) for x in [l for l in orig.lines() if l.startswith('fds ')][0].split()[1:]]
        orig.wait_tick(3, ctx.left(10))
        t0 = last_tick(orig.lines())
        rc, out, err = ctx.checkpoint(orig, expect=None)
        if rc == 0:
            # saved: the restored program keeps using the descriptors until tick 12
            img = ctx.checkpoint_result(out)
            orig.wait_tick(t0 + 1, ctx.left(10))
            ctx.kill(orig)
            check_no_fail(ctx, orig)
            r = ctx.restore(img)
            res = finish_restored(ctx, r, t0, last_tick(orig.lines()), final=24)
            ctx.check(res < 12, 'resumed at tick %d, after the descriptors were closed' % res)
            ctx.note('%s: saved, and intact after the restore' % kind)
            return
        ctx.check(rc == 14, 'ckpt-ctl exited with %d, want 0 (saved) or 14 (refused): %s' %
                  (rc, err.strip()))
        named = [f for f in fds if re.search(r'\bfd %d\b' % f, err)]
        ctx.check(named, 'the refusal does not name fd %s: %r' % (fds, err.strip()))
        ctx.check(not out.strip(), 'ckpt-ctl printed an image path: %r' % out)
        ctx.check(not os.listdir(ctx.img_dir), 'files left in the image directory: %s' %
                  os.listdir(ctx.img_dir))
        # unharmed: it goes on using the descriptors, closes them, and then can be saved
        orig.wait_line('closed', ctx.left(10))
        orig.wait_tick(13, ctx.left(10))
        t0 = last_tick(orig.lines())
        img = ctx.checkpoint(orig)
        orig.wait_tick(t0 + 1, ctx.left(10))
        ctx.kill(orig)
        check_no_fail(ctx, orig)
        r = ctx.restore(img)
        finish_restored(ctx, r, t0, last_tick(orig.lines()), final=24)
        ctx.note('%s: refused: %s' % (kind, err.strip().replace('ckpt-ctl: error: ', '')))
    fn.__doc__ = 'a %s: refused naming its fd (program unharmed), or restored intact' % kind
    return fn


for _k in ('pipe', 'socket', 'eventfd', 'epoll', 'timerfd', 'signalfd', 'inotify', 'memfd',
           'tcp', 'pidfd'):
    case('fd_' + _k)(_fds(_k))
