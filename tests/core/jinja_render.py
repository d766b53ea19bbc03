#!/usr/bin/env python3
"""Renders templates with Jinja2, the reference for Sluice's templates.

Reads a JSON file {"context": {...}, "templates": ["...", ...]} and prints a
JSON list with, for each template, {"out": "..."} or {"error": "..."}.
Jinja2 runs with its defaults (trim_blocks and lstrip_blocks off) except:
unknown names are errors (StrictUndefined), the trailing newline is kept, and
values print as Sluice prints them (true, nothing for null, lists as JSON).
"""
import json
import sys

import jinja2


def sluice_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, finalize=sluice_text
    )
    results = []
    for text in cases["templates"]:
        try:
            results.append({"out": env.from_string(text).render(**cases["context"])})
        except Exception as e:  # the error's kind is what is compared
            results.append({"error": type(e).__name__ + ": " + str(e)})
    json.dump(results, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
