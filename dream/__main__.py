"""The command-line tools: `python -m dream batch …` (a folder of photos) and
`python -m dream video …` (a clip, in pieces on a pool's workers). `python -m dream.atlas`
precomputes atlas tiles."""

import sys

COMMANDS = {"batch": "dream.batch", "video": "dream.long_video"}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m dream {batch,video} … (python -m dream batch --help)", file=sys.stderr)
        return 2
    import importlib

    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])


sys.exit(main(sys.argv[1:]))
