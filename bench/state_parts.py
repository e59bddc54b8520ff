"""What a stack's state is made of: bytes (compact JSON) per resource type, per node, and per property of
one node's install command. Usage: state_parts.py EXPORT.json (from `pulumi stack export`)."""
import json
import re
import sys
from collections import Counter

res = json.load(open(sys.argv[1]))["deployment"]["resources"]
size = lambda v: len(json.dumps(v, separators=(",", ":")))
by_type, by_node = Counter(), Counter()
for r in res:
    by_type[r["type"]] += size(r)
    m = re.match(r"(.+?)-cni-(install|upload)$", r["urn"].split("::")[-1])
    if m:
        by_node[m.group(1)] += size(r)
total = sum(by_type.values())
print(f"total {total / 1024:.0f} KB in {len(res)} resources")
for t, b in by_type.most_common(8):
    print(f"  {b / 1024:8.1f} KB  {t}")
if by_node:
    per = sorted(by_node.values())
    print(f"per node (its -cni-upload and -cni-install): median {per[len(per) // 2] / 1024:.1f} KB over {len(per)} nodes")
    install = next(r for r in res if r["urn"].endswith("-cni-install"))
    for part in ("inputs", "outputs"):
        print(f"  {part}: " + ", ".join(f"{k} {size(v) / 1024:.1f} KB" for k, v in sorted(install.get(part, {}).items()) if size(v) > 100))
