"""Raw-socket HTTP clients for the transport suites (t_flood, t_limits,
t_proxy): what a client really sees (a status line, a clean close, a reset or
nothing at all), which curl hides. Every wait is bounded.

  python3 rawhttp.py burst PORT LIMIT HOLD_S        fill the loops, release, probe
  python3 rawhttp.py siege PORT LIMIT TIMEOUT_S     fill the loops, never release
  python3 rawhttp.py slowloris PORT TIMEOUT_S       a head sent byte by byte
  python3 rawhttp.py slowbody PORT TIMEOUT_S        a body sent byte by byte
  python3 rawhttp.py sizes PORT KIND SIZES...       request lines and headers by size
  python3 rawhttp.py sizes-behind-idle PORT KIND SIZES...   the same, older
                                                    idle connections held open
  python3 rawhttp.py get PORT PATH [SRC] [HDR...]   one GET; prints the status line
  python3 rawhttp.py halfclose PORT KIND N          N requests, each half-closed
                                                    once sent (KIND: healthz,
                                                    authorize, login, cutbody,
                                                    cutbig)
"""
import re
import socket
import sys
import threading
import time


def connect(port, src=None, timeout=2.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src:
        s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_answer(s, timeout):
    """The status line of the answer, or EOF (closed without a byte),
    RESET, TIMEOUT (nothing within timeout)."""
    s.settimeout(timeout)
    data = b""
    end = time.monotonic() + timeout
    try:
        while b"\r\n" not in data:
            left = end - time.monotonic()
            if left <= 0:
                return "TIMEOUT"
            s.settimeout(left)
            chunk = s.recv(4096)
            if not chunk:
                return "EOF" if not data else "PARTIAL"
            data += chunk
    except socket.timeout:
        return "TIMEOUT"
    except ConnectionResetError:
        return "RESET"
    return data.split(b"\r\n", 1)[0].decode("latin-1")


def send_all(s, data):
    """False when the server closed or reset the connection meanwhile."""
    try:
        s.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


def exchange(port, raw, timeout=3.0, src=None):
    try:
        s = connect(port, src, timeout)
    except OSError as e:
        return "CONNECT-" + type(e).__name__
    try:
        if not send_all(s, raw):
            # The server may have answered before closing: read it.
            return read_answer(s, 0.5)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return read_answer(s, timeout)
    finally:
        s.close()


def healthz(port, timeout=1.0, src=None):
    return exchange(port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", timeout, src)


def burst(port, limit, hold):
    """Fills the daemon to its connection limit with idle connections from
    several loopback addresses, sends one request over the limit, holds, then
    releases everything: the late request must be answered (or refused), and
    a new one answered within a second."""
    conns = []
    srcs = ["127.0.0.%d" % i for i in range(2, 6)]
    for i in range(limit):
        conns.append(connect(port, srcs[i % len(srcs)]))
    time.sleep(0.3)  # let every loop accept its share
    over = connect(port, "127.0.0.6")
    send_all(over, b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    early = read_answer(over, 0.5)
    print("over_during_hold=" + ("WAITING" if early == "TIMEOUT" else early))
    time.sleep(max(0.0, hold - 0.5))
    for c in conns:
        c.close()
    late = early if early != "TIMEOUT" else read_answer(over, 1.0)
    over.close()
    print("over_after_release=" + late)
    t0 = time.monotonic()
    print("healthz_after=" + healthz(port, 1.0))
    print("healthz_ms=%d" % ((time.monotonic() - t0) * 1000))


def siege(port, limit, timeout):
    """Fills the daemon with idle connections the client never releases and
    sends one request over the limit: libmicrohttpd closes the idle ones at
    the connection timeout, and the waiting request must then be answered."""
    conns = []
    srcs = ["127.0.0.%d" % i for i in range(2, 6)]
    for i in range(limit):
        conns.append(connect(port, srcs[i % len(srcs)]))
    time.sleep(0.3)
    over = connect(port, "127.0.0.6", timeout + 3)
    send_all(over, b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    t0 = time.monotonic()
    print("over_held=" + read_answer(over, timeout + 3))
    print("over_held_ds=%d" % round((time.monotonic() - t0) * 10))
    over.close()
    for c in conns:
        c.close()


def slow(port, timeout, head, trickle):
    """Sends head, then trickle one byte every 0.25 s; meanwhile other
    clients must be served. Prints how the slow connection ended and when."""
    s = connect(port, "127.0.0.7")
    send_all(s, head)
    t0 = time.monotonic()
    served = []
    closed = ["OPEN"]

    def others():
        while closed[0] == "OPEN" and time.monotonic() - t0 < timeout + 3:
            served.append(healthz(port, 1.0))
            time.sleep(0.2)

    th = threading.Thread(target=others)
    th.start()
    end = t0 + timeout + 3
    s.settimeout(0.25)
    i = 0
    while time.monotonic() < end:
        try:
            chunk = s.recv(4096)
            closed[0] = "EOF" if not chunk else chunk.split(b"\r\n", 1)[0].decode("latin-1")
            break
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed[0] = "RESET"
            break
        if not send_all(s, trickle[i % len(trickle):i % len(trickle) + 1]):
            closed[0] = "PIPE"
            break
        i += 1
    elapsed = time.monotonic() - t0
    th.join()
    s.close()
    print("slow_end=" + closed[0])
    print("slow_closed_ds=%d" % round(elapsed * 10))
    print("others_served=%d" % len(served))
    print("others_not_200=%d" % len([x for x in served if not x.startswith("HTTP/1.1 200")]))


def request_of(kind, n):
    """A request whose request line (kind "line", the URL padded) or header
    block (kind "header": one long header; "headers": 100-byte headers) is
    exactly n bytes, CRLFs included."""
    if kind == "args":  # a request line of many tiny query arguments
        base = "GET /healthz? HTTP/1.1\r\n"
        q = ("a=1&" * n)[: n - len(base)]
        return ("GET /healthz?" + q + " HTTP/1.1\r\n").encode() + b"Host: t\r\nConnection: close\r\n\r\n"
    if kind == "manyargs":  # a line of n bytes: 200 query arguments, then padding
        base = "GET /authorize?" + "&".join("a%d=1" % i for i in range(200)) + "&x= HTTP/1.1\r\n"
        return ((base[:-11] + "a" * (n - len(base)) + " HTTP/1.1\r\n").encode() +
                b"Host: t\r\nX-Pad: " + b"p" * 8000 + b"\r\nConnection: close\r\n\r\n")
    if kind == "cookies":  # one Cookie header of many tiny cookies
        line = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
        left = n - len(line) - 2 - len(b"Cookie: \r\n")
        return line + b"Cookie: " + (b"c=1; " * n)[:left] + b"\r\n\r\n"
    if kind == "line":
        base = "GET /authorize?x= HTTP/1.1\r\n"
        return ("GET /authorize?x=" + "a" * (n - len(base)) + " HTTP/1.1\r\n").encode() + b"Host: t\r\nConnection: close\r\n\r\n"
    line = b"GET /healthz HTTP/1.1\r\n"
    fixed = b"Host: t\r\nConnection: close\r\n"
    left = n - len(line) - len(fixed) - 2
    if kind == "header":
        hdrs = b"X-Pad: " + b"a" * (left - 9) + b"\r\n"
    else:
        hdrs = b""
        i = 0
        while left - len(hdrs) > 0:
            room = left - len(hdrs)
            h = b"X-P%04d: " % i
            body = min(100 - len(h) - 2, room - len(h) - 2)
            if body < 1:  # the rest does not fit a header: lengthen the last
                hdrs = hdrs[:-2] + b"a" * room + b"\r\n"
                break
            hdrs += h + b"a" * body + b"\r\n"
            i += 1
    req = line + fixed + hdrs + b"\r\n"
    assert kind == "line" or len(req) - 0 == n, (len(req), n)
    return req


def sizes(port, kind, sizes_, idle=0):
    """Each size's answer. idle: that many idle connections opened first
    and held meanwhile (older connections on the same loops)."""
    held = [connect(port) for _ in range(idle)]
    time.sleep(0.2 if idle else 0)
    for n in sizes_:
        print("%s %d %s" % (kind, n, exchange(port, request_of(kind, n), 3.0)))
    for c in held:
        c.close()


def read_whole(s, timeout):
    """Reads one answer to its end (Content-Length, within timeout) and then
    to the server's close (within 2 s more). Returns (status line or EOF/RESET/TIMEOUT/PARTIAL, head, body,
    seconds from the answer's last byte to the close, or None if the server
    never closed within timeout)."""
    data = b""
    end = time.monotonic() + timeout
    whole_at = None
    need = None
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if need is None and b"\r\n\r\n" in data:
                head = data.split(b"\r\n\r\n", 1)[0]
                m = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                need = len(head) + 4 + (int(m[0].split(b":", 1)[1]) if m else 0)
            if need is not None and len(data) >= need and whole_at is None:
                whole_at = time.monotonic()
                end = min(end, whole_at + 2.0)  # the close, 2 s at most
    except socket.timeout:
        pass
    except ConnectionResetError:
        return ("RESET", b"", b"", None)
    closed_at = time.monotonic() if time.monotonic() < end else None
    if not data:
        return ("EOF" if closed_at else "TIMEOUT", b"", b"", None)
    if need is None or len(data) < need:
        return ("PARTIAL", data, b"", None)
    head, body = data.split(b"\r\n\r\n", 1)
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    if len(data) > need:
        status = "EXTRA " + status
    return (status, head, body, None if closed_at is None else closed_at - whole_at)


def cookies_of(head):
    return "; ".join(l.split(b":", 1)[1].split(b";", 1)[0].strip().decode()
                     for l in head.split(b"\r\n") if l.lower().startswith(b"set-cookie:"))


def form_field(body, name):
    m = re.search(rb'name="' + name.encode() + rb'" value="([^"]*)"', body)
    return m.group(1).decode() if m else ""


AUTHZ = ("/authorize?response_type=code&client_id=demo-portal&redirect_uri=http%3A%2F%2F127.0.0.1%3A8081%2Fcallback"
         "&scope=openid&state=st4te&nonce=n0nce-0123456789abcdefghij"
         "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGEb-pEkRc&code_challenge_method=S256")


def half_closed(port, raw, timeout):
    """Sends raw, shuts the connection for writing at once, reads the answer."""
    s = connect(port, None, timeout)
    try:
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
        return read_whole(s, timeout)
    finally:
        s.close()


def halfclose(port, kind, n, user, password):
    """n requests of kind, each from a client that half-closes once it has
    sent it (HTTP/1.0 tools, some proxies): each must get its whole answer,
    then the server's close within a second. Prints one line per failure and
    a summary."""
    bad = {"lost": 0, "partial": 0, "status": 0, "slow_close": 0, "setup": 0}
    worst = 0.0
    # A login answers with its consent page, or a redirect once consented.
    # A body cut off by the end of the stream (a chunk of 2^64-1 bytes
    # declared, 12 sent): a 400, not a silent close; past max_body_bytes, 413.
    want = {"healthz": ["200"], "authorize": ["200"], "login": ["200", "302", "303"], "cutbody": ["400"],
            "cutbig": ["413"]}[kind]
    for i in range(n):
        if kind == "healthz":
            raw = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
        elif kind == "cutbody":
            raw = (b"POST /token HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabcde\r\n0\r\n\r\n")
        elif kind == "cutbig":  # 70,000 of 100,000 bytes declared: past max_body_bytes
            raw = (b"POST /token HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                   b"Content-Length: 100000\r\n\r\n" + b"a" * 70000)
        elif kind == "authorize":
            raw = ("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % AUTHZ).encode()
        else:
            # The login form of a fresh transaction, fetched normally; then
            # the form posted by a half-closing client (a slow argon2 check).
            st, head, body, _ = half_closed(port, ("GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                                                   % AUTHZ).encode(), 5.0)
            if not st.endswith(" 200 OK"):
                bad["setup"] += 1
                print("setup %d: %s" % (i, st))
                continue
            form = "txn=%s&csrf=%s&username=%s&password=%s" % (
                form_field(body, "txn"), form_field(body, "csrf"), user, password)
            raw = ("POST /login HTTP/1.1\r\nHost: t\r\nCookie: %s\r\n"
                   "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s"
                   % (cookies_of(head), len(form), form)).encode()
        st, head, body, close_s = half_closed(port, raw, 10.0)
        if st in ("EOF", "RESET", "TIMEOUT"):
            bad["lost"] += 1
        elif st == "PARTIAL" or st.startswith("EXTRA"):
            bad["partial"] += 1
        elif st.split(" ")[1] not in want:
            bad["status"] += 1
        elif close_s is None or close_s > 1.0:
            bad["slow_close"] += 1
        else:
            worst = max(worst, close_s)
            continue
        print("%s %d: %s%s" % (kind, i, st, "" if close_s is None else " (closed %.2f s after)" % close_s))
    for k, v in bad.items():
        print("%s=%d" % (k, v))
    print("worst_close_ms=%d" % (worst * 1000))


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "burst":
        burst(port, int(sys.argv[3]), float(sys.argv[4]))
    elif cmd == "siege":
        siege(port, int(sys.argv[3]), float(sys.argv[4]))
    elif cmd == "slowloris":
        slow(port, float(sys.argv[3]), b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ",
             b"abcdefghijklmnopqrstuvwxyz")
    elif cmd == "slowbody":
        slow(port, float(sys.argv[3]),
             b"POST /token HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
             b"Content-Length: 4000\r\n\r\ngrant_type=", b"abcdefghijklmnopqrstuvwxyz")
    elif cmd in ("sizes", "sizes-behind-idle"):
        kind = sys.argv[3]
        ns = []
        for a in sys.argv[4:]:
            if ":" in a:
                lo, hi, st = (int(x) for x in a.split(":"))
                ns.extend(range(lo, hi + 1, st))
            else:
                ns.append(int(a))
        sizes(port, kind, ns, 4 if cmd == "sizes-behind-idle" else 0)
    elif cmd == "raw":  # raw PORT KIND SIZE: the finding's cases, far past
        kind, n = sys.argv[3], int(sys.argv[4])
        if kind == "slashes":  # an authorization URL with n encoded slashes
            raw = ("GET /authorize?response_type=code&client_id=demo-portal&redirect_uri=" + "%2F" * n +
                   " HTTP/1.1\r\nHost: t\r\n\r\n").encode()
        else:
            raw = request_of(kind, n)
        print(exchange(port, raw, 5.0))
    elif cmd == "halfclose":
        halfclose(port, sys.argv[3], int(sys.argv[4]), "marianne", "Marianne-2026%21")
    elif cmd == "get":
        src = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else None
        hdrs = "".join(h + "\r\n" for h in sys.argv[5:])
        raw = ("GET %s HTTP/1.1\r\nHost: t\r\n%sConnection: close\r\n\r\n" % (sys.argv[3], hdrs)).encode()
        print(exchange(port, raw, 3.0, src))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
