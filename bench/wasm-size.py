#!/usr/bin/env python3
"""Where the bytes of a wasm module go: code size per crate and the largest functions.

Reads the module's `name` section, so build it unstripped, e.g.
    CARGO_PROFILE_RELEASE_STRIP=false cargo build --release --target wasm32-wasip1 -p openid-connect
    bench/wasm-size.py target/wasm32-wasip1/release/openid_connect.wasm [TOP]

A twiggy-like summary without installing anything: section sizes, then code bytes grouped by
the crate a function's (demangled or v0/legacy-mangled) name starts with, then the TOP
largest functions. Generic code is attributed to the crate that defines the function, as
twiggy does: `serde_json::de::...<openid_connect::X>` counts for serde_json.
"""
import re
import sys
from collections import Counter

SECTION_NAMES = {0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory",
                 6: "global", 7: "export", 8: "start", 9: "element", 10: "code", 11: "data",
                 12: "datacount"}


def leb(data, pos):
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def sections(data):
    pos = 8
    while pos < len(data):
        kind = data[pos]
        size, body = leb(data, pos + 1)
        yield kind, data[body:body + size]
        pos = body + size


def imported_functions(body):
    count, pos = leb(body, 0)
    functions = 0
    for _ in range(count):
        for _ in range(2):  # module, field
            length, pos = leb(body, pos)
            pos += length
        kind = body[pos]
        pos += 1
        if kind == 0:
            _, pos = leb(body, pos)
            functions += 1
        elif kind == 1:  # table: reftype, limits
            pos += 1
            flags, pos = leb(body, pos)
            _, pos = leb(body, pos)
            if flags & 1:
                _, pos = leb(body, pos)
        elif kind == 2:  # memory: limits
            flags, pos = leb(body, pos)
            _, pos = leb(body, pos)
            if flags & 1:
                _, pos = leb(body, pos)
        elif kind == 3:  # global: type, mutability
            pos += 2
    return functions


def function_names(body):
    names = {}
    pos = 0
    name_len, pos = leb(body, pos)
    if body[pos:pos + name_len] != b"name":
        return names
    pos += name_len
    while pos < len(body):
        sub, pos = body[pos], pos + 1
        size, pos = leb(body, pos)
        end = pos + size
        if sub == 1:
            count, p = leb(body, pos)
            for _ in range(count):
                index, p = leb(body, p)
                length, p = leb(body, p)
                names[index] = body[p:p + length].decode("utf-8", "replace")
                p += length
        pos = end
    return names


def crate_of(name):
    """The crate a (mangled or demangled) function name belongs to."""
    v0 = re.search(r"C[sr]?[0-9A-Za-z]*_(\d+)", name) if name.startswith("_R") else None
    if v0:
        return name[v0.end():v0.end() + int(v0.group(1))].lstrip("_")
    legacy = re.match(r"_ZN(\d+)", name)
    if legacy:
        start = legacy.end()
        name = name[start:start + int(legacy.group(1))]
        # `<T as Trait>::f` is spelled `_$LT$T$u20$as$u20$Trait$GT$`: the crate of T.
        name = re.sub(r"^(_?\$LT\$|\$RF\$|\$BP\$|mut\$u20\$|dyn\$u20\$)+", "", name)
        return re.split(r"\.\.|\$", name)[0] or "(other)"
    name = name.lstrip("<&*( ")
    if name.startswith("dyn "):
        name = name[4:]
    match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)::", name)
    return match.group(1) if match else "(other: " + name.split("(")[0][:40] + ")"


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    data = open(path, "rb").read()
    imports = 0
    code_sizes = []
    names = {}
    print(f"{path}: {len(data):,} bytes")
    for kind, body in sections(data):
        label = SECTION_NAMES.get(kind, str(kind))
        if kind == 0:
            length, p = leb(body, 0)
            label += ":" + body[p:p + length].decode("utf-8", "replace")
            if label == "custom:name":
                names = function_names(body)
        print(f"  section {label:<24} {len(body):>10,}")
        if kind == 2:
            imports = imported_functions(body)
        elif kind == 10:
            count, pos = leb(body, 0)
            for _ in range(count):
                size, start = leb(body, pos)
                code_sizes.append(start + size - pos)
                pos = start + size
    by_function = [(size, names.get(imports + i, f"func[{imports + i}]"))
                   for i, size in enumerate(code_sizes)]
    by_crate = Counter()
    for size, name in by_function:
        by_crate[crate_of(name)] += size
    total = sum(code_sizes)
    print(f"\ncode bytes by crate ({total:,} in {len(code_sizes)} functions)")
    for crate, size in by_crate.most_common():
        if size * 1000 < total:
            break
        print(f"  {size:>9,} {size * 100 / total:5.1f}%  {crate}")
    print(f"\nlargest {top} functions")
    for size, name in sorted(by_function, reverse=True)[:top]:
        print(f"  {size:>9,}  {name[:150]}")


if __name__ == "__main__":
    main()
