#!/usr/bin/env python3
"""Opens an fp4lab HTML report in headless Chromium and checks it like a reader would.

Usage: browser_test.py REPORT.html SCREENSHOT.png

Talks the Chrome DevTools Protocol over --remote-debugging-pipe (NUL-delimited JSON; the browser reads
commands on fd 3 and writes replies/events on fd 4); python3 standard library only. Fails on any console
error, uncaught exception or network request other than the report's own file:// URL (data: URIs are
allowed); checks that every report section is present, that every chart <svg> draws elements with a
non-zero size, that table sorting runs without errors, that the page does not scroll sideways in a narrow
(400 px) window, and that the content is all there with scripts disabled. Writes a full-page PNG screenshot.

Exit status: 0 pass, 1 fail (with a message), 77 when Chromium is not installed (CTest SKIP_RETURN_CODE).
"""

import base64
import fcntl
import json
import os
import pathlib
import select
import shutil
import subprocess
import sys
import tempfile
import time

CHROMIUM = "/usr/bin/chromium"
TIME_BOX_S = 60.0
# Must match ReportSectionIds() in reports/report_builder.h.
SECTION_IDS = ["verdict", "perplexity-fidelity", "mmlu", "humaneval", "latency", "memory", "layer-precision",
               "devices", "provenance"]
SCREENSHOT_WIDTH = 1200
MAX_SCREENSHOT_HEIGHT = 16384  # Chromium's texture limit


class Failure(Exception):
    pass


class DevTools:
    """A minimal CDP client over the two pipes, with a global deadline."""

    def __init__(self, to_browser, from_browser, deadline):
        self.to_browser = to_browser
        self.from_browser = from_browser
        self.deadline = deadline
        self.buffer = b""
        self.next_id = 0
        self.events = []

    def _read_message(self):
        while b"\0" not in self.buffer:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise Failure(f"timed out after {TIME_BOX_S:.0f} s waiting for the browser")
            ready, _, _ = select.select([self.from_browser], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise Failure("the browser closed the DevTools pipe (crashed?)")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, params=None, session=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read_message()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise Failure(f"{method} failed: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method, session):
        for i, event in enumerate(self.events):
            if event.get("method") == method and event.get("sessionId") == session:
                return self.events.pop(i)
        while True:
            event = self._read_message()
            if event.get("method") == method and event.get("sessionId") == session:
                return event
            self.events.append(event)

    def drain(self, seconds):
        """Collects events for a short while (late console messages, requests)."""
        end = min(time.monotonic() + seconds, self.deadline)
        while time.monotonic() < end:
            ready, _, _ = select.select([self.from_browser], [], [], max(0.0, end - time.monotonic()))
            if not ready:
                break
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                break
            self.buffer += chunk
            while b"\0" in self.buffer:
                message, self.buffer = self.buffer.split(b"\0", 1)
                self.events.append(json.loads(message))


def evaluate(cdp, session, expression):
    result = cdp.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                      session)
    if "exceptionDetails" in result:
        raise Failure(f"check script threw: {result['exceptionDetails']}")
    return result["result"].get("value")


PAGE_CHECK = """
(() => {
  const ids = %s;
  const missing = ids.filter(id => !document.querySelector('section#' + CSS.escape(id)));
  const charts = Array.from(document.querySelectorAll('svg')).map((svg, index) => {
    const box = svg.getBoundingClientRect();
    const drawn = Array.from(svg.querySelectorAll('rect, path, circle, polygon')).filter(e => {
      const b = e.getBBox();
      return b.width > 0 && b.height > 0;
    }).length;
    return {index, label: svg.getAttribute('aria-label'), drawn, width: box.width, height: box.height};
  });
  return {missing, charts, sections: document.querySelectorAll('section').length,
          rows: document.querySelectorAll('tbody tr').length, text: document.body.innerText.length};
})()
"""

SORT_CHECK = """
(() => {
  const th = document.querySelector('table.sortable thead th');
  if (!th) return 'no sortable table';
  const table = th.closest('table');
  const before = table.tBodies[0].rows.length;
  th.click(); th.click();
  const after = table.tBodies[0].rows.length;
  if (after !== before) return 'sorting changed the row count from ' + before + ' to ' + after;
  if (!th.getAttribute('aria-sort')) return 'sorting did not mark the header';
  return 'ok';
})()
"""

OVERFLOW_CHECK = "document.documentElement.scrollWidth - window.innerWidth"


def check_report(cdp, session, url, screenshot):
    problems = []
    cdp.send("Emulation.setDeviceMetricsOverride",
             {"width": SCREENSHOT_WIDTH, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session)
    cdp.send("Page.navigate", {"url": url}, session)
    cdp.wait_for("Page.loadEventFired", session)
    cdp.drain(0.5)

    page = evaluate(cdp, session, PAGE_CHECK % json.dumps(SECTION_IDS))
    if page["missing"]:
        problems.append(f"sections missing: {page['missing']}")
    if not page["charts"]:
        problems.append("the report has no chart <svg>")
    for chart in page["charts"]:
        if chart["drawn"] == 0 or chart["width"] <= 0 or chart["height"] <= 0:
            problems.append(f"chart {chart['index']} ({chart['label']!r}) draws nothing: {chart}")
    # Full-page screenshot at desktop width.
    metrics = cdp.send("Page.getLayoutMetrics", {}, session)
    content = metrics.get("cssContentSize") or metrics["contentSize"]
    height = int(min(max(content["height"], 1), MAX_SCREENSHOT_HEIGHT))
    cdp.send("Emulation.setDeviceMetricsOverride",
             {"width": SCREENSHOT_WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False}, session)
    shot = cdp.send("Page.captureScreenshot",
                    {"format": "png", "captureBeyondViewport": True,
                     "clip": {"x": 0, "y": 0, "width": SCREENSHOT_WIDTH, "height": height, "scale": 1}}, session)
    pathlib.Path(screenshot).write_bytes(base64.b64decode(shot["data"]))

    # Sorting (after the screenshot, which shows the report as written).
    sort_result = evaluate(cdp, session, SORT_CHECK)
    if sort_result != "ok":
        problems.append(f"table sorting: {sort_result}")

    # A narrow window: tables scroll inside their wrappers, the page itself does not scroll sideways.
    cdp.send("Emulation.setDeviceMetricsOverride",
             {"width": 400, "height": 800, "deviceScaleFactor": 1, "mobile": True}, session)
    cdp.drain(0.3)
    overflow = evaluate(cdp, session, OVERFLOW_CHECK)
    if overflow > 1:
        problems.append(f"at 400 px the page scrolls sideways by {overflow} px")

    # Scripts off: the same content is there (the script only sorts).
    cdp.send("Emulation.setScriptExecutionDisabled", {"value": True}, session)
    cdp.send("Page.reload", {}, session)
    cdp.wait_for("Page.loadEventFired", session)
    static = evaluate(cdp, session, PAGE_CHECK % json.dumps(SECTION_IDS))
    if (static["sections"], static["rows"], len(static["charts"])) != (page["sections"], page["rows"],
                                                                       len(page["charts"])):
        problems.append(f"with scripts disabled the page differs: {static['sections']} sections, "
                        f"{static['rows']} rows, {len(static['charts'])} charts vs {page['sections']}, "
                        f"{page['rows']}, {len(page['charts'])}")
    cdp.drain(0.3)
    return problems, page


def event_problems(events, url):
    problems = []
    for event in events:
        method = event.get("method")
        params = event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            description = details.get("exception", {}).get("description", "")
            problems.append(f"uncaught exception: {details.get('text')} {description}".strip())
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            texts = [a.get("value", a.get("description")) for a in params.get("args", [])]
            problems.append(f"console.{params['type']}: {texts}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            problems.append(f"log error: {params['entry'].get('text')} ({params['entry'].get('url', '')})")
        elif method == "Network.requestWillBeSent":
            request_url = params.get("request", {}).get("url", "")
            if request_url != url and not request_url.startswith("data:"):
                problems.append(f"network request to {request_url}")
    return problems


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 1
    report = pathlib.Path(argv[1]).resolve()
    screenshot = argv[2]
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        print(f"SKIP: {CHROMIUM} is not installed", file=sys.stderr)
        return 77
    if not report.is_file():
        print(f"FAIL: {report} does not exist", file=sys.stderr)
        return 1
    url = report.as_uri()
    deadline = time.monotonic() + TIME_BOX_S

    # Pipes moved to fds >= 10 so the child's dup2 onto 3 and 4 cannot clobber them.
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    to_r_hi, from_w_hi = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_r, from_w))
    os.close(to_r)
    os.close(from_w)

    def child_fds():
        os.dup2(to_r_hi, 3)
        os.dup2(from_w_hi, 4)

    with tempfile.TemporaryDirectory(prefix="fp4lab_browser_") as profile:
        command = [CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"), "--headless", "--no-sandbox",
                   "--disable-gpu", "--no-first-run", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync", "--disable-default-apps", "--mute-audio",
                   f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"]
        browser = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, pass_fds=(3, 4), preexec_fn=child_fds)
        os.close(to_r_hi)
        os.close(from_w_hi)
        problems = []
        page = None
        try:
            cdp = DevTools(to_w, from_r, deadline)
            target = cdp.send("Target.createTarget", {"url": "about:blank"})
            session = cdp.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})["sessionId"]
            for domain in ("Page", "Network", "Runtime", "Log"):
                cdp.send(f"{domain}.enable", {}, session)
            cdp.events.clear()  # about:blank's own events are not the report's
            problems, page = check_report(cdp, session, url, screenshot)
            problems += event_problems([e for e in cdp.events if e.get("sessionId") == session], url)
            try:
                cdp.send("Browser.close")
            except Failure:
                pass
        except Failure as error:
            problems.append(str(error))
        finally:
            try:
                browser.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                browser.kill()
                browser.wait()
            os.close(to_w)
            os.close(from_r)
    if problems:
        for problem in problems:
            print(f"FAIL: {problem}", file=sys.stderr)
        return 1
    print(f"PASS: {report.name}: {len(SECTION_IDS)} sections, {len(page['charts'])} charts, {page['rows']} table rows;"
          f" screenshot {screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
