# SPDX-License-Identifier: MIT
"""A loopback TCP connection to itself, with bytes unread in both directions at any time.

  tcp_pair_prog.py TICKS [v6] [big] [reuse] [late] [nolisten]

Opens, at fixed fds (printed as "fds NAME=FD ..."):
  listen   TCP listening on 127.0.0.1 (or ::1), port chosen by the kernel, at fd 10 (with
           "late" at fd 20, after the connections); SO_REUSEADDR only with "reuse" (its
           accepted sockets inherit it); with "nolisten" closed once both are accepted
  client   connected to it: TCP_NODELAY, SO_KEEPALIVE with TCP_KEEPIDLE 123, SO_RCVBUF 100000,
           SO_REUSEADDR with "reuse"
  server   the accepted end: SO_SNDBUF 150000, TCP_USER_TIMEOUT 4321, SO_LINGER 7 s
  hclient  a second connection, half closed: it wrote "half" and shut down its sending side
  hserver  its accepted end, which has not read "half" nor the end of file yet, but peeked at
           "ha" with SO_PEEK_OFF on (where TCP has it: "peek_off 2")
  iserver  an idle connection's accepted end, at a lower fd than its client so that it closes
           first when the program is killed: the old connection's TIME_WAIT is on its port
  iclient  its client
Every tick each of client and server sends one numbered message (8 bytes, "c000001\\n",
"s000001\\n") and reads the other's messages but the last two, so that two are always
unread on each side. With "big", client writes 1 MiB (a byte pattern) before its messages and
server reads none of them until a restore: most of that is in client's send queue (not yet
acknowledged: SIOCOUTQ > 0, printed as "outq N").

Follows tests/progs/common.h: ready, tick N, "resumed N" on the first tick after a restore
(getppid() changed), FAIL ..., done. On every tick and after a restore it checks the fd
numbers, getsockname/getpeername of every socket, and the options above; after a restore it
checks that exactly two messages are queued for each side (SIOCINQ), that reading goes on
with the next numbers ("pair continues"), and, after the first restore, that hserver reads
"half" then end of file while hclient still reads what hserver sends ("half closed kept").
With "big" the server then reads the whole backlog and checks it ("backlog intact N").
"""
import fcntl
import os
import select
import socket
import struct
import sys
import termios
import time

from common import at, fail, run as common_run

TICKS = int(sys.argv[1])
V6 = 'v6' in sys.argv[2:]
BIG = 'big' in sys.argv[2:]
REUSE = 'reuse' in sys.argv[2:]
LATE = 'late' in sys.argv[2:]
NOLISTEN = 'nolisten' in sys.argv[2:]
FAM = socket.AF_INET6 if V6 else socket.AF_INET
LO = '::1' if V6 else '127.0.0.1'
MSG = 8
LAG = 2
BACKLOG = 1 << 20
SIOCINQ = termios.FIONREAD
SIOCOUTQ = termios.TIOCOUTQ
TCP_ESTABLISHED, TCP_FIN_WAIT1, TCP_FIN_WAIT2, TCP_CLOSE_WAIT = 1, 4, 5, 8


def ioctl_int(s, req):
    return struct.unpack('i', fcntl.ioctl(s.fileno(), req, b'\0' * 4))[0]


def tcp_state(s):
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def pattern(off, n):
    return bytes((i * 7 + 3) % 251 for i in range(off, off + n))


def read_exact(s, n, what):
    buf = b''
    s.settimeout(5)
    while len(buf) < n:
        try:
            data = s.recv(n - len(buf))
        except socket.timeout:
            fail('%s: %d of %d bytes came within 5 s' % (what, len(buf), n))
        if not data:
            fail('%s: end of file after %d of %d bytes' % (what, len(buf), n))
        buf += data
    s.settimeout(None)
    return buf


listen = socket.socket(FAM, socket.SOCK_STREAM)
if REUSE:
    listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listen.bind((LO, 0))
listen.listen(4)
listen = at(listen, 20 if LATE else 10)
LADDR = listen.getsockname()

client = socket.socket(FAM, socket.SOCK_STREAM)
if REUSE:
    client.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
client.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
client.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 123)
client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 100000)
client.connect(LADDR[:2])
client = at(client, 11)
server, _ = listen.accept()
server = at(server, 12)
server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 150000)
server.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 4321)
server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 7))

hclient = at(socket.create_connection(LADDR[:2]), 13)
hserver, _ = listen.accept()
hserver = at(hserver, 14)
hclient.sendall(b'half')
hclient.shutdown(socket.SHUT_WR)
iclient = socket.create_connection(LADDR[:2])
iserver, _ = listen.accept()
iserver = at(iserver, 15)
iclient = at(iclient, 16)
if NOLISTEN:
    listen.close()
# hserver peeks at "ha": its peek offset (SO_PEEK_OFF, TCP since Linux 6.10) is then 2
SO_PEEK_OFF = 42
select.select([hserver], [], [], 2)
try:
    hserver.setsockopt(socket.SOL_SOCKET, SO_PEEK_OFF, 0)
    PEEK = True
except OSError:
    PEEK = False
if PEEK and hserver.recv(2, socket.MSG_PEEK) != b'ha':
    fail('hserver peeked no "ha"')
print('peek_off %s' % ('2' if PEEK else 'unsupported'), flush=True)

OPTS = {
    'client': [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1), (socket.SOL_SOCKET,
               socket.SO_KEEPALIVE, 1), (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 123),
               (socket.SOL_SOCKET, socket.SO_RCVBUF, client.getsockopt(socket.SOL_SOCKET,
                                                                       socket.SO_RCVBUF)),
               (socket.SOL_SOCKET, socket.SO_REUSEADDR, 1 if REUSE else 0)],
    'server': [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0), (socket.SOL_SOCKET,
               socket.SO_SNDBUF, server.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)),
               (socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 4321),
               (socket.SOL_SOCKET, socket.SO_REUSEADDR, 1 if REUSE else 0)],
}
SOCKS = {'client': client, 'server': server, 'hclient': hclient, 'hserver': hserver,
         'iserver': iserver, 'iclient': iclient}
if not NOLISTEN:
    SOCKS['listen'] = listen
FDS = {n: s.fileno() for n, s in SOCKS.items()}
NAMES = {n: (s.getsockname(), None if n == 'listen' else s.getpeername())
         for n, s in SOCKS.items()}
print('fds ' + ' '.join('%s=%d' % (n, fd) for n, fd in FDS.items()), flush=True)
print('addr %s %d client %d' % (LADDR[0], LADDR[1], client.getsockname()[1]), flush=True)

backlog = 0
if BIG:
    client.setblocking(False)
    data = pattern(0, BACKLOG)
    while backlog < BACKLOG:
        try:
            backlog += client.send(data[backlog:])
        except BlockingIOError:
            break
    client.setblocking(True)
    if backlog < BACKLOG:
        fail('only %d bytes of the backlog fit' % backlog)
    time.sleep(0.1)
    print('outq %d' % ioctl_int(client, SIOCOUTQ), flush=True)

sent = {'c': 0, 's': 0}         # messages sent by client, server
got = {'c': 0, 's': 0}          # messages of each read by the other side
drained = not BIG               # server has read the backlog


def check_static(where):
    for n, s in SOCKS.items():
        if s.fileno() != FDS[n]:
            fail('%s: %s at fd %d, want %d' % (where, n, s.fileno(), FDS[n]))
        names = (s.getsockname(), None if n == 'listen' else s.getpeername())
        if names != NAMES[n]:
            fail('%s: %s is %s, want %s' % (where, n, names, NAMES[n]))
    if not NOLISTEN and not listen.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        fail('%s: listener no longer listening' % where)
    for n, opts in OPTS.items():
        for level, opt, want in opts:
            v = SOCKS[n].getsockopt(level, opt)
            if (v != 0) != (want != 0) or (want > 1 and v != want):
                fail('%s: %s option %d is %d, want %d' % (where, n, opt, v, want))
    if PEEK and not half_done and hserver.getsockopt(socket.SOL_SOCKET, SO_PEEK_OFF) != 2:
        fail('%s: hserver peek offset %d, want 2' % (
            where, hserver.getsockopt(socket.SOL_SOCKET, SO_PEEK_OFF)))
    lg = struct.unpack('ii', server.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8))
    if lg != (1, 7):
        fail('%s: server SO_LINGER %s' % (where, lg))
    # hclient's FIN may wait for a delayed ACK
    for n, st in (('client', (TCP_ESTABLISHED,)), ('server', (TCP_ESTABLISHED,)),
                  ('iclient', (TCP_ESTABLISHED,)), ('iserver', (TCP_ESTABLISHED,)),
                  ('hclient', (TCP_FIN_WAIT1, TCP_FIN_WAIT2)), ('hserver', (TCP_CLOSE_WAIT,))):
        if n.startswith('h') and half_done:
            continue
        if tcp_state(SOCKS[n]) not in st:
            fail('%s: %s in TCP state %d, want %s' % (where, n, tcp_state(SOCKS[n]), st))


def read_msgs(s, who, upto):
    """Reads the messages of who (c or s) up to number upto, checking their numbers."""
    while got[who] < upto:
        want = b'%s%06d\n' % (who.encode(), got[who] + 1)
        m = read_exact(s, MSG, 'message %d of %s' % (got[who] + 1, who))
        if m != want:
            fail('read %r, want %r' % (m, want))
        got[who] += 1


def exchange():
    sent['c'] += 1
    client.sendall(b'c%06d\n' % sent['c'])
    sent['s'] += 1
    server.sendall(b's%06d\n' % sent['s'])
    read_msgs(client, 's', sent['s'] - LAG)
    if drained:
        read_msgs(server, 'c', sent['c'] - LAG)


def check_after_restore(first):
    global drained, half_done
    # exactly the unread messages are queued on each side
    for s, n, who in ((client, 'client', 's'), (server, 'server', 'c')):
        if who == 'c' and not drained:
            continue
        want = (sent[who] - got[who]) * MSG
        end = time.monotonic() + 2
        while ioctl_int(s, SIOCINQ) < want and time.monotonic() < end:
            time.sleep(0.01)
        inq = ioctl_int(s, SIOCINQ)
        if inq != want:
            fail('%s: %d bytes queued after the restore, want %d' % (n, inq, want))
    if not drained:
        data = read_exact(server, backlog, 'the backlog')
        if data != pattern(0, backlog):
            bad = next(i for i in range(backlog) if data[i] != pattern(i, 1)[0])
            fail('backlog: byte %d differs' % bad)
        drained = True
        print('backlog intact %d' % backlog, flush=True)
        read_msgs(server, 'c', sent['c'] - LAG)
    # the next messages are the ones after those read
    read_msgs(client, 's', sent['s'])
    read_msgs(server, 'c', sent['c'])
    print('pair continues at c%d s%d' % (got['c'], got['s']), flush=True)
    iclient.sendall(b'idle')
    if read_exact(iserver, 4, 'idle') != b'idle':
        fail('iserver did not read "idle"')
    iserver.sendall(b'IDLE')
    if read_exact(iclient, 4, 'IDLE') != b'IDLE':
        fail('iclient did not read "IDLE"')
    print('idle pair works', flush=True)
    if first:
        if PEEK and hserver.recv(2, socket.MSG_PEEK) != b'lf':
            fail('hserver: peeking after the restore did not go on at its offset')
        if read_exact(hserver, 4, 'half') != b'half':
            fail('hserver did not read "half"')
        hserver.settimeout(2)
        if hserver.recv(10) != b'':
            fail('hserver: no end of file after "half"')
        hserver.sendall(b'back')
        if read_exact(hclient, 4, 'back') != b'back':
            fail('hclient did not read what hserver sent')
        half_done = True
        print('half closed kept', flush=True)


half_done = False
common_run(TICKS, check_static, check_after_restore, exchange)
