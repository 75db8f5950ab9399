#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs the ckpt integration tests: python3 tests/integration/run.py [--build DIR] [-k NAME]
[--cases FILE.py]...

One line per case (PASS, FAIL with diagnostics, SKIP with the reason), then
"N passed, N failed" (", N skipped" if any). Exit status 0 only if none failed.
Every case has its own temporary directory and a 30 s limit.
"""
import argparse
import importlib.util
import os
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import Build, Case, CaseFailure, CaseSkip, REGISTRY  # noqa: E402

DEFAULT_CASES = ['test_state.py', 'test_real.py', 'test_bad_input.py']


def load_cases(paths):
    """Imports case files; each registers its cases with @harness.case."""
    for path in paths:
        path = os.path.abspath(path)
        sys.path.insert(0, os.path.dirname(path))
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)


def run_one(b, c, args):
    ctx = Case(b, c['name'], timeout=c['timeout'], keep=args.keep, verbose=args.verbose)
    # last resort: a case stuck outside our timed waits gets its processes killed
    watchdog = threading.Timer(c['timeout'] + 10, lambda: [p.p.kill() for p in ctx.procs
                                                           if p.poll() is None])
    watchdog.daemon = True
    watchdog.start()
    t = time.monotonic()
    try:
        c['fn'](ctx)
        status, msg = 'PASS', ''
    except CaseSkip as e:
        status, msg = 'SKIP', str(e)
    except CaseFailure as e:
        status, msg = 'FAIL', str(e) + '\n' + ctx.diagnostics()
    except Exception:
        status, msg = 'FAIL', traceback.format_exc() + ctx.diagnostics()
    finally:
        watchdog.cancel()
        ctx.cleanup()
    return status, msg, time.monotonic() - t, ctx.notes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', help='meson build directory (default: BUILD env or ./build)')
    ap.add_argument('-k', action='append', default=[], metavar='NAME',
                    help='run only cases whose name contains NAME (repeatable)')
    ap.add_argument('--list', action='store_true', help='list the cases and exit')
    ap.add_argument('--keep', action='store_true', help='keep temporary directories')
    ap.add_argument('-v', '--verbose', action='store_true', help='print notes of passing cases')
    ap.add_argument('--cases', action='append', default=[], metavar='FILE.py',
                    help='run the cases of these files (other suites: tests/engine/test_*.py, '
                    'tests/kvm/test_kvm.py...) instead of the integration ones')
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    load_cases(args.cases or [os.path.join(here, f) for f in DEFAULT_CASES])
    b = Build(args.build)
    cases = [c for c in REGISTRY if not args.k or any(k in c['name'] for k in args.k)]
    if args.list:
        for c in cases:
            print('%-36s %s' % (c['name'], c['doc']))
        return 0
    missing = b.missing()
    is_root = os.geteuid() == 0
    counts = dict(PASS=0, FAIL=0, SKIP=0)
    t0 = time.monotonic()
    for c in cases:
        if missing:
            status, msg, dt, notes = 'SKIP', 'not built: %s' % ', '.join(missing), 0, []
        elif c['root'] and not is_root:
            status, msg, dt, notes = 'SKIP', 'needs root (restoring a pid)', 0, []
        else:
            status, msg, dt, notes = run_one(b, c, args)
        counts[status] += 1
        line = '%s %s (%.1fs)' % (status, c['name'], dt)
        if status == 'SKIP':
            line += ': ' + msg
        elif status == 'FAIL':
            line += ': ' + msg.rstrip().replace('\n', '\n    ')
        print(line, flush=True)
        if notes and (args.verbose or status != 'PASS'):
            for n in notes:
                if n:
                    print('    note: ' + n)
    tail = '%d passed, %d failed' % (counts['PASS'], counts['FAIL'])
    if counts['SKIP']:
        tail += ', %d skipped' % counts['SKIP']
    print('# %.0f s' % (time.monotonic() - t0))
    print(tail)
    return 1 if counts['FAIL'] else 0


if __name__ == '__main__':
    sys.exit(main())
