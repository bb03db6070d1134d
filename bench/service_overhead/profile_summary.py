"""Summarises a py-spy raw profile (collapsed stacks, one `frame;frame;... count` a line).

    python bench/service_overhead/profile_summary.py PROFILE.txt [--top 30] [--thread REGEX]
        [--match REGEX]...

Prints the samples per thread, the functions with the most self samples, and the
functions with the most inclusive samples (a function counted once per stack however
deep it recurses), each as a share of all samples. --thread REGEX keeps only the threads
whose name matches (py-spy counts some idle threads, such as aiosqlite's connection
workers, as busy). --match REGEX adds the inclusive share of the stacks containing a
frame that matches REGEX.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path


def _frames(stack: str) -> list[str]:
    # A frame is "function (file:line)"; the line number is dropped to group by function.
    return [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--thread", default="")
    parser.add_argument("--match", action="append", default=[])
    args = parser.parse_args()
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    matched: Counter[str] = Counter()
    total = 0
    for line in args.profile.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = _frames(stack)
        if not re.search(args.thread, frames[0]):
            continue
        total += count
        threads[frames[0]] += count
        own[frames[-1]] += count
        for frame in set(frames[1:]):
            inclusive[frame] += count
        for pattern in args.match:
            if any(re.search(pattern, frame) for frame in frames):
                matched[pattern] += count
    print(f"{total} samples")
    for thread, count in threads.most_common():
        print(f"{100 * count / total:6.1f} %  {thread}")
    print("\nself:")
    for frame, count in own.most_common(args.top):
        print(f"{100 * count / total:6.1f} %  {frame}")
    print("\ninclusive:")
    for frame, count in inclusive.most_common(args.top):
        print(f"{100 * count / total:6.1f} %  {frame}")
    for pattern in args.match:
        print(f"\nmatching {pattern!r}: {100 * matched[pattern] / total:.1f} %")


if __name__ == "__main__":
    main()
