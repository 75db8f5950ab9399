# SPDX-License-Identifier: MIT
# A shell pipeline of real programs: a bash subshell (which runs sleep) feeds numbers through a
# pipe to python3, which prints "tick N" for each and "FAIL ..." if one is lost or repeated.
#   bash pipeline.sh COUNT
n=${1:-200}
i=0
while [ $i -lt $n ]; do echo $i; i=$((i+1)); sleep 0.05; done | python3 -u -c '
import sys
want = 0
print("ready")
for line in sys.stdin:
    got = int(line)
    if got != want:
        print("FAIL got %d, want %d" % (got, want))
    want = got + 1
    print("tick %d" % got)
print("done")'
