#!/usr/bin/env python3
"""Writes the checked-in seed corpora of the fuzz targets (fuzz/corpus/<target>/). Standard
library only: protobuf messages are encoded by hand (varints and length-delimited fields).
Re-run after a wire format change: python3 fuzz/make_seeds.py"""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field_varint(num, value):
    return varint(num << 3) + varint(value)


def field_bytes(num, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data


def frame(ftype, header, body=b"", version=1):
    return b"KRPC" + bytes([version, ftype, 0, 0]) + struct.pack(">II", len(header) + len(body), len(header)) + header + body


def request(call_id, method, body, timeout_us=1000000, metadata=(), extra=b""):
    h = field_varint(1, call_id) + field_bytes(2, method) + field_varint(3, timeout_us)
    for k, v in metadata:
        h += field_bytes(4, field_bytes(1, k) + field_bytes(2, v))
    return frame(1, h + extra, body)


echo = request(1, "/krpc.examples.EchoService/Echo", field_bytes(1, "hello"), metadata=[("x-trace", "abc"), ("k-bin", b"\x00\xff")])
login = request(2, "/krpc.examples.UserService/Login", field_bytes(1, "alice") + field_bytes(2, "pw"))
register = request(3, "/krpc.examples.UserService/Register", field_varint(1, 7) + field_bytes(2, "bob") + field_bytes(3, "pw"))
health = request(4, "/krpc.health.v1.Health/Check", b"")
unknown = request(5, "/no.Such/Method", b"")
bad_body = request(6, "/krpc.examples.EchoService/Echo", b"\xff\xff\xff")
huge_timeout = request(7, "/krpc.examples.EchoService/Echo", field_bytes(1, "x"), timeout_us=(1 << 63))
ping = frame(3, field_varint(1, 42))
cancel = frame(6, field_varint(1, 1))
goaway = frame(5, field_varint(1, 0))
response = frame(2, field_varint(1, 1))
bad_magic = b"GET / HTTP/1.1\r\n\r\n"
bad_version = frame(1, b"", version=9)
oversize = b"KRPC" + bytes([1, 1, 0, 0]) + struct.pack(">II", 4 << 20, 16) + field_varint(1, 9)
half = echo[: len(echo) // 2]

# Streams on the krpc wire: a bidi stream opened (stream_kind=3, credit), a message asking for
# three responses, credit back, the half-close; and the frames a bad peer sends.
stream_open = request(8, "/grpc.testing.TestService/FullDuplexCall", b"", extra=field_varint(5, 3) + field_varint(6, 1 << 20))
stream_message = frame(8, field_varint(1, 8), field_bytes(2, field_varint(1, 3)) * 3)
stream_credit = frame(9, field_varint(1, 8) + field_varint(2, 4096))
stream_half_close = frame(8, field_varint(1, 8) + field_varint(2, 1))
stream_bidi = stream_open + stream_message + stream_credit + stream_half_close
stream_unknown = frame(8, field_varint(1, 99), b"x") + frame(9, field_varint(1, 98) + field_varint(2, 1))
stream_on_unary = request(9, "/krpc.examples.EchoService/Echo", b"", extra=field_varint(5, 1))
stream_accept_to_server = frame(7, field_varint(1, 1) + field_varint(2, 10))

# A gzip member inflating to 3000 bytes (grpc_message: compressed messages).
_c = zlib.compressobj(wbits=31)
GZ = _c.compress(b"x" * 3000) + _c.flush()

# request_dispatch's grpc_echo and grpc_health seeds are not written here: they are the bytes
# Python's grpcio sent for one call (captured once, checked in as they are).

seeds = {
    "frame_decoder": {"echo": echo, "pipelined": echo + login + ping + cancel, "bad_magic": bad_magic,
                      "bad_version": bad_version, "oversize": oversize, "half": half, "goaway": goaway,
                      "stream": stream_bidi},
    "request_dispatch": {"echo": echo, "user": login + register, "health": health, "unknown": unknown,
                         "bad_body": bad_body, "huge_timeout": huge_timeout, "pipelined": echo + ping + cancel + login,
                         "response_to_server": response, "oversize": oversize, "bad_magic": bad_magic,
                         "stream_bidi": stream_bidi, "stream_unknown": stream_unknown, "stream_on_unary": stream_on_unary,
                         "stream_accept_to_server": stream_accept_to_server},
    "config_parser": {"file": b"# comment\nname = node1\nflag = true\ncount = 12\nbig = 123456\nbytes = 4096\nport = 7000\nratio = 0.25\nformat = json\n",
                      "flags": b"--name=x\0--flag\0--count\0-3\0--format=text\0positional",
                      "bad": b"count = many\nunknown = 1\n=\n"},
    "json": {"flat": b'{"a":"x","b":1,"c":true,"d":null,"e":-2.5e3}', "escapes": b'{"k":"q\\"\\\\\\n\\u00e9\\ud83d\\ude00"}',
             "empty": b"{}", "nested": b'{"a":{"b":1}}'},
    "grpc_message": {"message": b"\x00\x00\x00\x00\x00\x05hello", "timeout": b"\x01250m", "percent": b"\x02100%25%0A",
                     "base64": b"\x03YWJj",
                     "gzip": bytes([4, 1]) + struct.pack(">I", len(GZ)) + GZ},
    "znode_json": {"provider": b'{"host":"10.0.0.2","port":7001,"weight":100,"zone":"a","version":"1.0","node_id":"n1","started_at":1700000000,"admin_port":9100}',
                   "minimal": b'{"weight":5}', "bad_port": b'{"host":"h","port":70000}'},
}

for target, files in seeds.items():
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
