#!/usr/bin/python3
"""Follow README.md literally on a clean clone and check what it prints.

Every ```sh block line that starts with "$ " is a command ("> " lines
continue it); the lines after it, up to the next command or the end of the
block, are what it must print on standard output.  Numbers compare within
1e-4 (relative), everything else exactly.  The first command (set-up and
`make demo`) runs as it is; the second (the test suite, which is running
this) is only checked to be what .ci/run runs.  Blocks without "$ " lines
(downloads) are not run.  Prints TAP."""
import os, re, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import ok, done

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
readme = open(os.path.join(top, "README.md"), encoding="utf-8").read()
cmds = []   # (command, expected lines)
for block in re.findall(r"```sh\n(.*?)```", readme, re.S):
    for line in block.splitlines():
        if line.startswith("$ "):
            cmds.append([line[2:], []])
        elif line.startswith("> ") and cmds and not cmds[-1][1]:
            cmds[-1][0] += "\n" + line[2:]
        elif cmds and any(line.startswith("$ ") for line in block.splitlines()):
            cmds[-1][1].append(line)


def same(got, want):
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        gt, wt = re.split(r"(\s+)", g), re.split(r"(\s+)", w)
        if len(gt) != len(wt):
            return False
        for a, b in zip(gt, wt):
            if a == b:
                continue
            try:
                fa, fb = float(a), float(b)
            except ValueError:
                return False
            if abs(fa - fb) > 1e-4 * max(1.0, abs(fb)):
                return False
    return True

ok(len(cmds) >= 10, "README has its commands (%d)" % len(cmds))
setup, test = cmds[0][0], cmds[1][0]
ci = open(os.path.join(top, ".ci/run")).read().splitlines()
ok(test in ci, ".ci/run runs README's test command: %s" % test)
ok("make demo" in setup, "the first command runs the main job")

with tempfile.TemporaryDirectory() as t:
    clone = os.path.join(t, "qkv")
    subprocess.run(["git", "clone", "-q", top, clone], check=True)
    # one shell for the whole README, so exports carry from one command to
    # the next; a marker after each command splits the output
    script = []
    for i, (c, _) in enumerate(cmds):
        if i == 1:
            continue
        script.append(c)
        script.append("echo '@@qkv-readme %d' $?" % i)
    p = subprocess.run(["bash", "-c", "\n".join(script)], cwd=clone,
                       capture_output=True, text=True, errors="replace")
    out = p.stdout.split("\n")
    chunks, cur = {}, []
    for line in out:
        m = re.match(r"@@qkv-readme (\d+) (\d+)$", line)
        if m:
            chunks[int(m.group(1))] = (int(m.group(2)), cur)
            cur = []
        else:
            cur.append(line)
    for i, (c, want) in enumerate(cmds):
        if i == 1:
            continue
        first = c.splitlines()[0]
        if i not in chunks:
            ok(False, "ran: %s" % first)
            print("# " + p.stderr.replace("\n", "\n# "))
            continue
        rc, got = chunks[i]
        if i == 0:
            good = rc == 0 and any("tok | embed | nearest" in g for g in got)
            ok(good, "set-up and make demo: %s" % first)
            continue
        good = rc == 0 and same(got, want)
        if not ok(good, "as README says: %s" % first):
            print("# exit %d; got:" % rc)
            for g in got:
                print("#   " + g)
done()
