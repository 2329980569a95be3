"""IPLOS-uttrekk v1: our documented XML extract (docs/extract-format.md), read and written.

Reading is streaming with expat fed in chunks: one ``Person`` is held at a time. Anything that
could make a parser work or allocate out of proportion is refused before it can: a DOCTYPE (so no
entity can be declared, internal or external), entity references, any element where the format
has none (so nesting stops at the format's three levels), field text over a few KiB, more than
5,000 scores, services and refusals in one person, text where the format has none, a single tag over 1 MiB, bytes
that are not UTF-8.
"""

from __future__ import annotations

import codecs
import operator
import re
from collections.abc import Callable, Iterator
from typing import BinaryIO
from xml.parsers import expat

from iplos_tui.core.extract.base import CHUNK_SIZE, ExtractError
from iplos_tui.core.extract.model import Header, Person, Refusal, Score, Service
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text

NAMESPACE = "urn:iplos-tui:uttrekk:1"
VERSION = "1"
ROOT = "Extract"

MAX_FIELD_CHARS = 4096  # the text of one header field
MAX_PERSON_CHILDREN = 5000  # scores, services and refusals of one person (a real one has < 100)
MAX_PENDING_BYTES = 1024 * 1024  # one tag (with its attributes) or comment that expat must buffer

# Header child element -> Header attribute.
HEADER_FIELDS = {
    "Kommunenr": "kommunenr",
    "Bydel": "bydel",
    "Year": "year",
    "Orgnr": "orgnr",
    "ContactEmail": "contact_email",
    "ContactMobile": "contact_mobile",
    "SourceSystem": "source_system",
    "SourceVersion": "source_version",
    "ProducedAt": "produced_at",
}
PERSON_ATTRS = {"localId": "local_id", "personId": "person_id", "household": "household"}
SCORE_ATTRS = {"variable": "variable", "value": "value", "date": "date"}
SERVICE_ATTRS = {
    "code": "code",
    "decisionDate": "decision_date",
    "start": "start",
    "end": "end",
    "hoursPerWeek": "hours_per_week",
    "days": "days",
    "orgnr": "orgnr",
    "admittedFrom": "admitted_from",
    "dischargedTo": "discharged_to",
}
REFUSAL_ATTRS = {"code": "code", "date": "date"}

_SEP = " "  # expat namespace separator; a space never occurs in a namespace URI
_Q = NAMESPACE + _SEP
_E_ROOT, _E_HEADER, _E_PERSON = _Q + ROOT, _Q + "Header", _Q + "Person"
_E_SCORE, _E_SERVICE, _E_REFUSAL = _Q + "Score", _Q + "Service", _Q + "Refusal"
_HEADER_ELEMENTS = {_Q + name: attr for name, attr in HEADER_FIELDS.items()}


_SCORE_KEYS, _SERVICE_KEYS, _REFUSAL_KEYS = frozenset(SCORE_ATTRS), frozenset(SERVICE_ATTRS), frozenset(REFUSAL_ATTRS)
_NS_BYTES = NAMESPACE.encode("ascii")


def _local(name: str) -> str:
    return name.rpartition(_SEP)[2]


def _shown(value: str, limit: int = 80) -> str:
    return safe_text(value, one_line=True, limit=limit)


class _Fatal(Exception):
    def __init__(self, rule: str, key: str, line: int, **values: object) -> None:
        super().__init__(key)
        self.rule, self.key, self.line, self.values = rule, key, line, values


class _Reader:
    """expat callbacks -> records. One instance per file."""

    def __init__(self, line_base: int = 0) -> None:
        self.line_base = line_base  # lines before the first byte fed (a chunk cut from a file)
        p = expat.ParserCreate(encoding="UTF-8", namespace_separator=_SEP)
        p.buffer_text = True
        p.buffer_size = 64 * 1024
        p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.XmlDeclHandler = self._xml_decl
        p.StartDoctypeDeclHandler = self._doctype
        p.EntityDeclHandler = self._entity_decl
        p.UnparsedEntityDeclHandler = self._entity_decl
        p.ExternalEntityRefHandler = self._external_entity
        p.SkippedEntityHandler = self._skipped_entity
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._chars
        self.parser = p
        self.out: list[Header | Person] = []
        self.depth = 0
        self.root_seen = False
        self.root_closed = False
        self.header: Header | None = None
        self.header_done = False
        self.person: Person | None = None
        self._outside = (self._start, self._end, self._chars)
        self._in_person = self._person_handlers()
        self.seen_fields: set[str] = set()
        self.field: str | None = None  # header field whose text is being read
        self.text: list[str] = []
        self.text_len = 0

    # -- refusals ---------------------------------------------------------------------------
    def _line(self) -> int:
        return self.parser.CurrentLineNumber + self.line_base

    def _xml_decl(self, version: str, encoding: str | None, standalone: int) -> None:
        if encoding and encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
            raise _Fatal("file.encoding", "encoding_declared", self._line(), encoding=_shown(encoding, 40))

    def _doctype(self, *args: object) -> None:
        raise _Fatal("file.doctype", "doctype", self._line())

    def _entity_decl(self, *args: object) -> None:
        raise _Fatal("file.doctype", "doctype", self._line())

    def _external_entity(self, *args: object) -> int:
        raise _Fatal("file.doctype", "doctype", self._line())

    def _skipped_entity(self, name: str, is_parameter: int) -> None:
        raise _Fatal("file.doctype", "entity", self._line(), name=_shown(name, 40))

    def _unexpected(self, name: str) -> _Fatal:
        # Ours by their local name; an element of another namespace as {namespace}name.
        shown = _local(name) if name.startswith(_Q) or _SEP not in name else "{%s}%s" % tuple(name.split(_SEP, 1))
        return _Fatal("file.structure", "unexpected_element", self._line(), element=_shown(shown, 100))

    # -- elements ---------------------------------------------------------------------------
    def _start(self, name: str, attrs: dict[str, str]) -> None:
        depth = self.depth = self.depth + 1
        if self.field is not None:
            raise self._unexpected(name)
        if depth == 2:
            if name == _E_PERSON:
                if not self.header_done:
                    raise _Fatal("file.structure", "person_before_header", self._line())
                try:
                    values = {PERSON_ATTRS[key]: value or None for key, value in attrs.items()}
                except KeyError:
                    raise self._unexpected_attr("Person", {k: v for k, v in attrs.items() if k not in PERSON_ATTRS}) from None
                self.person = person = Person(**values, line=self._line())
                begin, *handlers = self._in_person
                begin(person)
                p = self.parser
                p.StartElementHandler, p.EndElementHandler, p.CharacterDataHandler = handlers
                return
            if name == _E_HEADER:
                if self.header is not None:
                    raise _Fatal("file.structure", "header_twice", self._line())
                if attrs:
                    raise self._unexpected_attr("Header", attrs)
                self.header = Header(line=self._line())
                return
            raise self._unexpected(name)
        if depth == 3 and self.header is not None and not self.header_done:
            attr = _HEADER_ELEMENTS.get(name)
            if attr is None:
                raise self._unexpected(name)
            if attrs:
                raise self._unexpected_attr(_local(name), attrs)
            if attr in self.seen_fields:
                raise _Fatal("file.structure", "field_twice", self._line(), element=_local(name))
            self.seen_fields.add(attr)
            self.field = attr
            self.text = []
            self.text_len = 0
            return
        if depth == 1:
            if name != _E_ROOT:
                raise _Fatal("file.format", "wrong_root", self._line(), element=_shown(name, 120), namespace=NAMESPACE)
            version = attrs.get("version")
            if version != VERSION:
                raise _Fatal("file.format", "wrong_version", self._line(), version=_shown(version or "", 20))
            if len(attrs) != 1:
                raise self._unexpected_attr(ROOT, {k: v for k, v in attrs.items() if k != "version"})
            self.root_seen = True
            return
        # deeper than the format goes
        raise self._unexpected(name)

    def _person_handlers(self) -> tuple[Callable[[Person], None], Callable[[str, dict[str, str]], None], Callable[[str], None], Callable[[str], None]]:
        """The handlers inside a ``Person`` (the hot path: its Score, Service and Refusal
        children), put in place at ``<Person>`` and back at ``</Person>``: one call per element
        and no depth bookkeeping, as strict as ``_start``/``_end``/``_chars``. A child has no
        children, so a start inside one is refused as an element deeper than the format goes."""
        reader, parser, line_base = self, self.parser, self.line_base
        scores: list[Score] = []
        services: list[Service] = []
        refusals: list[Refusal] = []
        children = 0
        in_child = False

        def begin(person: Person) -> None:
            nonlocal scores, services, refusals, children, in_child
            scores, services, refusals = person.scores, person.services, person.refusals
            children, in_child = 0, False

        def start(name: str, attrs: dict[str, str]) -> None:
            nonlocal children, in_child
            if in_child:
                raise reader._unexpected(name)
            in_child = True
            children += 1
            g = attrs.get
            if name == _E_SCORE:
                if children > MAX_PERSON_CHILDREN or not attrs.keys() <= _SCORE_KEYS:
                    raise reader._child_refused("Score", attrs, _SCORE_KEYS)
                scores.append(Score(g("variable") or None, g("value") or None, g("date") or None, parser.CurrentLineNumber + line_base))
            elif name == _E_SERVICE:
                if children > MAX_PERSON_CHILDREN or not attrs.keys() <= _SERVICE_KEYS:
                    raise reader._child_refused("Service", attrs, _SERVICE_KEYS)
                services.append(
                    Service(
                        g("code") or None,
                        g("decisionDate") or None,
                        g("start") or None,
                        g("end") or None,
                        g("hoursPerWeek") or None,
                        g("days") or None,
                        g("orgnr") or None,
                        g("admittedFrom") or None,
                        g("dischargedTo") or None,
                        parser.CurrentLineNumber + line_base,
                    )
                )
            elif name == _E_REFUSAL:
                if children > MAX_PERSON_CHILDREN or not attrs.keys() <= _REFUSAL_KEYS:
                    raise reader._child_refused("Refusal", attrs, _REFUSAL_KEYS)
                refusals.append(Refusal(g("code") or None, g("date") or None, parser.CurrentLineNumber + line_base))
            else:
                raise reader._unexpected(name)

        def end(name: str) -> None:
            nonlocal in_child
            if in_child:
                in_child = False
                return
            # </Person> (expat has checked that it closes the Person)
            reader.depth = 1
            reader.out.append(reader.person)  # type: ignore[arg-type]
            reader.person = None
            parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = reader._outside

        def chars(data: str) -> None:
            if not data.isspace():
                raise _Fatal("file.structure", "unexpected_text", parser.CurrentLineNumber + line_base, text=_shown(data, 40))

        return begin, start, end, chars

    def _child_refused(self, element: str, attrs: dict[str, str], allowed: frozenset[str]) -> _Fatal:
        """Why a Person's child is refused: an attribute the format has none of (said first),
        else one child too many."""
        if not attrs.keys() <= allowed:
            return self._unexpected_attr(element, {k: v for k, v in attrs.items() if k not in allowed})
        return _Fatal("file.structure", "person_too_large", self._line(), limit=MAX_PERSON_CHILDREN)

    def close(self) -> None:
        """Break the parser <-> handler reference cycles now, not at the next GC."""
        p = self.parser
        p.StartElementHandler = p.EndElementHandler = p.CharacterDataHandler = None
        self._outside = self._in_person = ()  # type: ignore[assignment]

    def _unexpected_attr(self, element: str, attrs: dict[str, str]) -> _Fatal:
        key = next(iter(attrs))
        return _Fatal("file.structure", "unexpected_attribute", self._line(), attribute=_shown(_local(key), 60), element=element)

    def _end(self, name: str) -> None:
        depth = self.depth
        self.depth = depth - 1
        if depth == 3:
            if self.field is not None:  # a header field ends
                setattr(self.header, self.field, "".join(self.text).strip() or None)
                self.field = None
        elif depth == 2:
            if name == _E_HEADER:
                self.header_done = True
                self.out.append(self.header)  # type: ignore[arg-type]
        elif depth == 1:
            self.root_closed = True
            if not self.header_done:
                raise _Fatal("file.structure", "header_missing", self._line())

    def _chars(self, data: str) -> None:
        if self.field is not None:
            self.text_len += len(data)
            if self.text_len > MAX_FIELD_CHARS:
                raise _Fatal("file.text_too_large", "text_too_large", self._line(), limit=MAX_FIELD_CHARS)
            self.text.append(data)
        elif not data.isspace():
            raise _Fatal("file.structure", "unexpected_text", self._line(), text=_shown(data, 40))


class UttrekkV1Importer:
    """The importer for IPLOS-uttrekk v1."""

    name = "uttrekk-v1"
    label = "IPLOS-uttrekk v1"

    def __init__(self, chunk_size: int = CHUNK_SIZE) -> None:
        self.chunk_size = chunk_size

    def sniff(self, head: bytes) -> bool:
        text = head.lstrip(b"\xef\xbb\xbf").lstrip()
        # A DOCTYPE naming our root is claimed too, so that it is refused as such (not as "unknown").
        return text.startswith(b"<") and (_NS_BYTES in head or (b"<!DOCTYPE" in head and ROOT.encode() in head))

    def iter_records(self, stream: BinaryIO) -> Iterator[Header | Person]:
        reader = _Reader()
        parser = reader.parser
        decoder = codecs.getincrementaldecoder("utf-8")()
        fed = 0
        lines_before = 0
        try:
            while True:
                chunk = stream.read(self.chunk_size)
                final = not chunk
                try:
                    decoder.decode(chunk, final)
                except UnicodeDecodeError as exc:
                    line = lines_before + chunk.count(b"\n", 0, max(exc.start, 0)) + 1
                    raise _Fatal("file.encoding", "not_utf8", line, offset=fed + max(exc.start, 0)) from None
                try:
                    parser.Parse(chunk, final)
                except expat.ExpatError as exc:
                    raise self._expat_fatal(reader, exc, final) from None
                fed += len(chunk)
                lines_before += chunk.count(b"\n")
                if fed - max(parser.CurrentByteIndex, 0) > MAX_PENDING_BYTES:
                    raise _Fatal("file.token_too_large", "token_too_large", parser.CurrentLineNumber, limit=MAX_PENDING_BYTES)
                if reader.out:
                    yield from reader.out
                    reader.out.clear()
                if final:
                    break
        except _Fatal as fatal:
            raise ExtractError(t(f"extract.{fatal.key}", **fatal.values), fatal.line, rule=fatal.rule) from None
        finally:
            reader.close()
        if not reader.root_seen:
            raise ExtractError(t("extract.empty_document"), None, rule="file.empty")

    @staticmethod
    def _expat_fatal(reader: _Reader, exc: expat.ExpatError, final: bool) -> _Fatal:
        codes = expat.errors.codes
        if final:  # the last, empty chunk: every error there is about where the input ends
            if reader.root_seen:
                return _Fatal("file.truncated", "truncated", exc.lineno)
            return _Fatal("file.empty", "empty_document", exc.lineno)
        if exc.code == codes[expat.errors.XML_ERROR_UNDEFINED_ENTITY]:
            return _Fatal("file.doctype", "entity", exc.lineno, name="?")
        return _Fatal("file.not_xml", "not_xml", exc.lineno, detail=_shown(expat.errors.messages[exc.code], 120))


# ---------------------------------------------------------------------------------------------
# A run of persons cut from an extract (the submission's process pool, core.pass_pool)

_CHUNK_OPEN = f'<{ROOT} xmlns="{NAMESPACE}" version="{VERSION}">'.encode("ascii")
_CHUNK_CLOSE = f"</{ROOT}>".encode("ascii")
_CHUNK_PIECE = 64 * 1024


def read_person_chunk(data: bytes, first_line: int, *, last: bool) -> Iterator[Person]:
    """The persons of ``data``: whole ``Person`` elements cut from an extract after its Header
    (``last``: the rest of the file, with the document's end), its first byte on ``first_line``.

    As strict as ``iter_records`` and stricter where that depends on how the file was cut (a tag
    over half ``MAX_PENDING_BYTES``): whatever this refuses (``ExtractError``), the caller reads the
    whole file again the ordinary way, which says exactly what is wrong and where."""
    reader = _Reader(line_base=first_line - 1)
    reader.header, reader.header_done = Header(), True  # a second Header is refused as such
    parser = reader.parser
    try:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Fatal("file.encoding", "not_utf8", first_line + data.count(b"\n", 0, exc.start), offset=exc.start) from None
        parser.Parse(_CHUNK_OPEN, False)
        base = parser.CurrentByteIndex
        view = memoryview(data)
        fed = len(_CHUNK_OPEN)
        for start in range(0, len(data), _CHUNK_PIECE):
            piece = view[start : start + _CHUNK_PIECE]
            parser.Parse(bytes(piece), False)
            fed += len(piece)
            if fed - max(parser.CurrentByteIndex, base) > MAX_PENDING_BYTES // 2:
                raise _Fatal("file.token_too_large", "token_too_large", reader._line(), limit=MAX_PENDING_BYTES)
            if reader.out:
                yield from reader.out  # type: ignore[misc]
                reader.out.clear()
        parser.Parse(b"" if last else _CHUNK_CLOSE, True)
        yield from reader.out  # type: ignore[misc]
    except expat.ExpatError as exc:
        raise ExtractError(t("extract.not_xml", detail=_shown(expat.errors.messages[exc.code], 120)), exc.lineno + first_line - 1, rule="file.not_xml") from None
    except _Fatal as fatal:
        raise ExtractError(t(f"extract.{fatal.key}", **fatal.values), fatal.line, rule=fatal.rule) from None
    finally:
        reader.close()
    if not reader.root_closed:
        raise ExtractError(t("extract.truncated"), first_line, rule="file.truncated")


# ---------------------------------------------------------------------------------------------
# Writer

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ATTR_ESCAPE = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
)
_TEXT_ESCAPE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def _checked(value: str) -> str:
    if _INVALID_XML.search(value):
        raise ValueError(f"character not allowed in XML: {value!r}")
    return value


# Anything that needs escaping or refusing; most values (codes, dates, ids) have none of it.
_ATTR_SPECIAL = re.compile('[&<>"\n\r\t\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')


def _attr_value(value: object) -> str:
    text = value if value.__class__ is str else str(value)
    if _ATTR_SPECIAL.search(text) is None:  # type: ignore[arg-type]
        return text  # type: ignore[return-value]
    return _checked(text).translate(_ATTR_ESCAPE)  # type: ignore[arg-type]


# The same without '"' (told apart from the quotes around each value by counting them).
_ATTR_SPECIAL_UNQUOTED = re.compile('[&<>\n\r\t\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')


def _attribute_writer(names: dict[str, str], skip: str | None = None):
    """A function record -> ' name="value" ...' for the given attributes (the writer's hot path:
    the attributes are put together first and looked at once, and only an element with something
    to escape or refuse goes value by value)."""
    pairs = [(xml_name, attr) for xml_name, attr in names.items() if attr != skip]
    getter = operator.attrgetter(*(attr for _, attr in pairs))
    xml_names = [xml_name for xml_name, _ in pairs]
    single = len(xml_names) == 1
    clean = _ATTR_SPECIAL_UNQUOTED.search
    every = "".join(f' {xml_name}="{{}}"' for xml_name in xml_names).format  # all of them given

    def write(record: object) -> str:  # the record's values are strings or None (model.py)
        values = (getter(record),) if single else getter(record)
        if all(values):
            text, quotes = every(*values), 2 * len(values)
        else:
            parts = [f' {xml_name}="{value}"' for xml_name, value in zip(xml_names, values) if value]
            text, quotes = "".join(parts), 2 * len(parts)
        if text.count('"') == quotes and clean(text) is None:
            return text
        return "".join(
            f' {xml_name}="{_attr_value(value)}"' for xml_name, value in zip(xml_names, values) if value is not None and value != ""
        )

    return write


_PERSON_WITH_ID = _attribute_writer(PERSON_ATTRS)
_PERSON_WITHOUT_ID = _attribute_writer(PERSON_ATTRS, "person_id")
_SCORE = _attribute_writer(SCORE_ATTRS)
_SERVICE = _attribute_writer(SERVICE_ATTRS)
_REFUSAL = _attribute_writer(REFUSAL_ATTRS)


def write_header(out: BinaryIO, header: Header) -> None:
    """The XML declaration, the root start tag and the Header."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<{ROOT} xmlns="{NAMESPACE}" version="{VERSION}">',
        "  <Header>",
    ]
    for element, attr in HEADER_FIELDS.items():
        value = getattr(header, attr)
        if value is not None and value != "":
            lines.append(f"    <{element}>{_checked(str(value)).translate(_TEXT_ESCAPE)}</{element}>")
    lines.append("  </Header>\n")
    out.write("\n".join(lines).encode("utf-8"))


def person_xml(person: Person, include_person_id: bool = True) -> str:
    person_attributes = _PERSON_WITH_ID if include_person_id else _PERSON_WITHOUT_ID
    parts = [f"  <Person{person_attributes(person)}>\n"]
    parts.extend([f"    <Score{_SCORE(score)}/>\n" for score in person.scores])
    parts.extend([f"    <Service{_SERVICE(service)}/>\n" for service in person.services])
    parts.extend([f"    <Refusal{_REFUSAL(refusal)}/>\n" for refusal in person.refusals])
    parts.append("  </Person>\n")
    return "".join(parts)


def write_person(out: BinaryIO, person: Person, include_person_id: bool = True) -> None:
    """One Person element; ``include_person_id=False`` leaves the fødselsnummer out (the
    content part of an envelope, where the local id stands in for it)."""
    out.write(person_xml(person, include_person_id).encode("utf-8"))


def write_footer(out: BinaryIO) -> None:
    out.write(f"</{ROOT}>\n".encode("ascii"))
