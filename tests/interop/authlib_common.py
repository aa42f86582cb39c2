"""What the suites that drive python3-authlib share (tests/interop/t_authlib.sh,
tests/integration/t_client_keys.sh; authlib_python in tests/integration/lib.sh
puts this folder on the path): the PASS/FAIL lines their shell counts, and
the provider's forms read as a browser reads them."""
import html.parser
import os

# The test issuer is http on loopback, which authlib refuses otherwise.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"


class Checks:
    """check(name, cond, why) prints 'PASS name' or 'FAIL name: why' (why cut
    at 400 characters), each name after prefix; failed: one did."""

    def __init__(self, prefix=""):
        self.prefix = prefix
        self.failed = False

    def check(self, name, cond, why=""):
        if cond:
            print("PASS %s%s" % (self.prefix, name))
        else:
            self.failed = True
            print("FAIL %s%s: %s" % (self.prefix, name, str(why)[:400]))
        return cond


class Forms(html.parser.HTMLParser):
    """The forms of a page: action, method and the inputs and buttons."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "method": a.get("method", "get"), "fields": {}, "buttons": {}})
        elif tag in ("input", "button") and self.forms and a.get("name"):
            if tag == "button" or a.get("type") == "submit":
                self.forms[-1]["buttons"][a["name"]] = a.get("value", "")
            else:
                self.forms[-1]["fields"][a["name"]] = a.get("value", "")


def forms_of(text):
    """The forms of the HTML text, in order."""
    p = Forms()
    p.feed(text)
    return p.forms
