#!/usr/bin/env python3
"""Fails when modules of a crate import each other in a circle.

For every crate root given (default: src/ and gateway/src/), each `use crate::...`,
`crate::...` path and `super::...` path in non-test code is resolved to the module that
defines the name (following `pub use` re-exports). Two modules are compared at the level
where they are siblings (children of their lowest common ancestor): `flows::engine` using
`logout::detect` is an arrow `flows -> logout`. A parent using its children, or a child
using what its parent re-exports from elsewhere, is resolved to the real module, and arrows
between a module and its own ancestor are not counted. Every strongly connected set of
siblings larger than one is a cycle, printed with the files that make each arrow.

Test code is left out: files named *tests.rs or under a tests/ folder, modules declared
under #[cfg(test)], and everything after a `#[cfg(test)]` line that opens a `mod`.
"""
import os
import re
import sys
from collections import defaultdict

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_files(root):
    """Maps module path tuples to files, for the crate rooted at `root` (lib.rs/main.rs)."""
    modules = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)[:-3].split(os.sep)
            if rel in (["lib"], ["main"]):
                parts = ()
            elif rel[-1] == "mod":
                parts = tuple(rel[:-1])
            else:
                parts = tuple(rel)
            modules[parts] = path
    return modules


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def non_test_text(text):
    """The file without its #[cfg(test)] module (tests sit at the end by convention)."""
    match = re.search(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+" + IDENT + r"\s*\{", text)
    return text[: match.start()] if match else text


def test_only_children(text):
    return set(
        re.findall(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", text)
    )


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e] (as segment lists)."""
    tree = tree.strip()
    brace = tree.find("{")
    if brace < 0:
        tree = re.sub(r"\s+as\s+" + IDENT + r"$", "", tree)
        return [[s for s in tree.split("::") if s]]
    prefix = [s for s in tree[:brace].split("::") if s]
    inner = tree[brace + 1 : tree.rfind("}")]
    items, depth, current = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        current += ch
    items.append(current)
    out = []
    for item in items:
        if item.strip():
            for path in expand_use(item):
                out.append(prefix + path)
    return out


class Crate:
    def __init__(self, root):
        self.root = root
        self.files = module_files(root)
        self.texts = {}
        self.test_only = set()
        for parts, path in self.files.items():
            with open(path, encoding="utf-8") as f:
                text = strip_comments(f.read())
            for child in test_only_children(text):
                self.test_only.add(parts + (child,))
            self.texts[parts] = non_test_text(text)
        self.reexports = {parts: self._reexports(parts, text) for parts, text in self.texts.items()}

    def is_test(self, parts):
        path = self.files[parts]
        if path.endswith("tests.rs") or f"{os.sep}tests{os.sep}" in path:
            return True
        return any(parts[:i] in self.test_only for i in range(1, len(parts) + 1))

    def _uses(self, text):
        for match in re.finditer(r"\buse\s+([^;]+);", text):
            yield from expand_use(match.group(1))

    def _reexports(self, parts, text):
        names = {}
        for match in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
            for path in expand_use(match.group(1)):
                if path:
                    names[path[-1]] = path
        return names

    def absolute(self, module, path):
        """Turns a use path seen in `module` into segments from the crate root, or None."""
        if not path:
            return None
        if path[0] == "crate":
            return list(path[1:])
        if path[0] in ("super", "self"):
            base = list(module)
            rest = list(path)
            while rest and rest[0] in ("super", "self"):
                if rest.pop(0) == "super":
                    if not base:
                        return None
                    base.pop()
            return base + rest
        if tuple(module) + (path[0],) in self.files:
            return list(module) + list(path)
        return None

    def resolve(self, segments, depth=0):
        """The deepest module a path names, following re-exports."""
        current = ()
        for i, seg in enumerate(segments):
            if current + (seg,) in self.files:
                current = current + (seg,)
                continue
            target = self.reexports.get(current, {}).get(seg)
            if target and depth < 8:
                absolute = self.absolute(current, target)
                if absolute:
                    return self.resolve(absolute + list(segments[i + 1 :]), depth + 1)
            break
        return current

    def arrows(self):
        found = defaultdict(set)
        path_re = re.compile(r"\b(crate|super)((?:::" + IDENT + r")+)")
        for module, text in self.texts.items():
            if self.is_test(module):
                continue
            paths = list(self._uses(text))
            paths += [[m.group(1)] + m.group(2).split("::")[1:] for m in path_re.finditer(text)]
            for path in paths:
                absolute = self.absolute(module, path)
                if absolute is None:
                    continue
                target = self.resolve(absolute)
                if target and not self.is_test(target):
                    found[(module, target)].add(self.files[module])
        return found


def sibling_pair(a, b):
    common = 0
    while common < min(len(a), len(b)) and a[common] == b[common]:
        common += 1
    if common == len(a) or common == len(b):
        return None  # one is the other's ancestor
    return a[: common + 1], b[: common + 1]


def cycles(crate):
    graph = defaultdict(set)
    why = defaultdict(set)
    for (src, dst), files in crate.arrows().items():
        pair = sibling_pair(src, dst)
        if pair:
            graph[pair[0]].add(pair[1])
            why[pair] |= {f"{'::'.join(src)} -> {'::'.join(dst)} ({os.path.relpath(f)})" for f in files}
    # Tarjan's strongly connected components.
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return [
        (component, sorted(r for a in component for b in component if (a, b) in why for r in why[(a, b)]))
        for component in out
    ]


def main(roots):
    failed = False
    for root in roots:
        for component, reasons in cycles(Crate(root)):
            failed = True
            names = ", ".join("::".join(c) for c in component)
            print(f"import cycle in {root}: {names}")
            for reason in reasons:
                print(f"  {reason}")
    if failed:
        return 1
    print(f"no import cycles in {', '.join(roots)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["src", "gateway/src"]))
