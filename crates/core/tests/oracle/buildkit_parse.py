#!/usr/bin/env python3
"""Dump BuildKit's parse of Dockerfiles as JSON lines (the outside oracle for codi's parser).

Usage: buildkit_parse.py FILE...
Needs the PyPI package `dockerfile` (3.4.0), which wraps moby/buildkit's Go parser.

One line per file: {"file", "error": null | message, "commands": [{"cmd", "sub_cmd", "json",
"start_line", "end_line", "flags", "value", "heredocs": [{"name", "file_descriptor", "content"}]}]}.
"""
import json
import sys

import dockerfile


def main() -> int:
    for path in sys.argv[1:]:
        record = {"file": path, "error": None, "commands": []}
        try:
            for c in dockerfile.parse_file(path):
                record["commands"].append({
                    "cmd": c.cmd,
                    "sub_cmd": c.sub_cmd,
                    "json": c.json,
                    "start_line": c.start_line,
                    "end_line": c.end_line,
                    "flags": list(c.flags),
                    "value": list(c.value),
                    "heredocs": [
                        # The wrapper hands BuildKit's uint over as a signed 64-bit integer.
                        {"name": h.name, "file_descriptor": h.file_descriptor % 2**64, "content": h.content}
                        for h in c.heredocs
                    ],
                })
        except dockerfile.GoParseError as e:
            record["error"] = str(e)
        print(json.dumps(record, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
