"""A stand-in for the few TensorFlow 1.x names that google-research/bert's
create_pretraining_data.py and tokenization.py use, so the reference recipe
runs under Debian's python3 without TensorFlow.

Records are not protobufs: Example.SerializeToString() gives one text line,
the seven features in the order the script builds them, TAB between
features, a space between values, floats as %g.  That line is exactly what
`nsp --google -t` prints, so outputs compare with cmp(1).

This file is qkv's own code; it holds nothing of the reference.
"""
import glob as _glob
import sys as _sys


# ---- flags and app -------------------------------------------------------

class _Flags(object):
    def __init__(self):
        object.__setattr__(self, "_defs", {})
        object.__setattr__(self, "_vals", {})
        object.__setattr__(self, "_required", set())

    def __getattr__(self, name):
        vals = object.__getattribute__(self, "_vals")
        if name in vals:
            return vals[name]
        raise AttributeError(name)

    def __setattr__(self, name, value):
        self._vals[name] = value

    def _define(self, name, default, kind):
        self._defs[name] = kind
        self._vals[name] = default

    def _parse(self, argv):
        rest = [argv[0]]
        args = argv[1:]
        i = 0
        while i < len(args):
            a = args[i]
            i += 1
            if not a.startswith("--"):
                rest.append(a)
                continue
            name, eq, val = a[2:].partition("=")
            kind = self._defs.get(name)
            if kind is None and name.startswith("no") and \
                    self._defs.get(name[2:]) is bool and not eq:
                self._vals[name[2:]] = False
                continue
            if kind is None:
                raise SystemExit("unknown flag --%s" % name)
            if kind is bool and not eq:
                self._vals[name] = True
                continue
            if not eq:
                if i >= len(args):
                    raise SystemExit("flag --%s needs a value" % name)
                val = args[i]
                i += 1
            if kind is bool:
                self._vals[name] = val.lower() in ("1", "true", "yes")
            else:
                self._vals[name] = kind(val)
        for name in self._required:
            if self._vals.get(name) is None:
                raise SystemExit("flag --%s is required" % name)
        return rest


class _FlagsModule(object):
    FLAGS = _Flags()

    def DEFINE_string(self, name, default, help):
        self.FLAGS._define(name, default, str)

    def DEFINE_bool(self, name, default, help):
        self.FLAGS._define(name, default, bool)

    DEFINE_boolean = DEFINE_bool

    def DEFINE_integer(self, name, default, help):
        self.FLAGS._define(name, default, int)

    def DEFINE_float(self, name, default, help):
        self.FLAGS._define(name, default, float)

    def mark_flag_as_required(self, name):
        self.FLAGS._required.add(name)


flags = _FlagsModule()


class app(object):
    @staticmethod
    def run(main=None, argv=None):
        if main is None:
            main = _sys.modules["__main__"].main
        rest = flags.FLAGS._parse(argv if argv is not None else _sys.argv)
        _sys.exit(main(rest))


# ---- logging: quiet unless QKV_TFSTUB_LOG is set --------------------------

class logging(object):
    INFO = 20
    _on = False

    @staticmethod
    def set_verbosity(level):
        pass

    @staticmethod
    def info(msg, *args):
        import os
        if os.environ.get("QKV_TFSTUB_LOG"):
            _sys.stderr.write((msg % args if args else msg) + "\n")


# ---- files ----------------------------------------------------------------

class gfile(object):
    @staticmethod
    def GFile(path, mode="r"):
        # TensorFlow's reader splits lines on LF only.
        return open(path, mode, encoding="utf-8", newline="\n")

    @staticmethod
    def Glob(pattern):
        return sorted(_glob.glob(pattern))


class _Writer(object):
    def __init__(self, path):
        self._f = open(path, "wb")

    def write(self, record):
        self._f.write(record)
        self._f.write(b"\n")

    def close(self):
        self._f.close()


class python_io(object):
    TFRecordWriter = _Writer


# ---- examples -------------------------------------------------------------

class _List(object):
    def __init__(self, value=()):
        self.value = list(value)


class _Feature(object):
    def __init__(self, int64_list=None, float_list=None):
        self.int64_list = int64_list or _List()
        self.float_list = float_list or _List()

    def text(self):
        if self.float_list.value:
            return " ".join("%g" % v for v in self.float_list.value)
        return " ".join("%d" % v for v in self.int64_list.value)


class _Features(object):
    def __init__(self, feature):
        self.feature = feature


class _Example(object):
    def __init__(self, features):
        self.features = features

    def SerializeToString(self):
        return "\t".join(f.text() for f in
                         self.features.feature.values()).encode("ascii")


class train(object):
    Example = _Example
    Features = _Features
    Feature = _Feature
    Int64List = _List
    FloatList = _List
