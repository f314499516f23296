"""Rewrite bannb imports: relative -> absolute (by the file's old module), old module -> new (MODMAP)."""
import re, sys, json
sys.path.insert(0, __import__("os").path.dirname(__file__))
from modmap import MODMAP, OLDPATH

def absolute(module_of_file, is_pkg, dots, rest):
    parts = module_of_file.split(".")
    base = parts if is_pkg else parts[:-1]
    base = base[:len(base) - (dots - 1)]
    return ".".join(base + ([rest] if rest else []))

def remap(mod):
    # longest prefix match on whole components
    parts = mod.split(".")
    for i in range(len(parts), 0, -1):
        head = ".".join(parts[:i])
        if head in MODMAP:
            return ".".join([MODMAP[head]] + parts[i:])
    return mod

FROM = re.compile(r"^(\s*)from (\.+)(\S*) import ", re.M)
ABS = re.compile(r"\b(from|import) (bannb(?:\.\w+)*)")

def rewrite_text(text, module_of_file=None, is_pkg=False):
    if module_of_file:
        def rel(m):
            dots, rest = len(m.group(2)), m.group(3)
            return f"{m.group(1)}from {absolute(module_of_file, is_pkg, dots, rest)} import "
        text = FROM.sub(rel, text)
    # `from bannb import X` where X is a moved module
    def from_pkg(m):
        names = [n.strip() for n in m.group(2).split(",")]
        out = []
        for n in names:
            alias = None
            if " as " in n: n, alias = [s.strip() for s in n.split(" as ")]
            new = remap(f"bannb.{n}")
            if new != f"bannb.{n}":
                pkg, leaf = new.rsplit(".", 1)
                out.append(f"from {pkg} import {leaf}" + (f" as {alias}" if alias else (f" as {n}" if leaf != n else "")))
            else:
                out.append(f"from bannb import {n}" + (f" as {alias}" if alias else ""))
        return m.group(1) + ("\n" + m.group(1)).join(out)
    text = re.sub(r"^(\s*)from bannb import ([\w, ]+)$", from_pkg, text, flags=re.M)
    text = ABS.sub(lambda m: f"{m.group(1)} {remap(m.group(2))}", text)
    return text

if __name__ == "__main__":
    for path in sys.argv[1:]:
        if path.endswith(".ipynb"):
            nb = json.load(open(path))
            for c in nb["cells"]:
                if c["cell_type"] == "code":
                    src = "".join(c["source"]); new = rewrite_text(src)
                    if new != src:
                        c["source"] = new.splitlines(keepends=True)
            open(path, "w").write(json.dumps(nb, indent=1, ensure_ascii=False))
            continue
        text = open(path).read()
        mod = OLDPATH.get(path)
        if mod is None and path.startswith("bannb/"):
            p = path[:-3].replace("/", ".")
            is_pkg = p.endswith("__init__")
            mod = p[:-9] if is_pkg else p
            new = rewrite_text(text, mod, is_pkg)
        elif mod is not None:
            new = rewrite_text(text, mod, False)
        else:
            new = rewrite_text(text)
        if new != text:
            open(path, "w").write(new)
