#!/usr/bin/python3
"""Every program's -h matches its man page's SYNOPSIS, and the options that
mean one thing mean it everywhere.

-h prints the usage on standard output and exits 0; a bad option prints it
on standard error and exits 2; -V prints "PROG (qkv) VERSION".  The usage
text, with "usage:" removed and white space collapsed, equals the SYNOPSIS
as mandoc renders it, form by form.  Prints TAP."""
import os, re, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import ok, done

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
bin = os.environ.get("QKV_BIN", os.path.join(top, "bin"))
progs = ["tok", "embed", "nearest", "mask", "nsp", "sample", "pack"]

def forms(text, prog):
    """Split a synopsis into its forms, each with white space collapsed."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r" ?\| ?", "|", text)
    parts = re.split(r"(?:^| )(?=%s(?: |$))" % re.escape(prog), text)
    return [p.strip() for p in parts if p.strip()]

version = None
for p in progs:
    man = subprocess.run(["mandoc", "-Tascii", os.path.join(top, "man", p + ".1")],
                         capture_output=True, text=True).stdout
    man = re.sub(r".\x08", "", man)
    m = re.search(r"^SYNOPSIS\n(.*?)\n\S", man, re.S | re.M)
    syn = forms(m.group(1), p) if m else []
    h = subprocess.run([os.path.join(bin, p), "-h"], capture_output=True,
                       text=True, stdin=subprocess.DEVNULL)
    ok(h.returncode == 0 and h.stdout.startswith("usage: ") and not h.stderr,
       "%s -h: usage on stdout, exit 0 (exit %d)" % (p, h.returncode))
    use = forms(re.sub(r"^usage:", "", h.stdout.strip()), p)
    if not ok(use == syn, "%s -h matches SYNOPSIS of man/%s.1" % (p, p)):
        for a in sorted(set(use) - set(syn)):
            print("#  usage only: " + a)
        for a in sorted(set(syn) - set(use)):
            print("#  man only:   " + a)
    b = subprocess.run([os.path.join(bin, p), "-@"], capture_output=True,
                       text=True, stdin=subprocess.DEVNULL)
    ok(b.returncode == 2 and "usage: " in b.stderr and not b.stdout,
       "%s with a bad option: usage on stderr, exit 2" % p)
    v = subprocess.run([os.path.join(bin, p), "-V"], capture_output=True,
                       text=True, stdin=subprocess.DEVNULL)
    m = re.fullmatch(r"%s \(qkv\) (\S+)\n" % p, v.stdout)
    ok(v.returncode == 0 and m, "%s -V prints its version" % p)
    if m:
        ok(version in (None, m.group(1)), "%s: the same version as the others" % p)
        version = m.group(1)
    # the common options, where a program has them, take what they say
    flags = " ".join(syn)
    for opt, arg in [("-m", "model"), ("-o", "file"), ("-j", "threads"),
                     ("-s", "seed"), ("-l", "length")]:
        for f in re.findall(r"\[%s (\S+?)\]" % opt, flags):
            if p == "nearest" and opt == "-m":
                continue    # nearest has no model; its -m is the metric
            ok(f == arg or (p, opt, f) == ("pack", "-o", "prefix"),
               "%s: %s takes %s (%s)" % (p, opt, arg, f))
done()
