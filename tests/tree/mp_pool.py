# SPDX-License-Identifier: MIT
"""python3 multiprocessing (fork): a Pool of 2 workers, a Queue and a Lock, all built on pipes
and POSIX semaphores (sem_open, then unlinked: shared mappings of deleted files in /dev/shm).

  mp_pool.py TICKS

Every tick: one task through the pool (its result checked), one message through the queue
from a worker process that holds the lock. Prints ready, tick N, FAIL ..., done.
"""
import multiprocessing as mp
import sys
import time


def square(x):
    return x * x


def relay(q, lock, n):
    with lock:
        q.put(('relay', n))


def main():
    ticks = int(sys.argv[1])
    mp.set_start_method('fork')
    q, lock = mp.Queue(), mp.Lock()
    print('ready', flush=True)
    with mp.Pool(2) as pool:
        for i in range(ticks):
            r = pool.apply(square, (i,))
            if r != i * i:
                print('FAIL pool: square(%d) = %r' % (i, r), flush=True)
            p = mp.Process(target=relay, args=(q, lock, i))
            p.start()
            got = q.get(timeout=10)
            p.join()
            if got != ('relay', i) or p.exitcode != 0:
                print('FAIL queue: got %r, exit %r' % (got, p.exitcode), flush=True)
            print('tick %d' % (i + 1), flush=True)
            time.sleep(0.02)
    print('done', flush=True)


if __name__ == '__main__':
    main()
