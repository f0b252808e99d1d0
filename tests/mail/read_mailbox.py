#!/usr/bin/python3
"""Reads a continuity mailbox as a user's mail program would, for the continuity tests.

  read_mailbox.py --protocol imap|pop3 --port N --user ADDRESS --password-file FILE

Prints "messages N" and then one "subject: ..." line per message, or "login failed: ..."
(exit 1) when the server refuses the login.
"""
import argparse
import email
import imaplib
import poplib
import sys


def read_imap(port, user, password):
    box = imaplib.IMAP4("127.0.0.1", port)
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


def read_pop3(port, user, password):
    box = poplib.POP3("127.0.0.1", port)
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
    parser.add_argument("--protocol", choices=["imap", "pop3"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-file", required=True)
    args = parser.parse_args()
    with open(args.password_file) as f:
        password = f.readline().rstrip("\n")
    read = read_imap if args.protocol == "imap" else read_pop3
    subjects, problem = read(args.port, args.user, password)
    if subjects is None:
        print("login failed: %s" % problem)
        return 1
    print("messages %d" % len(subjects))
    for subject in subjects:
        print("subject: %s" % subject)
    return 0


if __name__ == "__main__":
    sys.exit(main())
