#!/usr/bin/env python3
"""Where one decode step's device time goes: per-kernel times of the last decode step in an Nsight Compute CSV.

Record (on the GPU machine; node mode times every kernel of a replayed CUDA graph on its own, so the figures are
kernel durations without the gaps between kernels):

  ncu --graph-profiling node --cache-control none --clock-control none --metrics gpu__time_duration.sum \
      --csv --print-units base fp4lab bench --device cuda --preset llama-3.1-8b --precisions nvfp4-w4a16 \
      --prompt-lengths 16 --decode-prompt 128 --batches 1 --decode-tokens 4 --repetitions 1 --warmup 0 > step.csv
  python3 tests/bench/decode_step_profile.py step.csv

The last decode step is the kernels from the last EmbedKernel (the first kernel of every pass) to the end of the
run; they are grouped by kernel name and sorted by total time.
"""
import collections
import csv
import re
import sys


def short_name(kernel):
    """'void fp4lab::<unnamed>::RmsNormKernel(const float *, ...)' -> 'RmsNormKernel'."""
    name = kernel.replace('(anonymous namespace)::', '').replace('<unnamed>::', '')
    name = re.sub(r'\(.*', '', name)
    name = re.sub(r'<.*', '', name)
    return name.replace('void ', '').split('::')[-1].strip()


def kernel_times(path):
    """[(short name, nanoseconds, grid)] in launch order."""
    with open(path, newline='') as f:
        lines = [line for line in f if line.startswith('"')]  # ncu mixes the program's own output in
    rows = []
    for r in csv.DictReader(lines):
        if r['Metric Name'] != 'gpu__time_duration.sum':
            continue
        if r['Metric Unit'] not in ('ns', 'nsecond'):
            sys.exit(f"{path}: expected gpu__time_duration.sum in ns (--print-units base), got {r['Metric Unit']}")
        rows.append((short_name(r['Kernel Name']), float(r['Metric Value'].replace(',', '')), r['Grid Size']))
    return rows


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rows = kernel_times(sys.argv[1])
    starts = [i for i, r in enumerate(rows) if r[0] == 'EmbedKernel']
    if not starts:
        sys.exit(f'{sys.argv[1]}: no EmbedKernel, so no forward pass was profiled')
    step = rows[starts[-1]:]
    total = sum(ns for _, ns, _ in step)
    groups = collections.defaultdict(lambda: [0, 0.0, ''])
    for name, ns, grid in step:
        g = groups[name]
        g[0] += 1
        g[1] += ns
        g[2] = grid
    print(f'{len(step)} kernels in the last decode step, {total / 1e3:.1f} us of kernel time')
    print(f"| kernel | launches | total us | share | mean us | grid |\n| :--- | ---: | ---: | ---: | ---: | :--- |")
    for name, (count, ns, grid) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
        print(f'| {name} | {count} | {ns / 1e3:.1f} | {100 * ns / total:.1f} % | {ns / count / 1e3:.2f} | {grid} |')


if __name__ == '__main__':
    main()
