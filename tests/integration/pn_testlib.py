"""Shared helpers for the integration tests: run the real processnow binary on a config written
to a fresh temporary directory and read what the file upstream received."""
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import unittest

BINARY = os.environ.get("PN_BINARY", "processnow")
SOURCE_DIR = os.environ.get("PN_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick for port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GatewayTestCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="pn-it-")
        self.out = os.path.join(self.dir, "out.jsonl")
        self.data_dir = os.path.join(self.dir, "data")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def config(self, body, name="gateway.toml"):
        head = f'[gateway]\nid = "it-gw"\ndata_dir = "{self.data_dir}"\nlog_level = "info"\n'
        return self.write(name, head + body)

    def run_gateway(self, config_path, *extra, timeout=60):
        return subprocess.run([BINARY, "run", "--config", config_path, *extra],
                              capture_output=True, text=True, timeout=timeout)

    def start_gateway(self, config_path, *extra):
        return subprocess.Popen([BINARY, "run", "--config", config_path, *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def read_out(self, path=None):
        path = path or self.out
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def store_rows(self):
        db = sqlite3.connect(os.path.join(self.data_dir, "buffer.db"))
        try:
            return db.execute("SELECT count(*) FROM records").fetchone()[0]
        finally:
            db.close()

    def wait_for(self, predicate, timeout=20.0, what="condition"):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return
            time.sleep(0.05)
        self.fail(f"timed out after {timeout} s waiting for {what}")
