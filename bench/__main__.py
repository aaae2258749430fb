"""``python -m bench`` runs every benchmark with its defaults; ``python -m bench NAME [--help]``
runs one, with its own options."""

from __future__ import annotations

import importlib
import sys

# name -> module with ``main(argv)``
BENCHMARKS = {
    "fanout": "bench.fanout",
    "throughput": "bench.throughput",
    "slowack": "bench.slowack",
    "search": "bench.search",
    "report": "bench.report",
    "turndb": "bench.turndb",
}


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        sys.stdout.write(__doc__ + "\nbenchmarks: " + ", ".join(BENCHMARKS) + "\n")
        return 0
    if argv and not argv[0].startswith("-"):
        name, options = argv[0], argv[1:]
        if name not in BENCHMARKS:
            sys.stderr.write(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}\n")
            return 2
        importlib.import_module(BENCHMARKS[name]).main(options)
        return 0
    for module in BENCHMARKS.values():
        importlib.import_module(module).main(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
