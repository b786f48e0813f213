#!/usr/bin/python3
# `dnsviz grok ARGS`, as Debian's dnsviz runs it, but working with a trust anchor on Debian 12: dnsviz 0.9.4 checks
# the version of pygraphviz through pygraphviz.release, a module pygraphviz 1.7 (its Debian package) no longer has,
# and so refuses -t with "pygraphviz is required, but not installed". The version is the package's __version__.
import sys
import types

import pygraphviz

if not hasattr(pygraphviz, "release"):
    release = types.ModuleType("pygraphviz.release")
    release.version = pygraphviz.__version__
    sys.modules["pygraphviz.release"] = release
    pygraphviz.release = release

from dnsviz.commands import grok  # noqa: E402 (after the shim)

grok.main(["grok"] + sys.argv[1:])
