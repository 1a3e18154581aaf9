"""Starts kvlink-server on a free loopback port for a test or a benchmark, and stops it."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.environ.get("KVLINK_MODEL", os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))


class Server:
    """kvlink-server with a cache directory of its own (docs: a copy of `docs`, or none)."""

    def __init__(self, bin_dir, docs=None, args=(), cache=None):
        self.bin_dir = bin_dir
        self.tmp = tempfile.mkdtemp(prefix="kvlink-server-test-")
        self.cache = cache or os.path.join(self.tmp, "cache")
        self.docs = os.path.join(self.tmp, "docs")
        if docs:
            shutil.copytree(docs, self.docs)
        else:
            os.makedirs(self.docs)
        self.args = list(args)
        self.proc = None
        self.port = None
        self.start()

    def start(self):
        self.log = open(os.path.join(self.tmp, "server.log"), "a+")
        offset = self.log.tell()  # a restart appends: read only its own lines
        cmd = [os.path.join(self.bin_dir, "kvlink-server"), "-m", MODEL, "--cache", self.cache, "--docs", self.docs,
               "--port", "0"] + self.args
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        deadline = time.time() + 300
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("kvlink-server exited: " + self.read_log())
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.read_log()[offset:])
            if m:
                self.port = int(m.group(1))
                return
            time.sleep(0.1)
        raise RuntimeError("kvlink-server did not start: " + self.read_log())

    def read_log(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def get(self, path, key=None):
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {key}"} if key else {})
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.read().decode()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        return self.proc.wait(timeout)

    def stop(self, keep_files=False):
        """SIGTERM; raises when the server does not exit 0 (a crash, a sanitizer report at exit)."""
        failed = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                failed = "did not stop within 120 s of SIGTERM"
            if failed is None and self.proc.returncode != 0:
                failed = f"exited {self.proc.returncode} after SIGTERM"
        log = self.read_log()
        self.log.close()
        if not keep_files:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if failed:
            raise RuntimeError(f"kvlink-server {failed}:\n{log[-4000:]}")
