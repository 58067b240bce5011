"""`python -m bench`: see bench/run.py and docs/performance/index.md; `python -m bench browser`: the
pages in Chromium (bench/browser.py); `python -m bench idle`: what idle open pages cost the server
(bench/idle.py); `python -m bench projection`: the projection's estimator against its alternatives
(bench/projection.py); `python -m bench settings`: the own settings converter against pydantic-settings
(bench/settings.py)."""

import sys

if sys.argv[1:2] == ["browser"]:
    from bench.browser import main

    main(sys.argv[2:])
elif sys.argv[1:2] == ["projection"]:
    from bench.projection import main

    sys.exit(main(sys.argv[2:]))
elif sys.argv[1:2] == ["settings"]:
    from bench.settings import main

    sys.exit(main(sys.argv[2:]))
elif sys.argv[1:2] == ["idle"]:
    from bench.idle import main

    main(sys.argv[2:])
else:
    from bench.run import main

    main()
