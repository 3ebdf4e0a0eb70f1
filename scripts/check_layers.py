#!/usr/bin/env python3
"""Checks that every core/ library includes only what it declared.

core/CMakeLists.txt writes BUILD_DIR/core_layers.txt, one line per library:
"NAME FOLDER torch|torch-free uses=a,b sources=x.cc,y.cc headers=z.h". A
file belongs to the library that compiles it (x.cc and x.h) or claims it
(headers=); any other header belongs to the library named after its
folder. This script fails when a file includes a core/ header of a library
that its own library does not name in `uses` (a layering leak, header-only
ones included), when a torch-free library includes a LibTorch header or
uses a torch library, or when a source file is in no library.

  check_layers.py BUILD_DIR/core_layers.txt SOURCE_DIR
"""

import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+[<"]([^">]+)[">]', re.M)
TORCH_HEADER = re.compile(r"^(torch|ATen|c10)/")


def read_layers(path):
    libraries = {}
    for line in open(path, encoding="utf-8"):
        fields = line.split()
        if not fields:
            continue
        name, folder, torch = fields[:3]
        attrs = dict(f.split("=", 1) for f in fields[3:])
        libraries[name] = {
            "folder": folder,
            "torch": torch == "torch",
            "uses": [u for u in attrs.get("uses", "").split(",") if u],
            "sources": [s for s in attrs.get("sources", "").split(",") if s],
            "headers": [h for h in attrs.get("headers", "").split(",") if h],
        }
    return libraries


def owners(libraries, source_dir):
    """Maps each file under core/ (relative path) to its library."""
    owner = {}
    for name, lib in libraries.items():
        for src in lib["sources"]:
            stem = os.path.splitext(src)[0]
            for ext in (".cc", ".h"):
                rel = f"{lib['folder']}/{stem}{ext}"
                if ext == ".cc" or os.path.exists(os.path.join(source_dir,
                                                               rel)):
                    owner[rel] = name
        for header in lib["headers"]:
            owner[f"{lib['folder']}/{header}"] = name
    # Sub-folders (core/inference/vart) add optional sources to the library
    # of the folder above them.
    folders = {lib["folder"] for lib in libraries.values()}
    for folder in folders:
        main = os.path.basename(folder)
        for root, dirs, files in os.walk(os.path.join(source_dir, folder)):
            dirs[:] = [d for d in dirs
                       if os.path.relpath(os.path.join(root, d), source_dir)
                       not in folders]
            nested = os.path.relpath(root, source_dir) != folder
            for entry in sorted(files):
                rel = os.path.relpath(os.path.join(root, entry), source_dir)
                if rel in owner or not entry.endswith((".h", ".cc")):
                    continue
                if main not in libraries or (entry.endswith(".cc")
                                             and not nested):
                    owner[rel] = None  # reported below
                else:
                    owner[rel] = main
    return owner


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    libraries = read_layers(argv[1])
    source_dir = argv[2]
    owner = owners(libraries, source_dir)
    problems = []
    for name, lib in sorted(libraries.items()):
        for used in lib["uses"]:
            if used not in libraries:
                problems.append(f"{name}: uses unknown library '{used}'")
            elif not lib["torch"] and libraries[used]["torch"]:
                problems.append(
                    f"{name} is torch-free but uses the torch library {used}")
    for rel, name in sorted(owner.items()):
        if name is None:
            problems.append(f"{rel} is in no library")
            continue
        lib = libraries[name]
        text = open(os.path.join(source_dir, rel), encoding="utf-8").read()
        for header in INCLUDE.findall(text):
            if TORCH_HEADER.match(header) and not lib["torch"]:
                problems.append(
                    f"{rel}: includes <{header}> but {name} is torch-free")
            if not header.startswith("core/"):
                continue
            target = owner.get(header)
            if target is None:
                if header not in owner:
                    problems.append(f"{rel}: includes missing {header}")
                continue
            if target != name and target not in lib["uses"]:
                problems.append(
                    f"{rel}: includes {header} of library {target}, which "
                    f"{name} does not use (add it to USES in "
                    f"{lib['folder']}/CMakeLists.txt if the layering allows)")
    for p in problems:
        print(p)
    print(f"{len(libraries)} core libraries, {len(owner)} files, "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
