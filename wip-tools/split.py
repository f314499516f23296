"""split a module's top-level nodes into several files by name. usage: split.py src spec.json"""
import ast, json, sys
src, spec = sys.argv[1], json.load(open(sys.argv[2]))
text = open(src).read(); lines = text.splitlines(keepends=True)
tree = ast.parse(text)
body = tree.body
# header: docstring + imports (everything before the first def/class/assign that isn't import)
chunks = []  # (name, start, end)
prev_end = 0
first = None
for i, node in enumerate(body):
    if isinstance(node, (ast.Import, ast.ImportFrom)) or (i == 0 and isinstance(node, ast.Expr)):
        prev_end = node.end_lineno; continue
    if first is None: first = prev_end
    start = prev_end
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)): name = node.name
    elif isinstance(node, ast.Assign): name = node.targets[0].id
    elif isinstance(node, ast.AnnAssign): name = node.target.id
    else: name = "?"
    chunks.append((name, start, node.end_lineno)); prev_end = node.end_lineno
header = "".join(lines[:first])
out = {f: [] for f in spec["files"]}
default = spec["default"]
for name, s, e in chunks:
    target = next((f for f, names in spec["files"].items() if name in names), default)
    out[target].append("".join(lines[s:e]))
for f, parts in out.items():
    body = "".join(parts).strip("\n")
    open(f, "w").write(spec["headers"].get(f, header) + "\n\n" + body + "\n")
    print(f, len(parts))
