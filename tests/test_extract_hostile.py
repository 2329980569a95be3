"""Hostile and broken extracts: refused with a clear reason, in bounded time and memory.

Memory is measured in a child process (peak RSS from getrusage), never with timed asserts; the
child's timeout only stops a run that hangs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from extractcraft import render, write
from iplos_tui.core.extract.importer import ExtractError, check_extract_path, open_extract
from iplos_tui.core.extract.rules import UNREADABLE
from iplos_tui.core.extract.validate import validate_file

NS = "urn:iplos-tui:uttrekk:1"
HEAD = f'<?xml version="1.0" encoding="UTF-8"?>\n<Extract xmlns="{NS}" version="1">\n'
HEADER = (
    "<Header><Kommunenr>0403</Kommunenr><Bydel>00</Bydel><Year>2017</Year><Orgnr>990000018</Orgnr>"
    "<ContactEmail>iplos@hamar.kommune.no</ContactEmail></Header>\n"
)
MB = 1024 * 1024

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE Extract [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
""" + f'<Extract xmlns="{NS}" version="1"><Header><Kommunenr>&lol9;</Kommunenr></Header></Extract>\n'

EXTERNAL_ENTITY = f"""<?xml version="1.0"?>
<!DOCTYPE Extract [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Extract xmlns="{NS}" version="1"><Header><Kommunenr>&xxe;</Kommunenr></Header></Extract>
"""

EXTERNAL_DTD = f"""<?xml version="1.0"?>
<!DOCTYPE Extract SYSTEM "http://127.0.0.1:9/evil.dtd">
<Extract xmlns="{NS}" version="1">{HEADER}</Extract>
"""

PARAMETER_ENTITY = f"""<?xml version="1.0"?>
<!DOCTYPE Extract [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>
<Extract xmlns="{NS}" version="1">{HEADER}</Extract>
"""

UNDECLARED_ENTITY = HEAD + "<Header><Kommunenr>&foo;</Kommunenr></Header></Extract>\n"


def _deep(tag: str, depth: int = 10_000) -> str:
    return HEAD + HEADER + f"<{tag}>" * depth + f"</{tag}>" * depth + "</Extract>\n"


def _huge(path: Path, before: str, filler: bytes, size: int, after: str) -> Path:
    with open(path, "wb") as out:
        out.write(before.encode())
        block = filler * (MB // len(filler))
        for _ in range(size // MB):
            out.write(block)
        out.write(after.encode())
    return path


# What a child reports: the refusal, and how far the peak memory (VmHWM) rose during the
# validation. The peak is reset to the current memory after a warm start (imports, reference data),
# so only the validation's own allocations count.
CHILD = textwrap.dedent(
    """
    import json, re, sys, time
    from iplos_tui.core.extract.validate import validate_file
    validate_file(sys.argv[2])  # warm up: imports, reference data, caches
    def status(key):
        with open("/proc/self/status") as f:
            return int(re.search(key + r":\\s+(\\d+) kB", f.read()).group(1))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak RSS to the current RSS (Linux >= 4.0)
    base = status("VmHWM")
    start = time.monotonic()
    report = validate_file(sys.argv[1])
    peak = status("VmHWM")
    fatal = report.fatal
    print(json.dumps({"rule": fatal.rule if fatal else None, "message": fatal.message if fatal else None,
                      "line": fatal.line if fatal else None, "grew_kb": peak - base,
                      "seconds": time.monotonic() - start, "persons": report.persons}))
    """
)

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "uttrekk-eksempel.xml"


def child_validate(path: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(EXAMPLE)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("name", "content", "rule"),
    [
        ("billion-laughs", BILLION_LAUGHS, "file.doctype"),
        ("external-entity", EXTERNAL_ENTITY, "file.doctype"),
        ("external-dtd", EXTERNAL_DTD, "file.doctype"),
        ("parameter-entity", PARAMETER_ENTITY, "file.doctype"),
        ("undeclared-entity", UNDECLARED_ENTITY, "file.doctype"),
        ("deep-unknown", _deep("a"), "file.structure"),
        ("deep-person", _deep("Person"), "file.structure"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 40 else "",
)
def test_hostile_xml_refused_in_bounded_memory(tmp_path, name, content, rule):
    path = write(tmp_path / f"{name}.xml", content)
    outcome = child_validate(path)
    assert outcome["rule"] == rule, outcome
    assert outcome["message"]
    assert "root:" not in outcome["message"]  # nothing of /etc/passwd
    assert outcome["grew_kb"] < 16 * 1024, outcome


@pytest.mark.parametrize(
    ("name", "before", "filler", "after", "rule"),
    [
        ("text-in-field", HEAD + "<Header><Kommunenr>", b"A", "</Kommunenr></Header></Extract>\n", "file.text_too_large"),
        ("text-in-person", HEAD + HEADER + '<Person localId="x">', b"A", "</Person></Extract>\n", "file.structure"),
        ("huge-attribute", HEAD + HEADER + '<Person localId="', b"A", '"></Person></Extract>\n', "file.token_too_large"),
        ("huge-comment", HEAD + HEADER + "<!--", b"A", "--></Extract>\n", "file.token_too_large"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 40 else "",
)
def test_50mb_single_node_refused_in_bounded_memory(tmp_path, name, before, filler, after, rule):
    path = _huge(tmp_path / f"{name}.xml", before, filler, 50 * MB, after)
    outcome = child_validate(path)
    assert outcome["rule"] == rule, outcome
    assert outcome["grew_kb"] < 16 * 1024, outcome  # far below the 50 MB the node holds


def test_a_person_with_a_million_children_is_refused_early(tmp_path):
    path = _huge(tmp_path / "fat.xml", HEAD + HEADER + '<Person localId="x">', b'<Score variable="memory" value="3" date="2017-01-01"/>\n', 50 * MB, "</Person></Extract>\n")
    outcome = child_validate(path)
    assert outcome["rule"] == "file.structure" and "5000" in outcome["message"], outcome
    assert outcome["grew_kb"] < 16 * 1024, outcome


def test_doctype_html_is_not_claimed_as_an_extract(tmp_path):
    report = validate_file(write(tmp_path / "page.xml", "<!DOCTYPE html>\n<html><body>x</body></html>\n"))
    assert report.fatal.rule == "file.format"


def test_50mb_of_whitespace_between_elements_is_harmless(tmp_path):
    path = _huge(tmp_path / "ws.xml", HEAD + HEADER, b" ", 50 * MB, "</Extract>\n")
    outcome = child_validate(path)
    assert outcome["rule"] is None and outcome["grew_kb"] < 16 * 1024, outcome


def test_validation_memory_does_not_grow_with_the_file(tmp_path):
    from iplos_tui.core.extract.generator import generate_file

    small, large = tmp_path / "2k.xml", tmp_path / "20k.xml"
    generate_file(small, persons=2_000, seed=3)
    generate_file(large, persons=20_000, seed=3)
    a, b = child_validate(small), child_validate(large)
    assert a["rule"] is None and b["rule"] is None and b["persons"] == 20_000
    # 10x the persons; only the duplicate check's 24 bytes per person may add up (~0.5 MB).
    assert b["grew_kb"] - a["grew_kb"] < 4 * 1024, (a, b)


@pytest.mark.parametrize(
    ("name", "data", "rule"),
    [
        ("invalid-byte", (HEAD + HEADER).encode() + b'<Person localId="\xff\xfe"/></Extract>', "file.encoding"),
        ("latin1", (HEAD + "<Header><SourceSystem>").encode() + "Omsorg Bærum".encode("latin-1") + b"</SourceSystem></Header></Extract>", "file.encoding"),
        ("overlong", (HEAD + HEADER).encode() + b'<Person localId="\xc0\xaf"/></Extract>', "file.encoding"),
        ("cut-multibyte", (HEAD + "<Header><SourceSystem>B").encode() + "æ".encode()[:1], "file.encoding"),
        ("declared-latin1", f'<?xml version="1.0" encoding="ISO-8859-1"?>\n<Extract xmlns="{NS}" version="1">{HEADER}</Extract>'.encode(), "file.encoding"),
        ("nul", (HEAD + HEADER).encode() + b"\x00</Extract>", "file.not_xml"),
        ("utf16", (HEAD + HEADER + "</Extract>").encode("utf-16"), "file.format"),
        ("empty", b"", "file.empty"),
        ("whitespace", b"  \n\n ", "file.empty"),
        ("declaration-only", b'<?xml version="1.0"?>\n', "file.format"),
        ("other-xml", b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"/>', "file.format"),
        ("wrong-root", f'<Uttrekk xmlns="{NS}" version="1"/>'.encode(), "file.format"),
        ("no-namespace", b'<Extract version="1"><!-- urn:iplos-tui:uttrekk:1 --></Extract>', "file.format"),
        ("version-2", f'<Extract xmlns="{NS}" version="2"/>'.encode(), "file.format"),
        ("no-header", f'<Extract xmlns="{NS}" version="1"></Extract>'.encode(), "file.structure"),
        ("person-first", (HEAD + '<Person localId="a"/>' + HEADER + "</Extract>").encode(), "file.structure"),
        ("two-headers", (HEAD + HEADER + HEADER + "</Extract>").encode(), "file.structure"),
        ("field-twice", (HEAD + "<Header><Bydel>00</Bydel><Bydel>00</Bydel></Header></Extract>").encode(), "file.structure"),
        ("unknown-attribute", (HEAD + HEADER + '<Person localId="a" fnr="1"/></Extract>').encode(), "file.structure"),
        ("unknown-service-attribute", (HEAD + HEADER + '<Person localId="a"><Service code="15" hours="3"/></Person></Extract>').encode(), "file.structure"),
        ("junk-after", (HEAD + HEADER + "</Extract><Extract/>").encode(), "file.not_xml"),
        ("year-unknown", (HEAD + "<Header><Year>i fjor</Year></Header></Extract>").encode(), "file.year"),
        ("year-unsupported", (HEAD + "<Header><Year>1999</Year></Header></Extract>").encode(), "file.year"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 40 else "",
)
def test_unreadable_files_are_refused_with_a_reason(tmp_path, name, data, rule):
    report = validate_file(write(tmp_path / f"{name}.xml", data))
    assert report.fatal is not None and report.fatal.rule == rule, report.fatal
    assert report.fatal.rule in UNREADABLE
    assert report.fatal.message and "{" not in report.fatal.message
    assert not report.ok and report.blocks_sending and report.counts["fatal"] == 1


def test_truncated_file(tmp_path):
    data = render()
    for cut in (len(data) // 2, len(data) - 3, data.index(b"<Header>") + 3):
        report = validate_file(write(tmp_path / "cut.xml", data[:cut]))
        assert report.fatal is not None and report.fatal.rule == "file.truncated", (cut, report.fatal)
    # records read before the cut are still counted
    report = validate_file(write(tmp_path / "cut.xml", data[: data.index(b"</Person>") + 10]))
    assert report.fatal.rule == "file.truncated" and report.persons == 1


def test_fatal_line_is_reported(tmp_path):
    data = (HEAD + HEADER + '<Person localId="a">\n<Bogus/>\n</Person></Extract>').encode()
    report = validate_file(write(tmp_path / "x.xml", data))
    assert report.fatal.rule == "file.structure" and report.fatal.line == 5


# --- the path, before anything is read (I08, I10) -------------------------------------------------


def _rule_of(call) -> str:
    with pytest.raises(ExtractError) as info:
        call()
    return info.value.rule


def test_path_missing_directory_fifo_device(tmp_path):
    assert _rule_of(lambda: open_extract(tmp_path / "nope.xml")) == "file.path"
    assert _rule_of(lambda: open_extract(tmp_path)) == "file.path"
    fifo = tmp_path / "fifo.xml"
    os.mkfifo(fifo)
    # A FIFO with no writer would block open(); the check refuses it before opening.
    with pytest.raises(ExtractError, match="rør|pipe"):
        open_extract(fifo)
    assert _rule_of(lambda: open_extract("/dev/null")) == "file.path"
    link = tmp_path / "to-fifo.xml"
    link.symlink_to(fifo)
    assert _rule_of(lambda: open_extract(link)) == "file.path"
    dangling = tmp_path / "dangling.xml"
    dangling.symlink_to(tmp_path / "gone.xml")
    assert _rule_of(lambda: open_extract(dangling)) == "file.path"


def test_symlink_may_not_leave_the_allowed_directory(tmp_path):
    secure = tmp_path / "secure"
    secure.mkdir(mode=0o700)
    outside = write(tmp_path / "outside.xml", render())
    inside = write(secure / "inside.xml", render())
    escape = secure / "escape.xml"
    escape.symlink_to(outside)
    assert _rule_of(lambda: open_extract(escape, allowed_dir=secure)) == "file.path"
    assert _rule_of(lambda: open_extract(outside, allowed_dir=secure)) == "file.path"
    ok_link = secure / "link.xml"
    ok_link.symlink_to(inside)
    with open_extract(ok_link, allowed_dir=secure) as opened:
        assert opened.importer.name == "uttrekk-v1"
    report = validate_file(escape, allowed_dir=secure)
    assert report.fatal.rule == "file.path" and "sikre mappen" in report.fatal.message


def test_size_cap(tmp_path):
    path = write(tmp_path / "x.xml", render())
    assert _rule_of(lambda: check_extract_path(path, max_bytes=100)) == "file.too_large"
    report = validate_file(path, max_bytes=100)
    assert report.fatal.rule == "file.too_large"


def test_file_growing_past_the_cap_while_read(tmp_path):
    path = write(tmp_path / "x.xml", render())
    size = path.stat().st_size
    with open_extract(path, max_bytes=size + 10) as opened:
        with open(path, "ab") as grow:
            grow.write(b"<!--" + b"x" * 1000 + b"-->")
        with pytest.raises(ExtractError) as info:
            list(opened.records())
        assert info.value.rule == "file.too_large"


def test_cancel_stops_between_chunks(tmp_path):
    import threading

    from iplos_tui.core.extract.generator import generate_file
    from iplos_tui.core.extract.importer import Cancelled

    path = tmp_path / "x.xml"
    generate_file(path, persons=2_000)
    cancel = threading.Event()
    seen = []

    def progress(done, total):
        seen.append((done, total))
        cancel.set()

    with pytest.raises(Cancelled):
        validate_file(path, progress=progress, cancel=cancel)
    assert len(seen) == 1 and seen[0][1] == path.stat().st_size
