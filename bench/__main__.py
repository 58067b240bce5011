"""`python -m bench`: see bench/run.py and README, "Performance"."""

from bench.run import main

main()
