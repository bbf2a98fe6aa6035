# SPDX-License-Identifier: Apache-2.0
"""pprofread.py -- a small independent pprof reader for tests and benchmarks.

Decodes the public profile.proto wire format (gzip or plain) without
podprof's code, and gives every sample as its stack of frame names, leaf
first, with its value and labels. A location without a function is named
"<mapping file basename>+0x<address>", so stacks can be compared frame by
frame. Inline frames of one location come innermost first, as pprof stores them.
"""

import gzip
import os


def _varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            return v, i
        shift += 7


def _fields(b):
    """Yield (field number, wire type, value) of one message."""
    i, n = 0, len(b)
    while i < n:
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            ln, i = _varint(b, i)
            v, i = b[i:i + ln], i + ln
        elif wt == 1:
            v, i = int.from_bytes(b[i:i + 8], "little"), i + 8
        elif wt == 5:
            v, i = int.from_bytes(b[i:i + 4], "little"), i + 4
        else:
            raise ValueError(f"wire type {wt}")
        yield num, wt, v


def _ints(wt, v):
    """A repeated integer field, packed or not."""
    if wt == 0:
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = _varint(v, i)
        out.append(x)
    return out


def _signed(x):
    return x - (1 << 64) if x >= 1 << 63 else x


class Sample:
    def __init__(self, frames, values, labels, lines, binaries, frame_binaries):
        self.frames = frames      # names, leaf first
        self.values = values
        self.labels = labels      # {key: str or int}
        self.lines = lines        # (filename, line) per frame, leaf first; (None, 0) if unknown
        self.binaries = binaries  # mapping file basename per location (not per inline frame)
        self.frame_binaries = frame_binaries  # the same per frame (inline frames repeat it)


class Profile:
    def __init__(self, path_or_bytes):
        data = path_or_bytes
        if isinstance(data, str):
            with open(data, "rb") as f:
                data = f.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        strings, raw_samples, mappings, functions, locations = [], [], {}, {}, {}
        self.sample_types = []
        for num, wt, v in _fields(data):
            if num == 6:
                strings.append(v.decode("utf-8", "replace"))
            elif num == 2:
                raw_samples.append(v)
            elif num == 3:
                m = {k: val for k, _, val in _fields(v)}
                mappings[m.get(1, 0)] = m
            elif num == 5:
                fn = {k: val for k, _, val in _fields(v)}
                functions[fn.get(1, 0)] = fn
            elif num == 4:
                loc = {"lines": []}
                for k, w, val in _fields(v):
                    if k == 4:
                        loc["lines"].append({a: x for a, _, x in _fields(val)})
                    else:
                        loc[k] = val
                locations[loc.get(1, 0)] = loc
            elif num == 1:
                st = {k: val for k, _, val in _fields(v)}
                self.sample_types.append((st.get(1, 0), st.get(2, 0)))
        self.strings = strings
        self.sample_types = [(strings[a], strings[b]) for a, b in self.sample_types]
        self.mappings = {i: {"file": strings[m.get(5, 0)], "start": m.get(2, 0),
                             "has_functions": bool(m.get(7)), "has_filenames": bool(m.get(8)),
                             "has_line_numbers": bool(m.get(9)),
                             "has_inline_frames": bool(m.get(10))}
                         for i, m in mappings.items()}
        self.samples = []
        for raw in raw_samples:
            loc_ids, values, labels = [], [], {}
            for k, wt, v in _fields(raw):
                if k == 1:
                    loc_ids += _ints(wt, v)
                elif k == 2:
                    values += [_signed(x) for x in _ints(wt, v)]
                elif k == 3:
                    lb = {a: x for a, _, x in _fields(v)}
                    key = strings[lb.get(1, 0)]
                    labels[key] = strings[lb[2]] if lb.get(2) else lb.get(3, 0)
            frames, lines, binaries, frame_binaries = [], [], [], []
            for lid in loc_ids:
                loc = locations.get(lid, {})
                binaries.append(os.path.basename(
                    self.mappings.get(loc.get(2, 0), {}).get("file", "")) or "?")
                frame_binaries += [binaries[-1]] * max(1, len(loc["lines"]))
                if loc["lines"]:
                    for ln in loc["lines"]:
                        fn = functions.get(ln.get(1, 0), {})
                        frames.append(strings[fn.get(2, 0)])
                        lines.append((strings[fn.get(4, 0)] or None, ln.get(2, 0)))
                else:
                    m = self.mappings.get(loc.get(2, 0), {})
                    base = os.path.basename(m.get("file", "")) or "?"
                    frames.append(f"{base}+0x{loc.get(3, 0):x}")
                    lines.append((None, 0))
            self.samples.append(Sample(frames, values, labels, lines, binaries, frame_binaries))

    def stacks(self, index=0):
        """[(frames leaf first, value)] for one sample type index."""
        return [(s.frames, s.values[index] if index < len(s.values) else 0) for s in self.samples]
