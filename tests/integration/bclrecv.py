#!/usr/bin/env python3
# A service's backchannel_logout_uri for t_backchannel.sh: records every POST
# as one JSON line (path, content type, the form's logout_token) and answers
# by its path:
#
#   python3 bclrecv.py PORT_FILE RECORD_FILE   writes the port when ready
#
#   /ok    200 at once
#   /slow  200 after 5 s (a service that hangs: the provider must not wait)
#   /redir 302 to /ok (never followed: the provider gives up)
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port_file, record = sys.argv[1], sys.argv[2]
lock = threading.Lock()


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(min(n, 65536)).decode("utf-8", "replace")
        form = urllib.parse.parse_qs(body)
        with lock, open(record, "a") as f:
            f.write(json.dumps({"path": self.path, "ct": self.headers.get("Content-Type", ""),
                                "token": form.get("logout_token", [""])[0],
                                "fields": sorted(form)}) + "\n")
        if self.path == "/slow":
            time.sleep(5)
        if self.path == "/redir":
            self.send_response(302)
            self.send_header("Location", "/ok")
        else:
            self.send_response(200)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", "0")
        self.end_headers()


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
