"""`python -m bench`: see bench/run.py and README, "Performance"; `python -m bench browser`: the
pages in Chromium (bench/browser.py)."""

import sys

if sys.argv[1:2] == ["browser"]:
    from bench.browser import main

    main(sys.argv[2:])
else:
    from bench.run import main

    main()
