# SPDX-License-Identifier: Apache-2.0
"""hostile.py -- a profiled process that attacks the worker through its own files.

    hostile.py fifo DIR            map a file executable, unlink it, put a FIFO at its path
    hostile.py sparse DIR          map two sparse ELF files whose headers claim huge tables
    hostile.py symlink MODE R LIB HOST FN_OFF
                                   map R/lib/LIB, hide it (MODE "deleted": unlink it;
                                   "mountns": it lives on a tmpfs only this process's mount
                                   namespace sees), chroot into R and plant, at the path the
                                   worker reads in /proc/PID/maps, an absolute symlink to the
                                   host-only file HOST; then run the mapped code at FN_OFF
    hostile.py maps DIR N          map one long-named file executable N times

Each mode writes "ready" to stdout once set up and then burns CPU until killed, so that
the worker samples it (and looks at its mappings) for the whole recording.
"""

import ctypes
import mmap
import os
import struct
import sys
import time
def ready():
    sys.stdout.write("ready\n")
    sys.stdout.flush()


def burn(duty=1.0):
    """Spin; with duty < 1, only that share of the time (enough to be sampled, light on a
    shared machine when many hostile processes run)."""
    x = 0
    while True:
        end = time.monotonic() + 0.01 * duty
        while time.monotonic() < end:
            x = (x * 31 + 7) % 1000003
        if duty < 1.0:
            time.sleep(0.01 * (1.0 - duty))


def map_exec(path, length=4096):
    fd = os.open(path, os.O_RDONLY)
    m = mmap.mmap(fd, length, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_EXEC)
    os.close(fd)
    return m


def fifo(d):
    path = os.path.join(d, "libswapped.so")
    with open("/bin/true", "rb") as src, open(path, "wb") as dst:
        dst.write(src.read())
    keep = map_exec(path)
    os.unlink(path)
    os.mkfifo(path)  # a blocking open() of it waits for a writer forever
    ready()
    burn()
    return keep


def ehdr64(shoff, shnum, phoff=0, phnum=0, shstrndx=0):
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    return ident + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, phoff, shoff, 0, 64, 56, phnum,
                               64, shnum, shstrndx)


def shdr64(name=0, typ=0, flags=0, addr=0, off=0, size=0, link=0, info=0, align=0, entsize=0):
    return struct.pack("<IIQQQQIIQQ", name, typ, flags, addr, off, size, link, info, align,
                       entsize)


def sparse(d):
    gib = 1 << 30
    # 1: extended section numbering claims 2 million sections in a 64 GiB file of which
    # one page exists; libelf allocates a descriptor per section at elf_begin.
    a = os.path.join(d, "libmanysections.so")
    with open(a, "wb") as f:
        f.write(ehdr64(shoff=4096, shnum=0))
        f.seek(4096)
        f.write(shdr64(size=2_000_000))
        f.truncate(64 * gib)
    # 2: a one-symbol .symtab whose .strtab claims 400 MiB of holes.
    b = os.path.join(d, "libhugestrtab.so")
    with open(b, "wb") as f:
        f.write(ehdr64(shoff=0x200, shnum=3))
        f.seek(0x100)
        f.write(bytes(24) + struct.pack("<IBBHQQ", 1, 0x12, 0, 1, 0x1000, 16))
        f.seek(0x200)
        f.write(shdr64() + shdr64(typ=2, off=0x100, size=48, link=2, entsize=24, align=8) +
                shdr64(typ=3, off=gib, size=400 << 20, align=1))
        f.truncate(2 * gib)
    keep = [map_exec(a), map_exec(b)]
    ready()
    burn()
    return keep


def symlink(mode, root, lib, host, fn_off):
    libc = ctypes.CDLL(None, use_errno=True)
    libdir = os.path.join(root, "lib")
    path = os.path.join(libdir, lib)
    if mode == "mountns":
        # A private mount namespace with a tmpfs on R/lib: the worker reads this path in
        # our maps, but it does not exist in its own mount namespace.
        with open(path, "rb") as f:
            data = f.read()
        if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
            raise OSError(ctypes.get_errno(), "unshare")
        if libc.mount(None, b"/", None, 0x4000 | 0x40000, None) != 0:  # MS_REC | MS_PRIVATE
            raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
        if libc.mount(b"tmpfs", libdir.encode(), b"tmpfs", 0, None) != 0:
            raise OSError(ctypes.get_errno(), "mount tmpfs")
        with open(path, "wb") as f:
            f.write(data)    # mmap through libc: Python's mmap gives no address for a read-only mapping.
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    fd = os.open(path, os.O_RDONLY)
    base = libc.mmap(None, os.path.getsize(path), mmap.PROT_READ | mmap.PROT_EXEC,
                     mmap.MAP_PRIVATE, fd, 0)
    os.close(fd)
    if base in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "mmap")
    os.chroot(root)
    os.chdir("/")
    inner = path[len(root):]
    if mode == "deleted":
        os.unlink(inner)
    # The worker sees `path` (host view) in /proc/PID/maps and looks it up inside our root.
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(host, path)
    ready()
    ctypes.CFUNCTYPE(None)(base + fn_off)()  # spins in the mapped function


def maps(d, n):
    # A path near PATH_MAX: every maps line is about 4 KiB.
    parts = [d] + ["x" * 200] * 18
    long_dir = os.path.join(*parts)
    os.makedirs(long_dir, exist_ok=True)
    path = os.path.join(long_dir, "lib" + "y" * 60 + ".so")
    with open(path, "wb") as f:
        f.write(bytes(4096))
    keep = [map_exec(path) for _ in range(n)]
    ready()
    burn(0.2)
    return keep


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "fifo":
        fifo(args[0])
    elif mode == "sparse":
        sparse(args[0])
    elif mode == "symlink":
        symlink(args[0], args[1], args[2], args[3], int(args[4], 0))
    elif mode == "maps":
        maps(args[0], int(args[1]))
    else:
        sys.exit(f"hostile.py: unknown mode {mode}")
