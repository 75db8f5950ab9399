# SPDX-License-Identifier: MIT
"""Image engine cases: zero elision, restart by mapping and eagerly, compression,
incremental chains and ckpt-merge, huge pages, shared memory consistency."""
import json
import os
import struct

from harness import case, check_no_fail, finish_restored, last_tick, run_case

ENGINE = os.path.join('tests', 'engine')


def prog(ctx, name):
    return os.path.join(ctx.b.dir, ENGINE, name)


def take(ctx, orig, tick):
    """Checkpoint once tick `tick` is out; returns (image, T0)."""
    orig.wait_tick(tick, ctx.left(15))
    t0 = last_tick(orig.lines())
    check_no_fail(ctx, orig)
    return ctx.checkpoint(orig), t0


def kill_original(ctx, orig):
    orig.wait_tick(last_tick(orig.lines()) + 1, ctx.left(10))
    ctx.kill(orig)
    check_no_fail(ctx, orig)
    return last_tick(orig.lines())


def largest_zstd_run(data):
    """(data_off, stored_len) of the largest CKPT_RUN_ZSTD run, from the RUNS section."""
    sections_off, = struct.unpack_from('<Q', data, 32)
    nr_sections, = struct.unpack_from('<I', data, 40)
    best = None
    for i in range(nr_sections):
        stype, _, off, size, _ = struct.unpack_from('<IIQQQ', data, sections_off + 32 * i)
        if stype != 4:  # CKPT_SEC_RUNS
            continue
        for r in range(size // 56):  # struct ckpt_run
            _, _, data_off, _, stored, _, flags = struct.unpack_from('<QQQQQQI', data,
                                                                     off + 56 * r)
            if flags & 1 and (best is None or stored > best[1]):
                best = (data_off, stored)
    return best


def info(ctx, image):
    rc, out, err = ctx.tool([ctx.b.dir + '/tools/ckpt-info', '--json', '--no-backtrace', image],
                            expect=0)
    return json.loads(out)


@case('engine-elide-zero-and-untouched')
def elide(ctx):
    """256 MiB of written zeros and a 1 GiB reservation cost nothing in the image"""
    res = run_case(ctx, [prog(ctx, 'eng_memory'), 'random=1', 'zero=256', 'reserve=1024',
                         'ticks=25'], max_image_bytes=4 << 20)
    ctx.note('image %d bytes' % os.path.getsize(res['images'][0][0]))


@case('engine-restart-mapped-and-eager')
def mapped_and_eager(ctx):
    """default restart maps the image (seen in /proc/PID/maps); --eager reads it"""
    orig = ctx.start([prog(ctx, 'eng_memory'), 'random=16', 'ticks=30'])
    img, t0 = take(ctx, orig, 5)
    last = kill_original(ctx, orig)
    for args, mapped in (((), True), (('--eager',), False)):
        rp = ctx.restore(img, args=args, name='restore %s' % ' '.join(args))
        rp.wait_tick(t0 + 2, ctx.left(10))
        with open('/proc/%d/maps' % rp.app_pid) as f:
            maps = f.read()
        ctx.check((img in maps) == mapped, 'restore %s: image %s mapped: %s, want %s' %
                  (' '.join(args), img, img in maps, mapped))
        finish_restored(ctx, rp, t0, last)


@case('engine-compressed')
def compressed(ctx):
    """CKPT_COMPRESS=zstd: runs are zstd frames; restore decompresses; a flipped byte is caught"""
    orig = ctx.start([prog(ctx, 'eng_memory'), 'random=8', 'ticks=25'],
                     env={'CKPT_COMPRESS': 'zstd', 'CKPT_COMPRESS_THREADS': '2'})
    img, t0 = take(ctx, orig, 5)
    last = kill_original(ctx, orig)
    j = info(ctx, img)['image']
    ctx.check(j['zstd_runs'] > 0 and j['page_data_file_bytes'] > 0,
              'ckpt-info shows no compressed runs: %s' % j)
    bad = img + '.bad'
    with open(img, 'rb') as f:
        data = bytearray(f.read())
    run = largest_zstd_run(data)
    ctx.check(run is not None, 'no compressed run in the image')
    data[run[0] + run[1] // 2] ^= 0x40      # the middle of its zstd frame
    with open(bad, 'wb') as f:
        f.write(data)
    os.chmod(bad, 0o600)
    rc, _, err = ctx.tool([ctx.b.ckpt_restore, bad])
    ctx.check(rc == 8, 'restore of a corrupted compressed image: exit %d, want 8 (%s)' %
              (rc, err.strip()))
    # a frame header bit that would still decompress to the same pages (window size)
    data[run[0] + run[1] // 2] ^= 0x40
    data[run[0] + 5] ^= 0x08
    with open(bad, 'wb') as f:
        f.write(data)
    rc, _, err = ctx.tool([ctx.b.ckpt_restore, bad])
    ctx.check(rc == 8, 'restore with a changed zstd frame header: exit %d, want 8 (%s)' %
              (rc, err.strip()))
    finish_restored(ctx, ctx.restore(img), t0, last)


def chain(ctx, env):
    orig = ctx.start([prog(ctx, 'eng_memory'), 'random=32', 'ticks=40'], env=env)
    images = [take(ctx, orig, 4 + 2 * k) for k in range(4)]
    last = kill_original(ctx, orig)
    full = os.path.getsize(images[0][0])
    ctx.check('parent' not in info(ctx, images[0][0])['image'], 'the first image has a parent')
    for k, (img, _) in enumerate(images[1:], 1):
        size = os.path.getsize(img)
        ctx.check(size * 10 < full, 'incremental image %s is %d bytes, full one %d' %
                  (img, size, full))
        parent = info(ctx, img)['image'].get('parent', {})
        ctx.check(parent.get('name') == os.path.basename(images[k - 1][0]) and
                  parent.get('depth') == k and parent.get('inherited_bytes', 0) > 0,
                  'image %d: parent %s, want %s at depth %d' %
                  (k + 1, parent, os.path.basename(images[k - 1][0]), k))
    return images, last


@case('engine-incremental-chain')
def incremental(ctx):
    """CKPT_INCREMENTAL: each link stores changes only; restore from every link; ckpt-merge"""
    images, last = chain(ctx, {'CKPT_INCREMENTAL': '1'})
    for img, t0 in images:
        finish_restored(ctx, ctx.restore(img, name='restore of %s' % os.path.basename(img)),
                        t0, last)
    merged = os.path.join(ctx.img_dir, 'merged.img')
    ctx.tool([ctx.b.dir + '/tools/ckpt-merge', images[-1][0], merged], expect=0)
    j = info(ctx, merged)['image']
    ctx.check('parent' not in j and j['page_hashes'] > 0,
              'merged image: %s (want no parent, page hashes kept)' % j)
    finish_restored(ctx, ctx.restore(merged, name='restore of merged'), images[-1][1], last)
    os.unlink(images[0][0])
    rc, _, err = ctx.tool([ctx.b.ckpt_restore, images[-1][0]])
    ctx.check(rc == 3 and 'parent' in err, 'restore without the chain\'s first image: exit %d, '
              'want 3 naming the parent (%s)' % (rc, err.strip()))


@case('engine-incremental-compressed')
def incremental_compressed(ctx):
    """incremental and compressed together"""
    images, last = chain(ctx, {'CKPT_INCREMENTAL': '1', 'CKPT_COMPRESS': 'zstd'})
    img, t0 = images[-1]
    finish_restored(ctx, ctx.restore(img), t0, last)


def thp_enabled():
    try:
        with open('/sys/kernel/mm/transparent_hugepage/enabled') as f:
            return '[never]' not in f.read()
    except OSError:
        return False


def anon_huge_kb(pid):
    with open('/proc/%d/smaps_rollup' % pid) as f:
        for line in f:
            if line.startswith('AnonHugePages:'):
                return int(line.split()[1])
    return 0


@case('engine-huge-pages-stay-huge')
def huge(ctx):
    """memory with MADV_HUGEPAGE is backed by huge pages again after restart"""
    from harness import CaseSkip
    if not thp_enabled():
        raise CaseSkip('transparent huge pages are disabled on this kernel')
    orig = ctx.start([prog(ctx, 'eng_memory'), 'random=1', 'huge=64', 'ticks=25'])
    before = anon_huge_kb(orig.pid)
    if before < 32768:
        raise CaseSkip('the kernel gave the original only %d kB of huge pages' % before)
    img, t0 = take(ctx, orig, 5)
    last = kill_original(ctx, orig)
    rp = ctx.restore(img)
    rp.wait_line('hugepages', ctx.left(10))
    kb = [int(l.split()[1]) for l in rp.lines() if l.startswith('hugepages')][0]
    ctx.check(kb >= 32768, 'restored process has %d kB of huge pages, original %d' % (kb, before))
    finish_restored(ctx, rp, t0, last)


@case('engine-shared-anon-consistent')
def shared_anon(ctx):
    """a thread sweeping MAP_SHARED anonymous memory: the image is never ahead of the thread"""
    run_case(ctx, [prog(ctx, 'eng_shared'), 'mem=anon', 'ticks=30'], checkpoints=3, gap=3,
             restore='all')


@case('engine-shared-memfd-consistent')
def shared_memfd(ctx):
    """the same over a memfd mapping"""
    run_case(ctx, [prog(ctx, 'eng_shared'), 'mem=memfd', 'ticks=30'], checkpoints=2, gap=3,
             restore='all')


@case('process-attributes')
def attributes(ctx):
    """nice, SCHED_BATCH and CPU affinity per thread; subreaper, no_new_privs, dumpable, personality"""
    run_case(ctx, [prog(ctx, 'eng_attrs'), 'ticks=25'], start_tick=5)


@case('engine-wipeonfork-memory')
def wipeonfork(ctx):
    """MADV_WIPEONFORK memory: its data is in the image (fork empties it for the writer), and
    a fork after the restart still gets it empty"""
    run_case(ctx, [prog(ctx, 'eng_memory'), 'random=1', 'wipe=4', 'ticks=25'])
