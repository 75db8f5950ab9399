#!/usr/bin/env python3
"""Prints one line that adds up every suite of the last `meson test` run:
'TOTAL: N passed, N failed, N skipped' (cases of the python runners, tests of the C units)."""
import json
import re
import sys

LINE = re.compile(r'^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$', re.M)
CMOCKA = re.compile(r'\[  PASSED  \] (\d+) test')


def main(path):
    passed = failed = skipped = 0
    with open(path) as f:
        for raw in f:
            if not raw.strip():
                continue
            t = json.loads(raw)
            out = t.get('stdout') or ''
            found = LINE.findall(out)
            if found:
                p, fl, s = found[-1]
                passed, failed, skipped = passed + int(p), failed + int(fl), skipped + int(s or 0)
            elif CMOCKA.findall(out) and t.get('result') == 'OK':
                passed += int(CMOCKA.findall(out)[-1])
            elif t.get('result') == 'OK':
                passed += 1
            elif t.get('result') == 'SKIP':
                skipped += 1
            else:
                failed += 1
    print('TOTAL: %d passed, %d failed, %d skipped' % (passed, failed, skipped))


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'build/meson-logs/testlog.json')
