#!/usr/bin/env python3
"""Finds import cycles between the files of each crate.

ARCHITECTURE.md layers the broker and the client: each file imports only what
stands below it. This script checks that no files import each other in a loop.
An edge A -> B means A names an item of B through `crate::…` or `super::…`
(in a `use` or in a path in code); `mod b;` declarations are not edges, since a
parent owning a child is not the child depending on it. A module path is
resolved to the longest prefix that is a file (`crate::kafka::groups::X` ->
`kafka/groups.rs`, else `kafka/mod.rs`).

    scripts/import-cycles.py               # every crate of the workspace
    scripts/import-cycles.py crates/broker # one crate

Prints each cycle (a strongly connected set of files) and exits 1 when there
is one; exits 0 and prints the counts otherwise.
"""

import re
import sys
from pathlib import Path

ROOT = Path.cwd()  # run from the workspace root
PATH = re.compile(r"\b(crate|super)((?:::(?:[A-Za-z_][A-Za-z0-9_]*|\{))+)")
COMMENT = re.compile(r"//.*")


def module_of(src: Path, file: Path) -> list[str]:
    """The module path of a file: src/a/b.rs and src/a/b/mod.rs are ["a", "b"]."""
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts.pop()
    return parts


def file_of(src: Path, modules: dict[tuple, Path], path: list[str]) -> Path | None:
    """The file that holds the longest module prefix of `path`."""
    for n in range(len(path), -1, -1):
        f = modules.get(tuple(path[:n]))
        if f is not None:
            return f
    return None


def edges(src: Path) -> dict[Path, set[Path]]:
    files = sorted(src.rglob("*.rs"))
    modules = {tuple(module_of(src, f)): f for f in files}
    graph: dict[Path, set[Path]] = {f: set() for f in files}
    for f in files:
        here = module_of(src, f)
        # `super` of b.rs and of b/mod.rs is the module holding b.
        parent = here[:-1]
        for line in f.read_text().splitlines():
            line = COMMENT.sub("", line)
            if re.match(r"\s*(pub(\([^)]*\))?\s+)?mod\s", line):
                continue
            for m in PATH.finditer(line):
                base = [] if m.group(1) == "crate" else list(parent)
                rest = [p for p in m.group(2).split("::") if p]
                while rest and rest[0] == "super":
                    base = base[:-1]
                    rest = rest[1:]
                names = []
                for p in rest:
                    if p == "{":
                        break
                    names.append(p)
                target = file_of(src, modules, base + names)
                if target is not None and target != f:
                    graph[f].add(target)
    return graph


def cycles(graph: dict[Path, set[Path]]) -> list[list[Path]]:
    """Strongly connected components of more than one file (Tarjan)."""
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    stack: list[Path] = []
    on: set[Path] = set()
    found: list[list[Path]] = []
    counter = [0]

    def visit(v: Path) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                found.append(sorted(scc))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return found


def main() -> int:
    if len(sys.argv) > 1:
        crates = [ROOT / a for a in sys.argv[1:]]
    else:
        crates = sorted({p.parent.parent for p in ROOT.glob("**/src/lib.rs") if "target" not in p.parts})
    bad = 0
    for crate in crates:
        src = crate / "src"
        graph = edges(src)
        found = cycles(graph)
        n_edges = sum(len(t) for t in graph.values())
        rel = crate.relative_to(ROOT) if crate != ROOT else Path(".")
        print(f"{rel}: {len(graph)} files, {n_edges} imports between them, {len(found)} cycles")
        for scc in found:
            bad += 1
            print("  cycle: " + ", ".join(str(p.relative_to(src)) for p in scc))
            for a in scc:
                for b in sorted(graph[a] & set(scc)):
                    print(f"    {a.relative_to(src)} -> {b.relative_to(src)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
