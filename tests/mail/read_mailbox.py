#!/usr/bin/python3
"""Reads a continuity mailbox as a user's mail program would, for the continuity tests.

  read_mailbox.py --protocol imap|pop3|imaps|pop3s --port N --user ADDRESS --password-file FILE

imaps and pop3s speak TLS from the start and accept any certificate (the tests' own are
self-signed). --source IP connects from that loopback address: Dovecot treats a client
on the server's own address as secure, so only another one shows what a remote sees.

Prints "messages N" and then one "subject: ..." line per message, or "login failed: ..."
(exit 1) when the server refuses the login.
"""
import argparse
import email
import imaplib
import poplib
import socket
import ssl
import sys


def insecure_context():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


SOURCE = None


class Imap(imaplib.IMAP4):
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=SOURCE)


class Pop3(poplib.POP3):
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=SOURCE)


def read_imap(port, user, password, tls=False):
    box = (imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=insecure_context()) if tls
           else Imap("127.0.0.1", port))
    try:
        box.login(user, password)
    except imaplib.IMAP4.error as e:
        return None, str(e)
    box.select("INBOX", readonly=True)
    _, data = box.search(None, "ALL")
    subjects = []
    for number in data[0].split():
        _, parts = box.fetch(number, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        subjects.append(email.message_from_bytes(parts[0][1]).get("Subject", ""))
    box.logout()
    return subjects, None


def read_pop3(port, user, password, tls=False):
    box = (poplib.POP3_SSL("127.0.0.1", port, context=insecure_context()) if tls
           else Pop3("127.0.0.1", port))
    try:
        box.user(user)
        box.pass_(password)
    except poplib.error_proto as e:
        return None, str(e)
    subjects = []
    count, _ = box.stat()
    for number in range(1, count + 1):
        _, lines, _ = box.top(number, 0)
        subjects.append(email.message_from_bytes(b"\r\n".join(lines)).get("Subject", ""))
    box.quit()
    return subjects, None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--protocol", choices=["imap", "pop3", "imaps", "pop3s"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--source")
    args = parser.parse_args()
    global SOURCE
    SOURCE = (args.source, 0) if args.source else None
    with open(args.password_file) as f:
        password = f.readline().rstrip("\n")
    read = read_imap if args.protocol.startswith("imap") else read_pop3
    subjects, problem = read(args.port, args.user, password, tls=args.protocol.endswith("s"))
    if subjects is None:
        print("login failed: %s" % problem)
        return 1
    print("messages %d" % len(subjects))
    for subject in subjects:
        print("subject: %s" % subject)
    return 0


if __name__ == "__main__":
    sys.exit(main())
