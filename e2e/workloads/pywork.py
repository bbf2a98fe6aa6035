# SPDX-License-Identifier: Apache-2.0
"""pywork.py -- Python workloads with known call chains for e2e/test_python.py.

Run as `python3 pywork.py MODE`; each mode loops until killed. Line numbers of
the lines marked HOT are looked up by the test from this file, not hard-coded.
"""
import asyncio
import sys
import threading


def c():
    x = 0
    for i in range(200000):
        x += i * i  # HOT c
    return x


def b():
    return c()


def a():
    return b()


def three():
    x = 0
    for i in range(60000):
        x += i ^ 5
    return x


def one():
    x = 0
    for i in range(20000):
        x += i ^ 5
    return x


def alpha():
    while True:
        x = 0
        for i in range(10000):
            x += i * 3


def beta():
    while True:
        x = 0
        for i in range(10000):
            x -= i * 3


def keyfn(v):
    x = 0
    for i in range(50):
        x += (v * i) & 7
    return x


def sorter():
    data = list(range(2000))
    return sorted(data, key=keyfn)


def gen():
    while True:
        x = 0
        for i in range(5000):
            x += i
        yield x


def consume():
    for _ in gen():
        pass


async def leaf():
    x = 0
    for i in range(20000):
        x += i
    return x


async def mid():
    while True:
        await leaf()
        await asyncio.sleep(0)


def main(mode):
    if mode == "chain":
        while True:
            a()
    elif mode == "split":
        while True:
            three()
            one()
    elif mode == "threads":
        ts = [threading.Thread(target=f, daemon=True) for f in (alpha, beta)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    elif mode == "cext":
        while True:
            sorter()
    elif mode == "gen":
        consume()
    elif mode == "async":
        asyncio.run(mid())


if __name__ == "__main__":
    main(sys.argv[1])
