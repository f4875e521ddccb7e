#!/usr/bin/python3
"""viz_check.py - checks `cask viz GRAPH.json -o PAGE.html` (tools/viz.c).

usage: viz_check.py CASK GRAPH_DEMO

Graphs come from examples/graph_demo (written by cask_graph_write_json: a
small one drawn task by task, one of 10^4+ tasks drawn grouped) and from
this script (array-style keys, sizes and priorities; awkward keys; each kind
of malformed file). Checks: exit codes and messages, the page is
self-contained, its embedded view is a correct layering of the graph, and in
headless Chromium (Debian's chromium package) the page loads without script
or console errors, its #selftest (every colouring, hover, zoom, pan) passes,
and a screenshot shows coloured nodes. Without chromium the browser part is
skipped with a message; everything else still runs.
Run with /usr/bin/python3 (Debian's), not a python3 earlier on PATH.
"""
import collections
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

CASK, GRAPH_DEMO = sys.argv[1], sys.argv[2]
failures = []


def check(ok, what):
    print(('ok   ' if ok else 'FAIL ') + what)
    if not ok:
        failures.append(what)
    return ok


def viz(*args):
    p = subprocess.run([CASK, 'viz', *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f)


# ---- graphs -------------------------------------------------------------

def demo_graph(tmp, n, chunk, name):
    out = os.path.join(tmp, name)
    os.mkdir(out)
    subprocess.run([GRAPH_DEMO, str(n), str(chunk), out], check=True, capture_output=True, timeout=300)
    return os.path.join(out, 'graph_demo.json')


def array_graph(nb):
    """An array job as cask lowers one: nb x nb random blocks, an elementwise
    step, a reduction with partials, combine levels and a final task; keys
    "<kind>-<16 hex>-..." as collections/array writes them."""
    tasks, prio = [], [0]

    def add(key, op, deps, size):
        tasks.append({'key': key, 'op': op, 'args': {}, 'deps': deps, 'size': size,
                      'priority': prio[0]})
        prio[0] += 1

    blocks = [f'{i},{j}' for i in range(nb) for j in range(nb)]
    for b in blocks:
        add(f'random-00000000000000a1-{b}', 'array.source', [], 8192)
        add(f'kernel-00000000000000b2-{b}', 'array.kernel', [f'random-00000000000000a1-{b}'], 8192)
        add(f'reduce-partial-00000000000000c3-{b}', 'array.partial', [f'kernel-00000000000000b2-{b}'], 8)
    level, keys = 0, [f'reduce-partial-00000000000000c3-{b}' for b in blocks]
    while len(keys) > 8:
        nxt = []
        for k in range(0, len(keys), 8):
            key = f'reduce-00000000000000c3--combine-{level}-{k // 8}'
            add(key, 'array.combine', keys[k:k + 8], 8)
            nxt.append(key)
        keys, level = nxt, level + 1
    add('reduce-00000000000000c3-', 'array.finish', keys, 8)
    tasks[-1]['output'] = True
    return {'cask_graph': 1, 'ntasks': len(tasks), 'tasks': tasks}


def page_data(html):
    m = re.search(r'<script type="application/json" id="cask-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1)) if m else None


def self_contained(html):
    """No URL of anything to fetch: no scheme, no src/href attribute, no
    @import or url() in CSS."""
    bad = re.findall(r'(?i)(?:https?:|ftp:|//[a-z0-9.-]+\.[a-z]{2,}/|\bsrc\s*=|\bhref\s*=|@import|url\()', html)
    return not bad, bad[:3]


def layering_ok(graph, data):
    """Task mode: one node per task, labels are the keys, every edge goes
    down at least one layer, positions in a layer are 0..len-1."""
    tasks = graph['tasks']
    N = data['nodes']
    if N['label'] != [t['key'] for t in tasks]:
        return 'labels are not the task keys'
    edges = data['edges']
    idx = {t['key']: i for i, t in enumerate(tasks)}
    want = sorted((idx[d], i) for i, t in enumerate(tasks) for d in t['deps'])
    got = sorted((edges[k], edges[k + 1]) for k in range(0, len(edges), 3))
    if got != want:
        return 'edges differ from the deps'
    for s, d in got:
        if N['layer'][s] >= N['layer'][d]:
            return f'edge {s}->{d} does not go down'
    per = collections.defaultdict(list)
    for i, l in enumerate(N['layer']):
        per[l].append(N['pos'][i])
    for l, ps in per.items():
        if sorted(ps) != list(range(len(ps))):
            return f'positions in layer {l} are not 0..{len(ps) - 1}'
    return None


# ---- PNG without PIL: zlib and the five PNG row filters ----------------

def read_png(path):
    data = open(path, 'rb').read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        raise ValueError('not a PNG')
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b'IHDR':
            hdr = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat.append(body)
        elif kind == b'IEND':
            break
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError(f'unexpected PNG format {hdr}')
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(b''.join(idat)), w * bpp
    prev, rows = bytearray(stride), []
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif f == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif f == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, bpp, rows


def coloured_pixels(path, top):
    """Saturated pixels below the page's bar (y >= top) by colour, one pixel
    in four: nodes are coloured, while background, edges and text are grey."""
    w, h, bpp, rows = read_png(path)
    seen = collections.Counter()
    for y in range(top, h, 2):
        r = rows[y]
        for x in range(0, w * bpp, 2 * bpp):
            c = r[x], r[x + 1], r[x + 2]
            if max(c) - min(c) > 60:
                seen[(c[0] >> 4, c[1] >> 4, c[2] >> 4)] += 1
    return sum(seen.values()), len([c for c, k in seen.items() if k >= 5])


# ---- headless Chromium -------------------------------------------------

def chromium_cmd():
    exe = shutil.which('chromium')
    if not exe:
        return None
    return [exe, '--headless', '--disable-gpu', '--no-sandbox', '--hide-scrollbars',
            '--no-first-run', '--window-size=1200,800']


def run_all(cmds, timeout=180):
    """Run chromium commands four at a time (each is slow to start, and they
    are independent); returns each one's stdout, or None after a timeout."""
    outs = [None] * len(cmds)
    for start in range(0, len(cmds), 4):
        procs = [(k, subprocess.Popen(cmds[k], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
                 for k in range(start, min(start + 4, len(cmds)))]
        for k, p in procs:
            try:
                outs[k] = p.communicate(timeout=timeout)[0]
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
    return outs


def browser_checks(cmd, tmp, pages):
    """Per page a screenshot and a DOM dump after #selftest; plus a page whose
    script throws, which must say so (the error reporting itself)."""
    html = open(pages[0][1]).read().replace("'use strict';", "'use strict'; null.boom();", 1)
    broken = os.path.join(tmp, 'broken.html')
    open(broken, 'w').write(html)
    cmds = []
    for name, page, _, _ in pages:
        url = 'file://' + os.path.abspath(page)
        cmds.append(cmd + [f'--user-data-dir={tempfile.mkdtemp(dir=tmp)}',
                           f'--screenshot={os.path.join(tmp, name + ".png")}', url])
        cmds.append(cmd + [f'--user-data-dir={tempfile.mkdtemp(dir=tmp)}', '--dump-dom', url + '#selftest'])
    cmds.append(cmd + [f'--user-data-dir={tempfile.mkdtemp(dir=tmp)}', '--dump-dom', 'file://' + broken])
    outs = run_all(cmds)
    for k, (name, page, n, min_colours) in enumerate(pages):
        page_in_browser(name, outs[2 * k + 1], os.path.join(tmp, name + '.png'), n, min_colours)
    dom = outs[-1] or ''
    check('data-status="error"' in dom and '<title>cask viz: error:' in dom,
          'a script error shows in the title and #cask-status')


def page_in_browser(name, dom, shot, n, min_colours):
    if not check(dom is not None, f'{name}: chromium --dump-dom finished in time'):
        return
    m = re.search(r'<div id="cask-status"([^>]*)>([^<]*)<', dom)
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', m.group(1))) if m else {}
    title = re.search(r'<title>(.*?)</title>', dom, re.S)
    check(attrs.get('data-status') == 'ok' and title and not title.group(1).startswith('cask viz: error'),
          f'{name}: the page loads without script or console errors '
          f'(status {attrs.get("data-status")!r}, {m.group(2) if m else "no #cask-status"!r})')
    check(attrs.get('data-selftest') == 'ok',
          f'{name}: selftest (colourings, hover, zoom, pan): {attrs.get("data-selftest")!r}')
    check(attrs.get('data-drawn') == str(n), f'{name}: all {n} nodes drawn ({attrs.get("data-drawn")!r})')
    if not check(os.path.exists(shot), f'{name}: chromium wrote a screenshot'):
        return
    count, colours = coloured_pixels(shot, 45)
    check(count >= 125 and colours >= min_colours,
          f'{name}: the screenshot shows the graph ({count} coloured pixels, {colours} colours)')


# ---- the checks --------------------------------------------------------

def usage_checks(tmp):
    rc, out = viz('--help')
    check(rc == 0 and '--max-tasks' in out and '--color' in out, '--help describes the options, exit 0')
    for args, what in [((), 'no arguments'), (('g.json',), 'no -o'),
                       (('g.json', '-o'), '-o without a file'), (('g.json', '-o', 'x.html', '--bogus'), 'unknown option'),
                       (('g.json', '-o', 'x.html', '--color', 'pink'), 'bad --color'),
                       (('g.json', '-o', 'x.html', '--max-tasks', '0'), 'bad --max-tasks'),
                       (('a.json', 'b.json', '-o', 'x.html'), 'two graph files')]:
        rc, out = viz(*args)
        check(rc == 2 and 'cask viz' in out, f'usage error, {what}: exit 2 with a message (got {rc})')


def malformed_checks(tmp):
    ok_task = {'key': 'a', 'op': 'x', 'deps': []}
    cases = [
        ('missing', None, 'cannot open'),
        ('syntax', '{"tasks": [\n {"key": "a", "op": "x" "deps": []}]}', ':2:'),
        ('truncated', '{"tasks": [{"key": "a"', 'ends early'),
        ('trailing', '{"tasks": []} x', 'text after'),
        ('notgraph', '[1, 2]', '"tasks"'),
        ('nokey', {'tasks': [ok_task, {'op': 'x', 'deps': []}]}, 'task 1'),
        ('dupkey', {'tasks': [ok_task, dict(ok_task)]}, "key 'a' is also the key of task 0"),
        ('baddep', {'tasks': [ok_task, {'key': 'b', 'op': 'x', 'deps': ['zz']}]}, "'zz'"),
        ('badsize', {'tasks': [dict(ok_task, size=-3)]}, '"size"'),
        ('ntasks', {'ntasks': 5, 'tasks': [ok_task]}, '"ntasks"'),
        ('cycle', {'tasks': [{'key': 'a', 'op': 'x', 'deps': ['b']}, {'key': 'b', 'op': 'x', 'deps': ['a']},
                             {'key': 'c', 'op': 'x', 'deps': ['a']}]}, 'cycle'),
    ]
    for name, content, expect in cases:
        path = os.path.join(tmp, f'bad-{name}.json')
        if isinstance(content, str):
            open(path, 'w').write(content)
        elif content is not None:
            write_json(path, content)
        out_page = os.path.join(tmp, f'bad-{name}.html')
        rc, out = viz(path, '-o', out_page)
        check(rc == 2 and path in out and expect in out and not os.path.exists(out_page),
              f'malformed graph ({name}): exit 2, message names the file and "{expect}" (got {rc}: {out.strip()})')
    if 'cycle' in out:
        check(re.search(r"task \d '[ab]'", out) is not None, 'a cycle message names a task on the cycle')


def page_checks(tmp, graph_path, page, expect_grouped, extra=()):
    rc, out = viz(graph_path, '-o', page, *extra)
    if not check(rc == 0, f'cask viz {os.path.basename(graph_path)} {" ".join(extra)}: exit 0 ({out.strip()})'):
        return None
    html = open(page).read()
    ok, bad = self_contained(html)
    check(ok, f'{os.path.basename(page)} is self-contained (found {bad})')
    check(not [f for f in os.listdir(os.path.dirname(page)) if '.tmp-' in f], 'no temporary file is left')
    data = page_data(html)
    check(data is not None and data['grouped'] == expect_grouped,
          f'{os.path.basename(page)}: drawn {"grouped" if expect_grouped else "task by task"}')
    return data


def main():
    tmp = tempfile.mkdtemp(prefix='viz-check-')
    try:
        usage_checks(tmp)
        malformed_checks(tmp)
        pages = []

        # Small: graph_demo's own JSON, task by task.
        small = demo_graph(tmp, 1000, 10, 'small')
        graph = json.load(open(small))
        data = page_checks(tmp, small, os.path.join(tmp, 'small.html'), 0)
        if data:
            err = layering_ok(graph, data)
            check(err is None, f'small: the view is a layering of the graph ({err})')
            pages.append(('small', os.path.join(tmp, 'small.html'), len(graph['tasks']), 2))
            again = os.path.join(tmp, 'again.html')
            viz(small, '-o', again)
            check(open(again).read() == open(os.path.join(tmp, 'small.html')).read(), 'the same graph gives the same page')

        # Large: graph_demo with 10^4 blocks, drawn by key group.
        big = demo_graph(tmp, 1000000, 100, 'big')
        graph = json.load(open(big))
        n = len(graph['tasks'])
        check(n >= 10000, f'graph_demo wrote a graph of 10^4 tasks or more ({n})')
        data = page_checks(tmp, big, os.path.join(tmp, 'big.html'), 1)
        if data:
            group = {t['key']: re.sub(r'-\d+$', '', t['key']) for t in graph['tasks']}
            counts = collections.Counter(group.values())
            got = dict(zip(data['nodes']['label'], data['nodes']['count']))
            check(got == dict(counts), f'big: one group per key prefix with its task count ({len(got)} groups)')
            between = sum(group[d] != group[t['key']] for t in graph['tasks'] for d in t['deps'])
            check(sum(data['edges'][2::3]) == between, 'big: group edges stand for every task edge between groups')
            pages.append(('big', os.path.join(tmp, 'big.html'), len(got), 2))

        # Large array-style graph: grouped by array operation, sizes and order.
        arr = os.path.join(tmp, 'array.json')
        graph = array_graph(60)
        write_json(arr, graph)
        data = page_checks(tmp, arr, os.path.join(tmp, 'array.html'), 1, ('--color', 'memory'))
        if data:
            got = dict(zip(data['nodes']['label'], data['nodes']['count']))
            want = {'random-00000000000000a1': 3600, 'kernel-00000000000000b2': 3600,
                    'reduce-partial-00000000000000c3': 3600,
                    'reduce-00000000000000c3': len(graph['tasks']) - 3 * 3600}
            check(got == want, f'array: grouped by array operation with task counts ({got})')
            lay = dict(zip(data['nodes']['label'], data['nodes']['layer']))
            check([lay[k] for k in want] == [0, 1, 2, 3], 'array: operations in layers from the roots down')
            check(data['has_prio'] and data['peak'] > 0, 'array: order from priorities, a predicted peak')
            pages.append(('array', os.path.join(tmp, 'array.html'), 4, 3))

        # Forced grouping, and awkward keys that must not break the page.
        data = page_checks(tmp, small, os.path.join(tmp, 'forced.html'), 1, ('--max-tasks', '50'))
        odd = os.path.join(tmp, 'odd.json')
        keys = ['</script><script>alert(1)</script>', 'caf\u00e9 \u2028 "q" & <b>', 'a\\b']
        write_json(odd, {'tasks': [{'key': keys[0], 'op': 'x<y', 'deps': []},
                                   {'key': keys[1], 'op': 'x<y', 'deps': [keys[0]]},
                                   {'key': keys[2], 'op': 'z', 'deps': [keys[0], keys[1]]}]})
        data = page_checks(tmp, odd, os.path.join(tmp, 'odd.html'), 0, ('--title', '<odd> & "keys"'))
        if data:
            html = open(os.path.join(tmp, 'odd.html')).read()
            check(data['nodes']['label'] == keys and '<script>alert' not in html and
                  '<title>&lt;odd&gt; &amp; "keys"</title>' in html,
                  'odd keys and title are escaped and read back unchanged')

        empty = os.path.join(tmp, 'empty.json')
        write_json(empty, {'cask_graph': 1, 'ntasks': 0, 'tasks': []})
        data = page_checks(tmp, empty, os.path.join(tmp, 'empty.html'), 0)
        check(data is not None and data['nodes']['label'] == [], 'an empty graph gives a page without nodes')
        rc, out = viz(small, '-o', os.path.join(tmp, 'no', 'such', 'dir', 'x.html'))
        check(rc == 1 and 'no/such/dir' in out, f'an unwritable output: exit 1 naming it (got {rc})')

        cmd = chromium_cmd()
        if not cmd:
            print('SKIP headless-browser checks: chromium is not installed '
                  '(Debian: apt-get install chromium; scripts/install-deps.sh installs it)')
        else:
            browser_checks(cmd, tmp, pages)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f'viz_check: {len(failures)} failed' if failures else 'viz_check: all passed')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
