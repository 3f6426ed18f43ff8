#!/usr/bin/env python3
"""Writes the hostile archives of bench/cp-hostile.sh into DIR: each a tar
that a docker cp into a container (PUT /containers/{id}/archive?path=/dst)
could send, good entries first and a bad one last. Usage: cp-hostile.py DIR"""
import io
import os
import sys
import tarfile


def reg(name, body=b"x", uid=0):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.uid, ti.gid = len(body), 0o644, uid, uid
    return ti, body


def special(name, kind, link=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode = kind, link, 0o755 if kind == tarfile.DIRTYPE else 0o777
    return ti, None


GOOD = [special("good", tarfile.DIRTYPE), reg("good/a.txt"), reg("b.txt")]
CASES = {
    "good": GOOD,
    "traversal": GOOD + [reg("../evil.txt")],
    "deep-traversal": GOOD + [reg("good/../../evil.txt")],
    "absolute": GOOD + [reg("/evil.txt")],
    "symlink-climbing": GOOD + [special("up", tarfile.SYMTYPE, "../../..")],
    "symlink-absolute": GOOD + [special("abs", tarfile.SYMTYPE, "/etc"), reg("abs/via-abs.txt")],
    "hardlink-climbing": GOOD + [special("h", tarfile.LNKTYPE, "../etc/passwd")],
    "hardlink-missing": GOOD + [special("h", tarfile.LNKTYPE, "nothing")],
    "parent-is-file": GOOD + [reg("b.txt/c.txt")],
    "dir-over-file": GOOD + [special("b.txt", tarfile.DIRTYPE)],
    "file-over-existing-dir": GOOD + [reg("keepdir")],
    "long-name": GOOD + [reg("n" * 300)],
}


def write(path, entries, truncate=False):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, body in entries:
            tf.addfile(ti, io.BytesIO(body) if body is not None else None)
        end = buf.tell()  # past the last entry's content, before the end blocks
    data = buf.getvalue()
    if truncate:  # cut inside the last entry's content
        data = data[: end - 512 + 100]
    with open(path, "wb") as f:
        f.write(data)


out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, entries in CASES.items():
    write(os.path.join(out, name + ".tar"), entries)
write(os.path.join(out, "truncated.tar"), GOOD + [reg("big.txt", b"y" * 4096)], truncate=True)
