#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ckpt-info on an image written by the mkimage helper.

usage: test_ckpt_info.py CKPT_INFO MKIMAGE
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

CKPT_INFO, MKIMAGE = sys.argv[1:3]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def info(*args):
    p = subprocess.run([CKPT_INFO, *args], capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def flipped_copy(src, dst, offset):
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x5A]))


def frame_names(frames):
    return [f["function"] for f in frames or [] if f["function"]]


def test_text(img):
    rc, out, err = info(img)
    check(rc == 0, "text: exit %d, stderr %r" % (rc, err))
    for heading in ("Process", "Regions", "Threads (3)", "File descriptors (4)",
                    "Timers (1)", "Plugins (1)", "Total:"):
        check(heading in out, "text: no %r" % heading)
    check("\x1b" not in out and "lost\\x1b[31m" in out, "text: control character not escaped")
    check("\ufffd" not in out and '"quoted"\\x0a\\xff' in out, "text: invalid UTF-8 not escaped")
    if "built without libunwind" not in out:
        for frame in ("capture_deep+", "main+", "worker_loop+", "worker_main+", "??"):
            check(frame in out, "text: backtrace lacks %r" % frame)
    rc, out, _ = info("--no-backtrace", img)
    check(rc == 0 and "#0" not in out, "--no-backtrace still prints frames")


def test_json(img):
    rc, out, err = info("--json", img)
    check(rc == 0, "json: exit %d, stderr %r" % (rc, err))
    try:
        doc = json.loads(out)
    except ValueError as e:
        check(False, "json: does not parse: %s" % e)
        return
    check(doc["image"]["version"] == 1, "json: version")
    check(doc["process"]["nr_threads"] == 3 and len(doc["threads"]) == 3, "json: threads")
    check(doc["threads"][0]["leader"] is True, "json: leader flag")
    check(doc["threads"][2]["comm"] == "lost\x1b[31m", "json: comm escaping")
    check(doc["fds"][3]["path"].startswith('/etc/h\u00e9llo "quoted"\n'), "json: path escaping")
    check(doc["plugins"] == [{"name": "demo", "version": 2, "size": 16}], "json: plugins")
    check(doc["totals"]["regions"] == len(doc["regions"]), "json: totals")
    check(any(r["kind"] == "stack" and r["bytes_stored"] > 0 for r in doc["regions"]),
          "json: stored stack region")
    check(any(s["name"] == "SIGUSR1" and s["function"] == "on_usr1"
              for s in doc["process"]["sigactions"]), "json: SIGUSR1 handler")
    bt = doc["threads"][0]["backtrace"]
    if bt is not None:
        names = frame_names(bt)
        check(names[:3] == ["capture_deep", "capture", "main"], "json: backtrace %r" % names)
        # stopped by a signal in a system call, as libckpt stops threads
        names = frame_names(doc["threads"][1]["backtrace"])
        check("worker_loop" in names and "worker_main" in names, "json: backtrace %r" % names)
        lost = doc["threads"][2]["backtrace"]
        check(len(lost) == 1 and lost[0]["function"] is None and lost[0]["file"] is None,
              "json: unmapped frame")
    rc, out, _ = info("--json", "--no-backtrace", img)
    check(rc == 0 and "backtrace" not in json.loads(out)["threads"][0],
          "json: --no-backtrace")


def test_verify(img, tmp):
    rc, out, _ = info("--verify", img)
    check(rc == 0 and "Verify: OK" in out, "--verify on a good image: exit %d" % rc)
    rc, out, _ = info("--json", "--verify", img)
    check(rc == 0 and json.loads(out)["verify"] == {"ok": True}, "--json --verify: good image")

    pages = os.path.join(tmp, "pages.ckpt")
    flipped_copy(img, pages, 4096 + 100)
    rc, _, _ = info(pages)
    check(rc == 0, "page data is not read without --verify: exit %d" % rc)
    rc, out, err = info("--verify", pages)
    check(rc == 8 and "Verify: FAILED (exit 8)" in out and err.startswith("ckpt-info: "),
          "--verify on bad page data: exit %d" % rc)
    rc, out, _ = info("--json", "--verify", pages)
    v = json.loads(out)["verify"]
    check(rc == 8 and v["ok"] is False and v["code"] == 8, "--json --verify on bad page data")


def test_errors(img, tmp):
    size = os.path.getsize(img)
    meta = os.path.join(tmp, "meta.ckpt")
    flipped_copy(img, meta, size - 5)
    rc, out, err = info(meta)
    check(rc == 8 and out == "" and err.startswith("ckpt-info: ") and err.count("\n") == 1,
          "corrupted section table: exit %d, stderr %r" % (rc, err))
    flipped_copy(img, meta, 64)
    rc, _, _ = info(meta)
    check(rc == 8, "corrupted header: exit %d" % rc)

    rc, _, _ = info(os.path.join(tmp, "missing.ckpt"))
    check(rc == 3, "missing image: exit %d" % rc)
    junk = os.path.join(tmp, "junk.ckpt")
    with open(junk, "wb") as f:
        f.write(os.urandom(8192))
    rc, _, _ = info(junk)
    check(rc == 4, "foreign file: exit %d" % rc)
    short = os.path.join(tmp, "short.ckpt")
    with open(img, "rb") as src, open(short, "wb") as dst:
        dst.write(src.read(size // 2))
    rc, _, _ = info(short)
    check(rc == 7, "truncated image: exit %d" % rc)

    check(info()[0] == 2, "no arguments: exit 2")
    check(info(img, img)[0] == 2, "two images: exit 2")
    check(info("--bogus", img)[0] == 2, "unknown option: exit 2")
    rc, out, _ = info("--help")
    check(rc == 0 and all(s in out for s in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS",
                                             "EXIT STATUS", "EXAMPLES")), "--help")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        img = os.path.join(tmp, "self.ckpt")
        p = subprocess.run([MKIMAGE, img], capture_output=True, timeout=60)
        if p.returncode:
            print("mkimage failed:", p.stderr.decode())
            return 1
        test_text(img)
        test_json(img)
        test_verify(img, tmp)
        test_errors(img, tmp)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
