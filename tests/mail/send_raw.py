#!/usr/bin/env python3
"""Sends one message file as it is (bytes unchanged) and prints the gateway's answer:
"250 queued" or the refusing reply's code and text. swaks rewrites what it sends; the
content tests need their MIME exactly."""
import argparse
import smtplib
import ssl

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--from", dest="sender", required=True)
parser.add_argument("--to", required=True)
parser.add_argument("--file", required=True)
parser.add_argument("--source", default="", help="the client's address (a loopback alias)")
parser.add_argument("--starttls", action="store_true",
                    help="STARTTLS first (any certificate), and say which TLS version")
args = parser.parse_args()

with open(args.file, "rb") as f:
    data = f.read()
try:
    source = (args.source, 0) if args.source else None
    tls = ""
    with smtplib.SMTP("127.0.0.1", args.port, timeout=60, source_address=source) as smtp:
        if args.starttls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            smtp.starttls(context=context)
            tls = " over " + smtp.sock.version()
        smtp.sendmail(args.sender, [args.to], data)
    print("250 queued" + tls)
except smtplib.SMTPRecipientsRefused as e:
    code, text = list(e.recipients.values())[0]
    print(code, text.decode(errors="replace"))
except smtplib.SMTPResponseException as e:
    print(e.smtp_code, e.smtp_error.decode(errors="replace"))
