import json, subprocess, sys
def values(rev, f):
    nb = json.loads(subprocess.run(["git", "show", f"{rev}:{f}"], capture_output=True, text=True).stdout)
    out = {}
    for c in nb["cells"]:
        for o in c.get("outputs", []):
            sb = o.get("metadata", {}).get("scrapbook")
            if sb:
                d = o.get("data", {})
                out[sb["name"]] = d.get("application/papermill.record/text/plain", d.get("text/plain"))
    return out
import glob
tot = 0
for f in sorted(glob.glob("book/*.ipynb")):
    a, b = values(sys.argv[1], f), values(sys.argv[2], f)
    diff = [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    tot += len(diff)
    print(f, len(a), len(b), "differ:", diff[:6])
print("total", tot)
