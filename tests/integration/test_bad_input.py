# SPDX-License-Identifier: MIT
"""Bad input and hostile conditions: every refusal has its exit code and leaves
nothing behind; failed checkpoints never damage earlier images."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from harness import (case, read_header, finish_restored, check_no_fail, check_continuation,
                     last_tick, children_of, proc_stat, CaseSkip, EXIT)


def counter_argv(ctx, *extra, exe=None):
    """prog_counter; extra KEY=VALUE words come first, so they win over the defaults"""
    return [exe or ctx.b.prog('prog_counter')] + list(extra) + ['ticks=50', 'tick_ms=20']


def make_image(ctx, argv=None, at_tick=3, kill=True):
    """Starts argv (prog_counter), checkpoints it at tick at_tick, kills it.
    Returns (image, original Proc, T0)."""
    orig = ctx.start(argv or counter_argv(ctx))
    orig.wait_tick(at_tick, ctx.left(10))
    t0 = last_tick(orig.lines())
    img = ctx.checkpoint(orig)
    if kill:
        orig.wait_tick(t0 + 1, ctx.left(10))
        ctx.kill(orig)
    return img, orig, t0


def copy(ctx, img, name):
    dst = os.path.join(ctx.tmp, name)
    shutil.copyfile(img, dst)
    return dst


def flip(path, offset):
    with open(path, 'r+b') as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x40]))


def section(img, name):
    return [s for s in read_header(img)['sections'] if s['name'] == name][0]


def expect_restore(ctx, img, code, what, pid=None, words=(), args=()):
    """ckpt-restore IMAGE must exit with `code`, say why on stderr, and leave no process."""
    rc, out, err = ctx.tool([ctx.b.ckpt_restore] + list(args) + [img], timeout=15)
    ctx.check(rc == code, '%s: ckpt-restore exited with %d, want %d (%s)\n  stderr: %s' %
              (what, rc, code, [k for k, v in EXIT.items() if v == code][0], err.strip()))
    ctx.check(err.strip(), '%s: ckpt-restore exited %d without a message' % (what, rc))
    for w in words:
        ctx.check(w in err, '%s: message does not mention %r: %s' % (what, w, err.strip()))
    if pid:
        # another process may have that number by now (other test suites run too): only
        # the restored program counts
        try:
            with open('/proc/%d/comm' % pid) as f:
                comm = f.read().strip()
        except OSError:
            comm = None
        want = None
        try:
            with open(img, 'rb') as f:
                want = f.read(104)[72:88].split(b'\0')[0].decode() or None   # header.comm
        except (OSError, UnicodeDecodeError):
            pass
        ctx.check(comm is None or comm != want,
                  '%s: pid %d (%s) exists after the refused restore' % (what, pid, comm))
    ctx.note('%s -> %d: %s' % (what, rc, err.strip().splitlines()[-1]))


def restore_ok(ctx, img, orig, t0, final=50, name='restore'):
    r = ctx.restore(img, name=name)
    return finish_restored(ctx, r, t0, last_tick(orig.lines()), final=final)


# --- command lines and ckpt-ctl targets ------------------------------------------

@case('usage_errors', root=False)
def usage_errors(ctx):
    """bad command lines exit 2"""
    for argv in ([ctx.b.ckpt_restore], [ctx.b.ckpt_restore, 'a', 'b'],
                 [ctx.b.ckpt_restore, '--bogus', 'x'], [ctx.b.ckpt_ctl],
                 [ctx.b.ckpt_ctl, 'checkpoint', 'abc'], [ctx.b.ckpt_ctl, 'frobnicate', '1'],
                 [ctx.b.ckpt_run]):
        ctx.tool(argv, timeout=5, expect=EXIT['USAGE'])
    for argv in ([ctx.b.ckpt_restore, '--help'], [ctx.b.ckpt_ctl, '--help'],
                 [ctx.b.ckpt_run, '--help']):
        rc, out, err = ctx.tool(argv, timeout=5, expect=0)
        ctx.check('EXIT STATUS' in out, '%s --help has no EXIT STATUS section' % argv[0])


@case('ctl_no_such_process', root=False)
def ctl_no_such_process(ctx):
    """ckpt-ctl on a pid that does not exist exits 12"""
    p = subprocess.Popen(['true'])
    p.wait()
    rc, out, err = ctx.tool([ctx.b.ckpt_ctl, 'checkpoint', str(p.pid)], timeout=5,
                            expect=EXIT['NOPROC'])


@case('ctl_not_libckpt', root=False)
def ctl_not_libckpt(ctx):
    """ckpt-ctl on a process without libckpt exits 12 and does not signal it"""
    p = subprocess.Popen(['sleep', '10'], close_fds=True)
    try:
        time.sleep(0.05)
        rc, out, err = ctx.tool([ctx.b.ckpt_ctl, 'checkpoint', str(p.pid)], timeout=5,
                                expect=EXIT['NOPROC'])
        ctx.check('libckpt' in err, 'message: %s' % err.strip())
        ctx.check(p.poll() is None, 'the process was killed (status %s)' % p.poll())
    finally:
        p.kill()
        p.wait()


@case('ctl_target_dies_before_answering')
def ctl_target_dies(ctx):
    """the target (stopped, so it never answers) is killed: ckpt-ctl exits 12 at once"""
    orig = ctx.start(counter_argv(ctx))
    os.kill(orig.pid, signal.SIGSTOP)
    ctl = subprocess.Popen([ctx.b.ckpt_ctl, 'checkpoint', '--timeout', '4', str(orig.pid)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True)
    try:
        time.sleep(0.3)
        ctx.kill(orig)
        t = time.monotonic()
        try:
            out, err = ctl.communicate(timeout=8)
        except subprocess.TimeoutExpired:
            ctl.kill()
            out, err = ctl.communicate()
        dt = time.monotonic() - t
        ctx.log.append((ctl.args, ctl.returncode, out.decode(), err.decode()))
        ctx.check(ctl.returncode == EXIT['NOPROC'] and dt < 2,
                  'ckpt-ctl exited with %d %.1f s after the process died (want 12 within 2 s): '
                  '%s' % (ctl.returncode, dt, err.decode().strip()))
    finally:
        if ctl.poll() is None:
            ctl.kill()
            ctl.wait()


def _spawn_with_pid(ctx, argv, pid):
    """Starts argv with the given pid (root: /proc/sys/kernel/ns_last_pid); None if another
    process got that pid first (the one we started is then killed)."""
    try:
        with open('/proc/sys/kernel/ns_last_pid', 'w') as f:
            f.write(str(pid - 1))
    except OSError as e:
        raise CaseSkip('cannot choose pids: %s' % e)
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, close_fds=True)
    if p.pid != pid:
        p.kill()
        p.communicate()
        return None
    return p


@case('ctl_requests_distinct')
def ctl_requests_distinct(ctx):
    """two ckpt-ctl runs one second apart with consecutive pids (even T and pid, then T+1,
    pid+1), the program slow to answer the second: it must wait for its own image, not
    report the first one"""
    orig = ctx.start(counter_argv(ctx, 'ticks=200'))
    orig.wait_tick(2, ctx.left(10))
    paths = []
    for attempt in range(4):
        # the first request early in an even second, from an even pid
        while True:
            now = time.time()
            if int(now) % 2 == 0 and 0.05 < now - int(now) < 0.3:  # time() is coarse
                break
            time.sleep(0.02)
        with open('/proc/sys/kernel/pid_max') as f:
            pid_max = int(f.read())
        with open('/proc/sys/kernel/ns_last_pid') as f:
            base = (int(f.read()) + 500 + attempt * 50) & ~1
        if base > pid_max - 100:
            base = 1000
        second = int(now) + 1
        argv = [ctx.b.ckpt_ctl, 'checkpoint', '--timeout', '5', str(orig.pid)]
        t1 = time.time()
        p1 = _spawn_with_pid(ctx, argv, base)
        if not p1:
            continue
        out1, err1 = p1.communicate(timeout=ctx.left(10))
        ctx.log.append((argv + ['(pid %d)' % p1.pid], p1.returncode, out1.decode(), err1.decode()))
        if p1.returncode:
            ctx.fail('first ckpt-ctl exited with %d' % p1.returncode)
        while time.time() < second + 0.05:
            time.sleep(0.01)
        # one second later, from the next pid; the program answers 100 ms late (as it
        # may under load)
        os.kill(orig.pid, signal.SIGSTOP)
        t2 = time.time()
        try:
            p2 = _spawn_with_pid(ctx, argv, base + 1)
            time.sleep(0.1)
        finally:
            os.kill(orig.pid, signal.SIGCONT)
        if not p2:
            orig.wait_tick(last_tick(orig.lines()) + 1, ctx.left(10))
            continue
        out2, err2 = p2.communicate(timeout=ctx.left(10))
        ctx.log.append((argv + ['(pid %d)' % p2.pid], p2.returncode, out2.decode(), err2.decode()))
        paths = [out1.decode().strip(), out2.decode().strip()]
        ctx.note('ckpt-ctl pid %d at %.2f -> %s; pid %d at %.2f -> %s' % (
            p1.pid, t1, os.path.basename(paths[0]), p2.pid, t2, os.path.basename(paths[1])))
        break
    if not paths:
        raise CaseSkip('could not get the pids wanted')
    ctx.check(p1.returncode == 0 and p2.returncode == 0, 'ckpt-ctl exit statuses %d, %d' %
              (p1.returncode, p2.returncode))
    seqs = [int(re.search(r'_(\d+)\.img$', x).group(1)) if re.search(r'_(\d+)\.img$', x)
            else -1 for x in paths]
    ctx.check(seqs[1] == seqs[0] + 1,
              'ckpt-ctl (pid %d at an even second) printed %s; ckpt-ctl (pid %d one second '
              'later) printed %s: the second reported the first request\'s image (same '
              'nonce: srand(time ^ pid))' % (p1.pid, os.path.basename(paths[0]), p2.pid,
                                              os.path.basename(paths[1])))


@case('one_image_per_request')
def one_image_per_request(ctx):
    """40 requests to a program whose threads unblock the trigger signal with a raw
    syscall (allowed by coord.c), pinned with a CPU hog to one CPU: exactly 40 images,
    numbered 1..40 in the order asked, and no more afterwards"""
    if not hasattr(os, 'sched_setaffinity'):
        raise CaseSkip('no sched_setaffinity')
    pin = lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    hog = subprocess.Popen([sys.executable, '-c', 'while True: pass'], preexec_fn=pin)
    try:
        orig = ctx.start([ctx.b.prog('prog_interpose'), 'mode=unblocked', 'ticks=2000',
                          'tick_ms=20'], env={'CKPT_NO_FSYNC': '1'}, preexec_fn=pin)
        for k in range(1, 41):
            rc, out, err = ctx.checkpoint(orig, expect=None, timeout=4)
            name = os.path.basename(out.strip())
            ctx.check(rc == 0 and name.endswith('_%d.img' % k),
                      'request %d: ckpt-ctl exit %d, image %s: a checkpoint nobody asked for '
                      'was taken in between (%d images now)' % (k, rc, name,
                                                                len(os.listdir(ctx.img_dir))))
        time.sleep(0.5)
        n = sorted(os.listdir(ctx.img_dir))
        ctx.check(len(n) == 40, '%d images after 40 requests: %s' % (len(n), n[-3:]))
    finally:
        hog.kill()
        hog.wait()


# --- images that are not what they should be ---------------------------------------

@case('restore_missing_image')
def restore_missing(ctx):
    """a missing image exits 3"""
    expect_restore(ctx, os.path.join(ctx.tmp, 'no-such.img'), EXIT['NOENT'], 'missing image')


@case('restore_not_an_image')
def restore_not_an_image(ctx):
    """/etc/passwd, an empty file and a directory exit 4"""
    expect_restore(ctx, '/etc/passwd', EXIT['FOREIGN'], '/etc/passwd')
    empty = os.path.join(ctx.tmp, 'empty.img')
    open(empty, 'w').close()
    expect_restore(ctx, empty, EXIT['FOREIGN'], 'empty file')
    expect_restore(ctx, ctx.tmp, EXIT['FOREIGN'], 'directory')


@case('restore_truncated')
def restore_truncated(ctx):
    """an image cut in half, or inside its header, exits 7"""
    img, orig, t0 = make_image(ctx)
    pid = orig.pid
    for name, size in (('half', os.path.getsize(img) // 2), ('in header', 60),
                       ('one byte short', os.path.getsize(img) - 1)):
        c = copy(ctx, img, 'trunc.img')
        os.truncate(c, size)
        expect_restore(ctx, c, EXIT['TRUNCATED'], 'truncated (%s)' % name, pid)


@case('restore_corrupt_metadata')
def restore_corrupt_metadata(ctx):
    """one flipped byte in a metadata section, the section table or the header exits 8"""
    img, orig, t0 = make_image(ctx)
    h = read_header(img)
    targets = [('%s section' % s['name'], s['offset'] + s['size'] // 2)
               for s in h['sections'] if s['name'] != 'pages' and s['size']]
    targets += [('section table', h['sections_off'] + 9), ('header', 50)]
    for what, off in targets:
        c = copy(ctx, img, 'flip.img')
        flip(c, off)
        expect_restore(ctx, c, EXIT['CORRUPT'], 'flipped byte in the %s' % what, orig.pid)
    c = copy(ctx, img, 'long.img')
    with open(c, 'ab') as f:
        f.write(b'\0')
    expect_restore(ctx, c, EXIT['CORRUPT'], 'one trailing byte', orig.pid)
    restore_ok(ctx, img, orig, t0)


@case('restore_corrupt_pages')
def restore_corrupt_pages(ctx):
    """one flipped byte in page data exits 8; the intact image still restores"""
    img, orig, t0 = make_image(ctx)
    pages = section(img, 'pages')
    for what, off in (('first page', pages['offset'] + 100),
                      ('last page', pages['offset'] + pages['size'] - 7)):
        c = copy(ctx, img, 'flip.img')
        flip(c, off)
        expect_restore(ctx, c, EXIT['CORRUPT'], 'flipped byte in the %s' % what, orig.pid)
    restore_ok(ctx, img, orig, t0)


@case('restore_patched_header')
def restore_patched_header(ctx):
    """valid checksums, bad fields: version 2 -> 5, arch -> 6, section bounds -> 9"""
    img, orig, t0 = make_image(ctx)
    h = read_header(img)
    proc_idx = [i for i, s in enumerate(h['sections']) if s['name'] == 'proc'][0]
    for what, args, code in (
            ('version 2', ['hdr', 'version', '2'], EXIT['VERSION']),
            ('version 0', ['hdr', 'version', '0'], EXIT['VERSION']),
            ('arch 3', ['hdr', 'arch', '3'], EXIT['ARCH']),
            ('page size 65536', ['hdr', 'page_size', '65536'], EXIT['ARCH']),
            ('nr_sections 1000000', ['hdr', 'nr_sections', '1000000'], EXIT['INVALID']),
            ('proc section beyond the end', ['sec', str(proc_idx), 'offset',
                                             str(h['file_size'] + 4096)], EXIT['INVALID'])):
        c = copy(ctx, img, 'patched.img')
        ctx.tool([ctx.b.imgpatch, c] + args, timeout=5, expect=0)
        expect_restore(ctx, c, code, what, orig.pid)
    # without fixing the header hash, a newer version is still recognised as one
    c = copy(ctx, img, 'newer.img')
    with open(c, 'r+b') as f:
        f.seek(8)
        f.write((2).to_bytes(4, 'little'))
    expect_restore(ctx, c, EXIT['VERSION'], 'version 2 (header hash not fixed)', orig.pid)


@case('restore_binary_changed')
def restore_binary_changed(ctx):
    """the program touched or appended to after the checkpoint exits 10; with its mtime
    put back it restores"""
    exe = os.path.join(ctx.tmp, 'prog_counter')
    shutil.copy2(ctx.b.prog('prog_counter'), exe)
    img, orig, t0 = make_image(ctx, counter_argv(ctx, exe=exe))
    st = os.stat(exe)
    os.utime(exe, ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
    expect_restore(ctx, img, EXIT['FILES'], 'program touched', orig.pid, words=[exe])
    os.utime(exe, ns=(st.st_atime_ns, st.st_mtime_ns))
    restore_ok(ctx, img, orig, t0, name='restore after the mtime was put back')
    with open(exe, 'ab') as f:
        f.write(b'\0')
    os.utime(exe, ns=(st.st_atime_ns, st.st_mtime_ns))
    expect_restore(ctx, img, EXIT['FILES'], 'program one byte longer', orig.pid)
    os.unlink(exe)
    expect_restore(ctx, img, EXIT['FILES'], 'program deleted', orig.pid)


@case('restore_mapped_file_changed')
def restore_mapped_file_changed(ctx):
    """a file the program maps (prog_memory's data.bin) rewritten: exit 10"""
    work = os.path.join(ctx.tmp, 'work')
    os.mkdir(work)
    img, orig, t0 = make_image(ctx, [ctx.b.prog('prog_memory'), 'dir=' + work, 'ticks=200',
                                     'tick_ms=20'])
    path = os.path.join(work, 'data.bin')
    time.sleep(0.01)
    with open(path, 'r+b') as f:
        f.write(b'Z')
    expect_restore(ctx, img, EXIT['FILES'], 'mapped file modified', orig.pid, words=[path])
    os.unlink(path)
    expect_restore(ctx, img, EXIT['FILES'], 'mapped file deleted', orig.pid, words=[path])


@case('restore_pid_in_use')
def restore_pid_in_use(ctx):
    """--pidns=never while the original still runs exits 11; the original is unharmed"""
    img, orig, t0 = make_image(ctx, kill=False)
    expect_restore(ctx, img, EXIT['ENV'], 'pid in use', words=[str(orig.pid)],
                   args=['--pidns=never'])
    rc = orig.wait(ctx.left(15))
    check_no_fail(ctx, orig)
    ctx.check(rc == 0 and orig.lines()[-1] == 'done', 'original exited with %s' % rc)


# --- checkpoints that fail must not damage earlier images --------------------------

@case('ckpt_dir_full')
def ckpt_dir_full(ctx):
    """CKPT_DIR on a full 1 MiB tmpfs: ckpt-ctl exits 14, the earlier image stays valid"""
    if os.geteuid() != 0:
        raise CaseSkip('needs root to mount a tmpfs')
    d = os.path.join(ctx.tmp, 'small')
    ctx.mount_tmpfs(d, '1m')
    orig = ctx.start(counter_argv(ctx, 'heap_kb=64', 'grow_at=6', 'grow_mb=4'), ckpt_dir=d)
    orig.wait_tick(3, ctx.left(10))
    t0 = last_tick(orig.lines())
    img = ctx.checkpoint(orig, img_dir=d)
    with open(img, 'rb') as f:
        before = f.read()
    orig.wait_tick(8, ctx.left(10))
    rc, out, err = ctx.checkpoint(orig, expect=EXIT['CKPT'])
    ctx.check('space' in err.lower(), 'ckpt-ctl does not say why: %s' % err.strip())
    ctx.check(sorted(os.listdir(d)) == [os.path.basename(img)],
              'files in the full directory: %s' % os.listdir(d))
    with open(img, 'rb') as f:
        ctx.check(f.read() == before, 'the earlier image changed')
    # the program is unharmed and can still be saved elsewhere... and restored from the
    # earlier image
    orig.wait_tick(last_tick(orig.lines()) + 1, ctx.left(10))
    ctx.kill(orig)
    check_no_fail(ctx, orig)
    restore_ok(ctx, img, orig, t0)
    ctx.note(err.strip().replace('ckpt-ctl: error: ', ''))


@case('ckpt_dir_readonly')
def ckpt_dir_readonly(ctx):
    """CKPT_DIR made read-only (bind mount) after a first image: ckpt-ctl exits 14, the
    program runs on, and the first image restores"""
    if os.geteuid() != 0:
        raise CaseSkip('needs root to bind-mount')
    d = os.path.join(ctx.tmp, 'ro')
    os.mkdir(d)
    orig = ctx.start(counter_argv(ctx), ckpt_dir=d)
    orig.wait_tick(3, ctx.left(10))
    t0 = last_tick(orig.lines())
    img = ctx.checkpoint(orig, img_dir=d)
    ctx.mount(['--bind', d], d)
    r = subprocess.run(['mount', '-o', 'remount,bind,ro', d], capture_output=True)
    if r.returncode:
        raise CaseSkip('cannot remount read-only: %s' % r.stderr.decode().strip())
    rc, out, err = ctx.checkpoint(orig, expect=EXIT['CKPT'])
    ctx.check('read-only' in err.lower(), 'ckpt-ctl does not say why: %s' % err.strip())
    ctx.check(os.listdir(d) == [os.path.basename(img)], 'files: %s' % os.listdir(d))
    orig.wait_tick(last_tick(orig.lines()) + 2, ctx.left(10))
    ctx.kill(orig)
    check_no_fail(ctx, orig)
    restore_ok(ctx, img, orig, t0)
    ctx.note(err.strip().replace('ckpt-ctl: error: ', ''))


@case('writer_killed')
def writer_killed(ctx):
    """the image writer killed mid-write: no image under the final name, the temporary
    file goes, the program runs on, the previous image restores, and ckpt-ctl reports
    the failure (exit 14)"""
    # 10 s of ticks: it must outlive ckpt-ctl, which may wait for its whole timeout
    orig = ctx.start(counter_argv(ctx, 'ticks=1000', 'tick_ms=10', 'grow_at=6', 'grow_mb=256'))
    orig.wait_tick(3, ctx.left(10))
    t0 = last_tick(orig.lines())
    img1 = ctx.checkpoint(orig)
    orig.wait_tick(10, ctx.left(15))
    final = os.path.join(ctx.img_dir, 'ckpt_prog_counter_%d_2.img' % orig.pid)
    tmp = os.path.join(ctx.img_dir, '.ckpt_prog_counter_%d_2.img.tmp' % orig.pid)
    ctl = subprocess.Popen([ctx.b.ckpt_ctl, 'checkpoint', '--timeout', '3', str(orig.pid)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True)
    writer, size = None, 0
    try:
        end = time.monotonic() + 10
        while time.monotonic() < end and ctl.poll() is None:
            try:
                size = os.path.getsize(tmp)
            except OSError:
                size = 0
            if size > (4 << 20):
                kids = [k for k in children_of(orig.pid)]
                if kids:
                    writer = kids[0]
                    os.kill(writer, signal.SIGKILL)
                    break
            time.sleep(0.002)
        ctx.check(writer, 'did not catch the writer mid-write (temporary file %d bytes, '
                  'ckpt-ctl %s)' % (size, ctl.poll()))
        try:
            out, err = ctl.communicate(timeout=8)
        except subprocess.TimeoutExpired:
            ctl.kill()
            out, err = ctl.communicate()
    finally:
        if ctl.poll() is None:
            ctl.kill()
            ctl.wait()
    ctx.log.append((ctl.args, ctl.returncode, out.decode(), err.decode()))
    ctx.check(orig.poll() is None, 'the program died with its writer')
    ctx.check(not os.path.exists(final), 'an image with the final name exists: %s' % final)
    end = time.monotonic() + 2
    while os.path.exists(tmp) and time.monotonic() < end:
        time.sleep(0.01)
    ctx.check(not os.path.exists(tmp), 'the temporary file %s is still there' % tmp)
    ctx.check(proc_stat(writer) is None, 'the killed writer %d was not reaped' % writer)
    orig.wait_tick(last_tick(orig.lines()) + 1, ctx.left(10))
    ctx.kill(orig)
    check_no_fail(ctx, orig)
    # the first image restores and goes on (10 ticks, its checks at the resume included)
    r = ctx.restore(img1)
    r.wait_line('resumed', ctx.left(10))
    res = int([l for l in r.lines() if l.startswith('resumed')][0].split()[1])
    r.wait_tick(res + 10, ctx.left(10))
    check_no_fail(ctx, r)
    ctx.kill_restored(r)
    check_continuation(ctx, r, t0, last_tick(orig.lines()), done=False)
    ctx.note('writer %d killed at %d MiB; ckpt-ctl: exit %d: %s' %
             (writer, size >> 20, ctl.returncode, err.decode().strip().splitlines()[-1:]))
    ctx.check(ctl.returncode == EXIT['CKPT'],
              'ckpt-ctl exited with %d when the writer was killed, want 14 (the checkpoint '
              'failed): %s' % (ctl.returncode, err.decode().strip()))
