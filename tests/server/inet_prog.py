# SPDX-License-Identifier: MIT
"""TCP and UDP sockets of every supported state, checked on every tick and after a restore.

  inet_prog.py TICKS [v6]

Opens, at fixed fds (printed as "fds NAME=FD ..."):
  listen   TCP listening on 127.0.0.1 (or ::1), non-blocking, TCP_NODELAY, SO_REUSEADDR,
           backlog 7, with one connection waiting in its accept queue (lost at restore)
  queued   the client end of that waiting connection (its other end is no fd: it comes back
           reset)
  conn     the client end of an established loopback connection
  peer     its accepted end (both ends are the program's: the connection comes back)
  udp      UDP bound to a port
  udpconn  UDP connected to the udp socket
  fresh    TCP neither bound nor connected
Follows tests/progs/common.h: ready, tick N, "resumed N" on the first tick after a restore
(getppid() changed), FAIL ..., done. After a restore it checks that the listener accepts
a new connection at the same address, that both UDP sockets still exchange datagrams, that
conn and peer still exchange bytes on the same addresses, and, after the first restore, that
queued reports a reset (ECONNRESET, then end of file or EPIPE).
"""
import errno
import fcntl
import os
import select
import socket
import sys
import time

from common import at, fail, run as common_run

TICKS = int(sys.argv[1])
V6 = len(sys.argv) > 2 and sys.argv[2] == 'v6'
FAM = socket.AF_INET6 if V6 else socket.AF_INET
LO = '::1' if V6 else '127.0.0.1'


fds = {}
listen = socket.socket(FAM, socket.SOCK_STREAM)
listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listen.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
listen.bind((LO, 0))
listen.listen(7)
listen = at(listen, 10)
listen.setblocking(False)
LADDR = listen.getsockname()

conn = socket.create_connection(LADDR[:2])
conn = at(conn, 11)
for _ in range(200):
    try:
        peer, _ = listen.accept()
        break
    except BlockingIOError:
        time.sleep(0.01)
else:
    fail('accept')
peer = at(peer, 12)
queued = at(socket.create_connection(LADDR[:2]), 13)     # left in the accept queue

udp = socket.socket(FAM, socket.SOCK_DGRAM)
udp.bind((LO, 0))
udp = at(udp, 14)
UADDR = udp.getsockname()
udpconn = socket.socket(FAM, socket.SOCK_DGRAM)
udpconn.connect(UADDR[:2])
udpconn = at(udpconn, 15)
UCADDR = udpconn.getsockname()
fresh = at(socket.socket(FAM, socket.SOCK_STREAM), 16)

conn.sendall(b'hello')
if peer.recv(5) != b'hello':
    fail('no hello')

print('fds listen=10 conn=11 peer=12 queued=13 udp=14 udpconn=15 fresh=16', flush=True)
print('addr %s %d' % (LADDR[0], LADDR[1]), flush=True)
CONN = (conn.getsockname(), conn.getpeername())


def check_static(where):
    if listen.getsockname() != LADDR:
        fail('%s: listener at %s, want %s' % (where, listen.getsockname(), LADDR))
    if not listen.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        fail('%s: no longer listening' % where)
    if not listen.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY):
        fail('%s: TCP_NODELAY lost' % where)
    if not listen.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR):
        fail('%s: SO_REUSEADDR lost' % where)
    if not fcntl.fcntl(listen.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK:
        fail('%s: listener lost O_NONBLOCK' % where)
    if udp.getsockname() != UADDR:
        fail('%s: udp at %s, want %s' % (where, udp.getsockname(), UADDR))
    if udpconn.getpeername() != UADDR:
        fail('%s: udpconn connected to %s' % (where, udpconn.getpeername()))
    if fresh.getsockname()[1] != 0:
        fail('%s: fresh socket is bound' % where)
    if (conn.getsockname(), conn.getpeername()) != CONN or \
            (peer.getsockname(), peer.getpeername()) != CONN[::-1]:
        fail('%s: conn %s, peer %s, want %s' % (where, (conn.getsockname(), conn.getpeername()),
                                                 (peer.getsockname(), peer.getpeername()), CONN))


def check_conn():
    """conn and peer: a connection again, both ways."""
    for a, b, m in ((conn, peer, b'ping'), (peer, conn, b'pong')):
        a.sendall(m)
        b.settimeout(2)
        try:
            got = b.recv(100)
        except OSError as e:
            fail('conn: %r not received: %s' % (m, e))
        if got != m:
            fail('conn: got %r, want %r' % (got, m))
    print('conn exchanges', flush=True)


def check_reset(name, s):
    """A connection after the restore: reset by its peer, as after a network failure."""
    s.setblocking(True)
    r, _, _ = select.select([s], [], [], 2)
    if not r:
        fail('%s: not readable after the restore (no reset seen)' % name)
    errs = []
    try:
        data = s.recv(100)
        errs.append('eof' if data == b'' else 'data %r' % data)
    except OSError as e:
        errs.append(errno.errorcode.get(e.errno, e.errno))
    try:
        s.send(b'x')
        errs.append('sent')
    except OSError as e:
        errs.append(errno.errorcode.get(e.errno, e.errno))
    if errs[0] not in ('ECONNRESET', 'eof') or errs[1] not in ('ECONNRESET', 'EPIPE'):
        fail('%s: after the restore recv/send gave %s, want a reset' % (name, errs))
    if 'ECONNRESET' not in errs:
        fail('%s: no ECONNRESET in %s' % (name, errs))
    print('%s reset: %s' % (name, ' '.join(errs)), flush=True)


def check_after_restore(first):
    # the listener accepts at the same address, and the old waiting connection is gone
    c = socket.create_connection(LADDR[:2], timeout=2)
    r, _, _ = select.select([listen], [], [], 2)
    if not r:
        fail('listener: no new connection after the restore')
    a, _ = listen.accept()
    c.sendall(b'again')
    a.settimeout(2)
    if a.recv(5) != b'again':
        fail('listener: new connection carries no data')
    try:
        extra, _ = listen.accept()
        fail('listener: a connection from before the checkpoint is still queued')
    except BlockingIOError:
        pass
    a.close()
    c.close()
    print('listener accepts', flush=True)
    # udp: both ways, same ports
    udpconn.send(b'ping')
    udp.settimeout(2)
    data, src = udp.recvfrom(100)
    if data != b'ping' or src[:2] != UCADDR[:2]:
        fail('udp: got %r from %s, want ping from %s' % (data, src, UCADDR))
    udp.sendto(b'pong', src)
    udpconn.settimeout(2)
    if udpconn.recv(100) != b'pong':
        fail('udp: no pong')
    print('udp exchanges', flush=True)
    check_conn()
    if first:       # reset (and read) after the first restore
        check_reset('queued', queued)


common_run(TICKS, check_static, check_after_restore)
