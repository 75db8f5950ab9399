#!/bin/sh
# Sets up, builds, and shows a checkpoint and restart of a real program:
# a Python script with worker threads is checkpointed, killed, inspected
# and restored, and continues where it was.
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh >/dev/null
B=$PWD/build
DIR=$(mktemp -d /tmp/ckpt-demo.XXXXXX)
cat > "$DIR/work.py" <<'PY'
import threading, time
total = [0, 0, 0]
def worker(i):
    while True:
        total[i] += 1
        time.sleep(0.001)
for i in range(3):
    threading.Thread(target=worker, args=(i,), daemon=True).start()
for step in range(40):
    print(f"step {step:2d}  work done by 3 threads: {sum(total)}", flush=True)
    time.sleep(0.1)
print("finished", flush=True)
PY
echo "== starting python3 under ckpt-run"
"$B/tools/ckpt-run" -d "$DIR" python3 "$DIR/work.py" &
PID=$!
sleep 1.2
echo "== ckpt-ctl checkpoint $PID"
IMG=$("$B/tools/ckpt-ctl" checkpoint "$PID")
echo "   image: $IMG ($(du -h "$IMG" | cut -f1))"
sleep 0.3
echo "== killing $PID"
kill -9 "$PID"
wait "$PID" 2>/dev/null || true
echo "== ckpt-info (summary)"
"$B/tools/ckpt-info" --no-backtrace "$IMG" | head -12
echo "== ckpt-restore $IMG: the program continues from the checkpoint"
"$B/src/restore/ckpt-restore" "$IMG"
echo "== done (images in $DIR)"
