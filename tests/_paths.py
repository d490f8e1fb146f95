"""Where the tests find things: the checkout (ROOT), the upstream reference data beside it, and the files
below a directory (``snapshot``).

One home for the paths the tests and the test cluster share. ``../shared`` (or ``$AUDITOPS_SHARED``,
``$AUDITOPS_REFERENCE`` for the Deckhouse files) only adds upstream reference data: a clone with nothing
beside it still runs every test, and the tests that compare against upstream call ``require()``, which
skips with a reason naming the missing path - except in CI (``$CI`` set, as ``.ci/run`` does), where
the reference is always present and its absence is a failure.

Importable as ``ansible_collections.auditops.deckhouse.tests._paths`` and, from the scripts in tests/
that put tests/ on sys.path, as ``_paths``. No pytest import at module level (the harness runs without it).
"""

import functools
import os

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
SHARED = os.environ.get("AUDITOPS_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
REFERENCE = os.environ.get("AUDITOPS_REFERENCE", os.path.join(SHARED, "reference", "deckhouse"))
COLLECTIONS = os.path.join(ROOT, ".collections")


def make_collection_importable():
    """The checkout as ansible_collections.auditops.deckhouse (the symlink under .collections, which make link
    also creates) first on sys.path: for pytest (tests/conftest.py) and the benchmarks, without importing pytest."""
    import sys  # pylint: disable=import-outside-toplevel
    link = os.path.join(COLLECTIONS, "ansible_collections", "auditops", "deckhouse")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    if COLLECTIONS not in sys.path:
        sys.path.insert(0, COLLECTIONS)


def in_ci():
    return bool(os.environ.get("CI"))


def missing_message(path):
    return ("upstream reference %s is not beside the checkout: the comparison with upstream was skipped "
            "(clone the shared reference to ../shared or set AUDITOPS_SHARED to run it)" % path)


def require(path):
    """``path`` when it exists; else skip the calling test saying which path is missing (fail under CI)."""
    if os.path.exists(path):
        return path
    import pytest  # pylint: disable=import-outside-toplevel
    if in_ci():
        pytest.fail("upstream reference %s is not beside the checkout, and CI is set, where it must be present" % path,
                    pytrace=False)
    pytest.skip(missing_message(path))
    return path


def needs(path):
    """Decorator: the test runs only where ``path`` exists (``require`` says why not, and fails under CI)."""
    def decorate(test):
        @functools.wraps(test)
        def wrapper(*args, **kwargs):
            require(path)
            return test(*args, **kwargs)
        return wrapper
    return decorate


def snapshot(directory, keep=None):
    """Relative path -> bytes of every file below ``directory`` (whose name ``keep`` accepts, when given): what a
    test compares before and after a run to see that nothing else changed."""
    found = {}
    for base, _dirs, files in os.walk(str(directory)):
        for name in files:
            if keep is None or keep(name):
                path = os.path.join(base, name)
                with open(path, "rb") as handle:
                    found[os.path.relpath(path, str(directory))] = handle.read()
    return found
