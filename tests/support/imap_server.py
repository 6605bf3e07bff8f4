"""A private Dovecot IMAP server the tests start: its own config, mail folder, users and port.

Every user name logs in with PASSWORD and has a mailbox of its own (a fresh name per test).
Debian's `dovecot-imapd` (`.ci/run` installs it, as it does Chromium). Nothing of a system-wide
Dovecot is used or touched: the instance reads only the config written here, keeps its state
under the test's folder and listens on a free port of 127.0.0.1 (plain IMAP, no TLS).
"""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient

from tests.support.ports import free_port
from tests.support.waiting import wait_until

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
LDA = "/usr/lib/dovecot/dovecot-lda"
PASSWORD = "mailbox-app-password"

_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
instance_name = clinic-test-{port}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {root}/dovecot.log
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {uid}
first_valid_gid = {gid}
default_internal_user = {internal}
default_login_user = {login}
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service auth {{
  user = root
  unix_listener auth-userdb {{
    mode = 0666
  }}
}}
service auth-worker {{
  user = root
}}
protocol imap {{
  mail_max_userip_connections = 50
}}
{namespace}"""
# a mail host's usual Sent folder under its own name, marked SPECIAL-USE \Sent (RFC 6154)
SENT_SPECIAL_USE = """\
namespace inbox {{
  inbox = yes
  mailbox "{sent}" {{
    special_use = \\Sent
    auto = create
  }}
}}
"""


@dataclass
class ImapServer:
    """A running private Dovecot; `stop()` / `start()` take it down and bring it back."""

    root: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config)], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        wait_until(self._answers, timeout=20, message="Dovecot did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        self.process = None

    def _answers(self) -> bool:
        try:
            with IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=2):
                return True
        except OSError:
            return False

    def client(self, user: str) -> IMAPClient:
        imap = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        imap.login(user, PASSWORD)
        return imap

    def deliver(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        """Put a message into the user's mailbox as the mail server would (IMAP APPEND)."""
        with self.client(user) as imap:
            imap.append(folder, raw)

    def deliver_local(self, user: str, raw: bytes) -> None:
        """Deliver as the mail server does (`dovecot-lda`), straight into the user's mail
        folder, as the user and without asking Dovecot: works while the IMAP server is down."""
        uid, gid, _, _ = _accounts()
        subprocess.run([LDA, "-c", str(self.config), "-o", "log_path=/dev/stderr"],
                       input=raw, check=True, capture_output=True, timeout=30,
                       env={"USER": user, "HOME": str(self.root / "home" / user),
                            "PATH": "/usr/bin:/bin"},
                       user=uid if os.geteuid() == 0 else None,
                       group=gid if os.geteuid() == 0 else None)

    def messages(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """Every message in the user's folder, oldest first."""
        with self.client(user) as imap:
            imap.select_folder(folder, readonly=True)
            uids = imap.search("ALL")
            fetched = imap.fetch(uids, ["RFC822"]) if uids else {}
            return [fetched[uid][b"RFC822"] for uid in sorted(fetched)]


def _accounts() -> tuple[int, int, str, str]:
    """(mail uid, mail gid, internal user, login user): Dovecot's own users when the tests run
    as root (it will not run mail processes as root), else the tester's own."""
    if os.geteuid() == 0:
        mail = pwd.getpwnam("dovecot")
        return mail.pw_uid, mail.pw_gid, "dovecot", "dovenull"
    me = pwd.getpwuid(os.geteuid())
    return me.pw_uid, me.pw_gid, me.pw_name, me.pw_name


@contextmanager
def private_dovecot(sent_special_use: str | None = None) -> Iterator[ImapServer]:
    """Start Dovecot in a folder of its own on a free port; stopped and removed when the block
    ends. The folder is outside pytest's (private to the tester) so that Dovecot's unprivileged
    processes can reach it. `sent_special_use` names a folder every mailbox has, marked
    SPECIAL-USE \\Sent."""
    if not Path(DOVECOT).exists():
        raise RuntimeError("Dovecot is not installed: apt-get install dovecot-imapd "
                           "(.ci/run installs it)")
    root = Path(tempfile.mkdtemp(prefix="clinic-dovecot-"))
    root.chmod(0o755)
    uid, gid, internal, login = _accounts()
    for folder in ("run", "state", "mail", "home"):
        (root / folder).mkdir()
    for folder in ("mail", "home"):
        os.chown(root / folder, uid, gid)
    port = free_port()
    server = ImapServer(root=root, port=port)
    server.config.write_text(_CONFIG.format(
        root=root, port=port, uid=uid, gid=gid, internal=internal, login=login,
        password=PASSWORD, namespace=SENT_SPECIAL_USE.format(sent=sent_special_use)
        if sent_special_use else ""))
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
