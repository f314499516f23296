"""Lift function-level imports (without 'lazily') to module level."""
import ast, sys
for path in sys.argv[1:]:
    src = open(path).read(); lines = src.splitlines(keepends=True)
    tree = ast.parse(src)
    top = set(map(id, tree.body))
    inner = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in top]
    inner = [n for n in inner if "lazily" not in lines[n.lineno - 1] and n.end_lineno == n.lineno]
    if not inner: continue
    texts = []
    for n in sorted(inner, key=lambda n: -n.lineno):
        t = lines[n.lineno - 1].strip()
        if "#" in t: t = t[:t.index("#")].rstrip()
        texts.append(t)
        # replace with 'pass' if the block would become empty? keep simple: delete line
        del lines[n.lineno - 1]
    last_top = max(n.end_lineno for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))
    # line numbers shift for deleted lines before last_top: none (inner imports are after top imports)
    existing = set(l.strip() for l in lines[:last_top])
    new = [t + "\n" for t in dict.fromkeys(reversed(texts)) if t not in existing]
    lines[last_top:last_top] = new
    open(path, "w").write("".join(lines))
    print(path, len(new))
