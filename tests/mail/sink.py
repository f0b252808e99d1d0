#!/usr/bin/python3
"""A customer's mail server for the mail tests and ci/mail-demo: aiosmtpd on HOST:PORT.

Each message accepted is saved as OUT/<n>.eml, headed by X-Sink-From and X-Sink-To (the
envelope). Prints "sink ready on HOST:PORT" on stderr once it listens; stops on SIGTERM.

  --known a@x,b@x   only these recipients get 250; others 550 (address discovery)
  --rcpt-reply TEXT every RCPT gets this reply (e.g. "451 4.3.0 try later")
  --greeting-421    answer every connection "421 4.3.2 busy" and close it
  --tls-cert F --tls-key K
                    offer STARTTLS with this certificate; each message is then also
                    headed by X-Sink-TLS: the protocol version it came over, or "none",
                    and each RCPT logged on stderr with it
"""
import argparse
import asyncio
import os
import signal
import ssl
import sys

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, out, known, rcpt_reply, name, tls):
        self.out, self.known, self.rcpt_reply, self.name = out, known, rcpt_reply, name
        self.tls = tls
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.tls:
            tls = session.ssl.get("ssl_object") if session.ssl else None
            print("sink rcpt <%s> over %s" % (address, tls.version() if tls else "no TLS"),
                  file=sys.stderr, flush=True)
        if self.rcpt_reply:
            return self.rcpt_reply
        if self.known is not None and address.lower() not in self.known:
            return "550 5.1.1 <%s>: user unknown at destination" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.out, "%d.eml" % self.count)
        with open(path + ".tmp", "wb") as f:
            f.write(("X-Sink-From: %s\r\nX-Sink-To: %s\r\n" % (
                envelope.mail_from, ",".join(envelope.rcpt_tos))).encode())
            if self.tls:
                tls = session.ssl.get("ssl_object") if session.ssl else None
                f.write(("X-Sink-TLS: %s\r\n" % (tls.version() if tls else "none")).encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 queued as %s-%d" % (self.name, self.count)


async def refuse_with_421(reader, writer):
    writer.write(b"421 4.3.2 busy\r\n")
    await writer.drain()
    writer.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--known")
    parser.add_argument("--rcpt-reply")
    parser.add_argument("--greeting-421", action="store_true")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    known = None if args.known is None else {a.lower() for a in args.known.split(",") if a}
    name = "sink%d" % args.port

    loop = asyncio.new_event_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    loop.add_signal_handler(signal.SIGINT, stop.set_result, None)
    if args.greeting_421:
        server = loop.run_until_complete(asyncio.start_server(refuse_with_421, args.host, args.port))
        controller = None
    else:
        tls = None
        if args.tls_cert:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(args.tls_cert, args.tls_key)
        controller = Controller(Handler(args.out, known, args.rcpt_reply, name, tls is not None),
                                hostname=args.host, port=args.port, server_hostname=name,
                                data_size_limit=200 * 1024 * 1024, tls_context=tls)
        controller.start()
    print("sink ready on %s:%d" % (args.host, args.port), file=sys.stderr, flush=True)
    loop.run_until_complete(stop)
    if controller:
        controller.stop()
    else:
        server.close()


if __name__ == "__main__":
    main()
