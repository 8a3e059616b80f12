"""The layering rule of docs/design.md, checked: every #include "folder/..."
of a project file names a folder that the design's table allows for the
file's own folder (the table is read from docs/design.md, so the document
and the code cannot drift apart silently)."""
import glob
import os
import re
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def allowed():
    text = open(os.path.join(ROOT, "docs", "design.md"), encoding="utf-8").read()
    table = text[text.index("| folder | may include"):]
    rules = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("| `"):
            break
        cells = line.split("|")
        folder = re.findall(r"`([a-z]+)/`", cells[1])[0]
        rules[folder] = set(re.findall(r"`([a-z]+)/`", cells[2]))
    return rules


class Layers(unittest.TestCase):
    def test_includes_follow_the_design(self):
        rules = allowed()
        self.assertGreaterEqual(len(rules), 10)
        bad = []
        for folder, ok in rules.items():
            files = glob.glob(os.path.join(ROOT, folder, "*.[ch]"))
            self.assertTrue(files, f"{folder}/ has no C files: table out of date?")
            for path in files:
                for inc in re.findall(r'^#include "([^"]+)"', open(path, encoding="utf-8").read(), re.M):
                    top = inc.split("/")[0] if "/" in inc else "include"
                    if top != folder and top not in ok:
                        bad.append(f"{os.path.relpath(path, ROOT)} includes {inc}")
        self.assertEqual(bad, [], "includes against docs/design.md's table")

    def test_every_source_folder_has_a_rule(self):
        rules = allowed()
        folders = {os.path.basename(os.path.dirname(p)) for p in glob.glob(os.path.join(ROOT, "*", "*.c"))}
        folders -= {"fuzz", "bench", "tests"}
        self.assertEqual(sorted(folders - set(rules)), [])


if __name__ == "__main__":
    unittest.main()
