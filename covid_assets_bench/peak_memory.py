"""``python -m covid_assets_bench.peak_memory PEAK_FILE COMMAND...``: run the command, write its
peak resident memory in bytes to PEAK_FILE, and exit with its exit code.

Why a launcher: Linux counts into a process's ``ru_maxrss`` the resident memory of the process
it was forked from, so a command started by the benchmark (hundreds of MB with a synthetic
county history in memory) would report at least that. Started from this small process, its
``ru_maxrss`` is its own.
"""

import os
import subprocess
import sys
from pathlib import Path

peak_file, *command = sys.argv[1:]
process = subprocess.Popen(command)
_, status, usage = os.wait4(process.pid, 0)
process.returncode = os.waitstatus_to_exitcode(status)
Path(peak_file).write_text(str(usage.ru_maxrss * 1024))  # Linux gives kilobytes
sys.exit(process.returncode)
