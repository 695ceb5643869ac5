"""Every README that documents configuration keys matches what the code declares: each key the
reference configuration (`processnow reference-config`, generated from the key specs) lists for a
table is in that component's README key table, and every key a README table names is declared.
A key added to the code without its README row, or a README row left behind after a rename,
fails here with the component and the key named."""
import os
import re
import subprocess
import unittest

from pn_testlib import BINARY, SOURCE_DIR

# README -> the reference-config tables it documents ("drivers:sim" is [drivers.NAME] with
# type = "sim", sub-tables included; "drivers:common" are the keys every driver has).
READMES = {
    "gateway/health/README.md": ["health"],
    "gateway/store/README.md": ["store"],
    "drivers/sim/README.md": ["drivers:sim"],
    "drivers/modbus/README.md": ["drivers:modbus"],
    "drivers/serial/README.md": ["drivers:serial"],
    "drivers/mqtt/README.md": ["drivers:mqtt"],
    "gateway/upstream/README.md": ["upstreams:common"],
    "gateway/upstream/file/README.md": ["upstreams:file"],
    "gateway/upstream/mqtt/README.md": ["upstreams:mqtt"],
    "gateway/upstream/kafka/README.md": ["upstreams:kafka"],
    "gateway/upstream/sparkplug/README.md": ["upstreams:sparkplug"],
}


def declared_keys(reference):
    """{table: keys} from the reference config's structure: `[health]` tables, then per driver or
    upstream type a `## type = "X"` section of commented `# key = value` lines."""
    keys, comp, context = {}, None, None
    for line in reference.splitlines():
        m = re.match(r"^\[([a-z_]+)\]$", line)
        if m:
            comp, context = m.group(1), None
            keys.setdefault(comp, set())
            continue
        m = re.match(r"^# \[(drivers|upstreams)\.NAME\]$", line)
        if m and m.group(1) != context:
            context = m.group(1)
            comp = context + ":common"
            keys.setdefault(comp, set())
            continue
        m = re.match(r'^## type = "([a-z_]+)"', line)
        if m and context:
            comp = f"{context}:{m.group(1)}"
            keys.setdefault(comp, set())
            continue
        m = re.match(r"^# ([a-z_0-9]+) = ", line)
        if m and comp:
            keys[comp].add(m.group(1))
    return keys


def readme_keys(path):
    """Backticked names in the first column of every Markdown table whose header's first cell
    is "key"."""
    out = set()
    with open(path) as f:
        lines = f.read().splitlines()
    in_table = False
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            in_table = False
            continue
        first = line.strip().strip("|").split("|")[0].strip()
        if (first.lower() == "key" and i + 1 < len(lines)
                and re.match(r"^\|[\s:|-]+\|?$", lines[i + 1])):
            in_table = True
            continue
        if in_table and not re.fullmatch(r"[\s:-]*", first):
            out |= set(re.findall(r"`([a-z_0-9]+)`", first))
    return out


class ReadmeKeys(unittest.TestCase):
    def test_every_readme_key_table_matches_the_declared_keys(self):
        proc = subprocess.run([BINARY, "reference-config"], capture_output=True, text=True,
                              timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        declared = declared_keys(proc.stdout)
        self.assertIn("drivers:modbus", declared)  # the parser found the type sections
        self.assertIn("upstreams:kafka", declared)
        problems = []
        for readme, tables in READMES.items():
            documented = readme_keys(os.path.join(SOURCE_DIR, readme))
            want = set().union(*(declared[t] for t in tables))
            # A component's README may also name the keys every instance has.
            allowed = set(want)
            for t in tables:
                if ":" in t:
                    allowed |= declared[t.split(":")[0] + ":common"]
            for key in sorted(want - documented):
                problems.append(f"{readme}: key `{key}` ({', '.join(tables)}) has no row in a "
                                "key table")
            for key in sorted(documented - allowed):
                problems.append(f"{readme}: the key table names `{key}`, which "
                                f"{', '.join(tables)} does not declare")
        self.assertEqual(problems, [], "\n" + "\n".join(problems))


if __name__ == "__main__":
    unittest.main()
