"""krpc bench on a terminal: run in a real tmux pane (a pty), its progress bar must advance,
then the summary must replace it. Reads the pane with tmux capture-pane; waits on what the
pane shows, never on time."""
import os
import re
import shutil
import subprocess
import uuid

import pytest

from krpc_procs import wait_until

TMUX = shutil.which("tmux")


def tmux(*args):
    return subprocess.run([TMUX, *args], capture_output=True, text=True, timeout=30)


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (scripts/install-deps installs it)")
def test_the_progress_bar_advances_on_a_terminal(greeter):
    session = "krpc-" + uuid.uuid4().hex[:8]
    cmd = (f"{os.environ['KRPC_CLI']} bench --target {greeter.target} greet.Greeter/SayHello "
           f"-d '{{\"name\":\"t\"}}' --duration 8 --concurrency 2; echo EXIT=$?; sleep 600")
    assert tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "50", cmd).returncode == 0
    try:
        def percent():
            text = tmux("capture-pane", "-p", "-t", session).stdout
            found = re.findall(r"\[[= >]{40}\]\s+(\d+)%\s+(\d+) calls", text)
            return [(int(p), int(c)) for p, c in found]

        first = wait_until(lambda: [x for x in percent() if 0 < x[0] < 60], 60, "the bar partly filled")[0]
        later = wait_until(lambda: [x for x in percent() if x[0] >= first[0] + 20], 60, "the bar advancing")[0]
        assert later[1] > first[1], (first, later)  # and the call count with it
        screen = wait_until(lambda: (lambda t: t if "EXIT=" in t else None)(
            tmux("capture-pane", "-p", "-t", session, "-S", "-100").stdout), 60, "the summary")
        assert "EXIT=0" in screen and "Summary:" in screen and "[OK]" in screen, screen
        assert re.search(r"\[=+\]\s+100%", screen), screen  # the bar ends full
    finally:
        tmux("kill-session", "-t", session)


def test_no_progress_bar_when_not_on_a_terminal(greeter):
    r = subprocess.run([os.environ["KRPC_CLI"], "bench", "--target", greeter.target, "greet.Greeter/SayHello",
                        "-d", '{"name":"x"}', "--total", "200"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "calls" not in r.stderr and "%" not in r.stderr, r.stderr
