#!/usr/bin/env python3
"""pgcdc benchmark driver: run it through bench/run (docs/benchmarks.md). The code is the package
pgcdc_bench beside this file; `--help` lists every option."""
from pgcdc_bench.cli import main

if __name__ == "__main__":
    main()
