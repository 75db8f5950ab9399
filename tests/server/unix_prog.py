# SPDX-License-Identifier: MIT
"""A small server on unix sockets bound to a path and an abstract name.

  unix_prog.py DIR ABSTRACT EXTERNAL

Listens (SOCK_STREAM, backlog 5) on DIR/srv.sock (mode 0640) and on the abstract name
\\0ABSTRACT; binds a datagram socket to DIR/dgram.sock that it reads only when asked; is
itself a client of the server listening on the path EXTERNAL. Each line a client sends
is answered "echo LINE"; the line "DGRAM" is answered "dgrams A,B,..." with the datagrams
queued on DIR/dgram.sock; "SELF" is answered "self ping" after sending ping through a
connection it made to its own listener on the path. A connection that fails is reported "reset NAME ERROR" (NAME:
client, or the listener's name). Prints "fds ...", ready, tick N every 0.1 s.
"""
import os
import select
import socket
import sys
import time

d, abstract, external = sys.argv[1], sys.argv[2], sys.argv[3]
path = os.path.join(d, 'srv.sock')
old = os.umask(0o077)
lp = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
lp.bind(path)
os.umask(old)
os.chmod(path, 0o640)
lp.listen(5)
la = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
la.bind('\0' + abstract)
la.listen(5)
dg = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
dg.bind(os.path.join(d, 'dgram.sock'))
cl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
cl.connect(external)
# a connection to itself through the path: both ends are the program's
selfc = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
selfc.connect(path)
selfa, _ = lp.accept()
print('fds listen=%d abstract=%d dgram=%d client=%d' % (lp.fileno(), la.fileno(), dg.fileno(),
                                                        cl.fileno()), flush=True)
conns = {cl: ('client', b'')}
print('ready', flush=True)
tick, next_tick = 0, time.monotonic()
while True:
    r, _, _ = select.select([lp, la] + list(conns), [], [], 0.05)
    for s in r:
        if s in (lp, la):
            c, _ = s.accept()
            conns[c] = (path if s is lp else '@' + abstract, b'')
            continue
        name, buf = conns[s]
        try:
            data = s.recv(4096)
        except OSError as e:
            print('reset %s %s' % (name, type(e).__name__), flush=True)
            del conns[s]
            s.close()
            continue
        if not data:
            del conns[s]
            s.close()
            continue
        buf += data
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            if line == b'SELF':
                selfc.sendall(b'ping')
                s.sendall(b'self ' + selfa.recv(4) + b'\n')
            elif line == b'DGRAM':
                got = []
                while True:
                    try:
                        got.append(dg.recv(4096, socket.MSG_DONTWAIT).decode())
                    except BlockingIOError:
                        break
                s.sendall(b'dgrams ' + ','.join(got).encode() + b'\n')
            else:
                s.sendall(b'echo ' + line + b'\n')
        conns[s] = (name, buf)
    if time.monotonic() >= next_tick:
        tick += 1
        print('tick %d' % tick, flush=True)
        next_tick += 0.1
