#!/usr/bin/python3
"""exports_check.py - libcask.so exports the public API and nothing else.

usage: exports_check.py LIBCASK_SO INCLUDE_DIR

The dynamic symbols the library defines (nm -D --defined-only) must all be
public API, named cask_ and a lowercase letter, and every function declared
in INCLUDE_DIR/cask/*.h must be among them: a declaration that lost its
CASK_API mark (include/cask/export.h) is hidden by -fvisibility=hidden and
fails here, and so does an internal function that leaked out.
"""
import glob
import re
import subprocess
import sys


def blank(m):
    return re.sub(r"[^\n]", " ", m.group(0))


def declared(header):
    """Names of the functions a header declares at file scope."""
    s = open(header).read()
    s = re.sub(r'(?s)#ifdef __cplusplus\n.*?#endif', blank, s)  # extern "C" { }
    s = re.sub(r"(?s)/\*.*?\*/", blank, s)
    s = re.sub(r'"(\\.|[^"\\\n])*"', blank, s)
    s = re.sub(r"(?m)^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", blank, s)  # macros
    names, depth, stmt = [], 0, ""
    for c in s:
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif depth == 0 and c == ";":
            t = stmt.strip()
            m = re.match(r"[^()]*?\b([A-Za-z_]\w*)\s*\(", t)
            if m and not t.startswith("typedef") and "}" not in stmt:
                names.append(m.group(1))
            stmt = ""
            continue
        if depth == 0 and c == "}":
            stmt = ""
        elif depth == 0:
            stmt += c
    return names


def main():
    lib, include = sys.argv[1], sys.argv[2]
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True, capture_output=True, text=True).stdout
    exported = {line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()}
    public = set()
    # include/cask/mpi.h is built only with MPI (CASK_MPI): "nompi" leaves it out
    nompi = len(sys.argv) > 3 and sys.argv[3] == "nompi"
    for h in sorted(glob.glob(include + "/cask/*.h")):
        if nompi and h.endswith("/mpi.h"):
            continue
        public.update(declared(h))
    bad = sorted(n for n in exported if not re.match(r"cask_[a-z]", n))
    missing = sorted(public - exported)
    undeclared = sorted(exported - public - set(bad))
    for name in bad:
        print("exported but not public API:", name)
    for name in undeclared:
        print("exported but declared in no public header:", name)
    for name in missing:
        print("declared in a public header but not exported (CASK_API missing?):", name)
    if bad or missing or undeclared or not public:
        return 1
    print(f"exports check: {len(exported)} symbols, all public API; {len(public)} declared, all exported: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
