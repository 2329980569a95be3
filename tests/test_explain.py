"""Raw exceptions become words in the UI language (issue 14 item 12): real sockets, a real
misbehaving server on 127.0.0.1, real files; and argparse's own strings through the catalog."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import httpx
import pytest

from iplos_tui.core import i18n
from iplos_tui.core.errors import describe


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Misbehaving:
    """Accepts and either answers with garbage or says nothing (a black hole)."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            conn.recv(65536)
            if self.reply is not None:
                conn.sendall(self.reply)
                conn.close()

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


def raised(call) -> BaseException:
    try:
        call()
    except BaseException as error:  # noqa: BLE001 - the point is to look at it
        return error
    raise AssertionError("did not raise")


def assert_words(text: str) -> None:
    assert "Errno" not in text and "Error" not in text and "[" not in text, text


def test_connection_refused_in_words():
    port = free_port()
    error = raised(lambda: socket.create_connection(("127.0.0.1", port), timeout=5))
    assert "[Errno 111]" in str(error)  # what the operator used to read
    assert describe(error).startswith("tilkoblingen ble avvist")
    assert_words(describe(error))
    wrapped = raised(lambda: httpx.get(f"http://127.0.0.1:{port}/", timeout=5))
    assert describe(wrapped).startswith("tilkoblingen ble avvist")
    i18n.set_language("en")
    assert describe(wrapped).startswith("the connection was refused")


def test_a_server_answering_garbage_and_one_answering_nothing():
    garbage = Misbehaving(b"\x00\x01 not http at all\r\n\r\n")
    hole = Misbehaving(None)
    try:
        error = raised(lambda: httpx.get(f"http://127.0.0.1:{garbage.port}/", timeout=5))
        assert type(error).__name__ == "RemoteProtocolError"
        assert describe(error) == "tjeneren brøt av eller svarte med noe som ikke er gyldig HTTP"
        error = raised(lambda: httpx.get(f"http://127.0.0.1:{hole.port}/", timeout=0.5))
        assert type(error).__name__ == "ReadTimeout"
        assert "tidsgrensen" in describe(error)
        assert_words(describe(error))
    finally:
        garbage.close()
        hole.close()


def test_file_errors_name_the_path(tmp_path):
    missing = tmp_path / "uttrekk.xml"
    assert describe(raised(lambda: open(missing))) == f"filen eller mappen finnes ikke: {missing}"
    assert describe(raised(lambda: open(tmp_path))).startswith("dette er en mappe")
    hostile = tmp_path / "a\x1b[2Jb"
    text = describe(raised(lambda: open(hostile)))
    assert "\x1b" not in text


def test_an_iplos_error_keeps_its_message_and_anything_else_names_only_its_type():
    from iplos_tui.core.errors import Cancelled

    assert describe(Cancelled()) == Cancelled().message()
    assert describe(KeyError("secret-value")) == "uventet feil (KeyError); meld den med det du gjorde"


@pytest.mark.parametrize(("args", "present", "absent"), [
    (["--help"], ["bruk: iplos", "valg:", "vis denne hjelpen og avslutt"], ["usage:", "options:", "show this help"]),
    (["status", "--bogus"], ["ukjente argumenter: --bogus"], ["unrecognized", "usage:"]),
    (["--lang", "en", "--help"], ["usage: iplos", "options:"], ["bruk:"]),
])
def test_argparse_speaks_the_ui_language(args, present, absent):
    result = subprocess.run([sys.executable, "-m", "iplos_tui", *args], capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    for text in present:
        assert text in output, output
    for text in absent:
        assert text not in output, output


def test_the_one_error_model_says_os_errors_in_words(tmp_path):
    """The worker handler and the CLI's top level (core.errors.explain) showed the OS's own
    English text ("No such file or directory") inside the Norwegian sentence."""
    from iplos_tui.core.errors import explain

    missing = tmp_path / "uttrekk.xml"
    explanation = explain(raised(lambda: open(missing)))
    assert "No such file" not in explanation.message and "Errno" not in explanation.message
    assert explanation.message.startswith(f"Filen eller mappen finnes ikke: {missing}")
    refused = explain(raised(lambda: socket.create_connection(("127.0.0.1", free_port()), timeout=5)))
    assert refused.message.startswith("Tilkoblingen ble avvist"), refused.message
