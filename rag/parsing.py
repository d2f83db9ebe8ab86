"""Uploaded files -> normalized, Markdown-like text.

Every format ends in the same shape (`#` headings, paragraphs separated by blank lines,
`- ` list items) so that chunking can follow the document's structure without knowing
where the text came from. Failures are `UnreadableDocument` with a message meant for the
person who uploaded the file.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import docx
from bs4 import BeautifulSoup
from bs4.element import NavigableString, PreformattedString, Tag
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph
from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, LimitReachedError


class UnreadableDocument(ValueError):  # noqa: N818 - the name is the public API
    """The upload cannot be turned into text; the message names the file and says why."""


SUPPORTED_EXTENSIONS = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")

_MEDIA_TYPES = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}

# Plain-text formats whose authors write Markdown conventions by hand (setext underlines,
# `*` bullets); generated formats never contain them, so they skip that rewriting.
_HANDWRITTEN = (".txt", ".md", ".markdown")


@dataclass(frozen=True)
class ParseLimits:
    """How much a single upload may cost to read. A .docx is a zip: a few hundred kilobytes can
    unpack to gigabytes (a zip bomb) and take the worker down; a PDF's pages are read one by one."""

    max_unzipped_bytes: int = 50 * 1024 * 1024
    max_pdf_pages: int = 500


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    text: str


Block = tuple[str, str]  # (kind, text); kind "list" lets consecutive items stay on adjacent lines


def parse_document(
    data: bytes, filename: str, title: str | None = None, limits: ParseLimits | None = None
) -> ParsedDocument:
    """Parse an upload into a title and normalized text, or raise `UnreadableDocument`
    (also when it is over `limits`)."""
    name = _display_name(filename)
    ext = os.path.splitext(name)[1].lower()
    parser = _PARSERS.get(ext)
    if parser is None:
        raise UnreadableDocument(
            f"{name}: unsupported file type {ext or '(no extension)'}; "
            f"supported: {', '.join(SUPPORTED_EXTENSIONS)}"
        )
    if not data.strip():
        raise UnreadableDocument(f"{name}: the document is empty")
    raw, metadata_title = parser(data, name, limits or ParseLimits())
    text = _normalize(_tidy_lines(_normalize(raw), handwritten=ext in _HANDWRITTEN))
    if not text:
        raise UnreadableDocument(f"{name}: the document is empty")
    chosen = _clean_title(title) or _first_h1(text) or metadata_title or _title_from_name(name)
    return ParsedDocument(title=chosen, text=text)


def media_type_for(filename: str) -> str:
    """The media type to store or serve the original file with; octet-stream when unknown."""
    ext = os.path.splitext(_display_name(filename))[1].lower()
    return _MEDIA_TYPES.get(ext, "application/octet-stream")


def _display_name(filename: str) -> str:
    # Some browsers send the client's full path, Windows separators included.
    return filename.replace("\\", "/").rsplit("/", 1)[-1].strip() or "document"


# ---------------------------------------------------------------- plain text and Markdown

# UTF-32 before UTF-16: the UTF-32 LE BOM starts with the UTF-16 LE one.
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_YAML_LINE = re.compile(r"(?:\s.*|#.*|-\s.*|[\w.-]+\s*:.*|)")
_YAML_TITLE = re.compile(r"^title\s*:\s*(.+?)\s*$", re.MULTILINE)
_BINARY_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def _wide_bom_codec(data: bytes) -> str | None:
    return next((codec for bom, codec in _WIDE_BOMS if data.startswith(bom)), None)


def _decode_text(data: bytes, name: str) -> str:
    # Windows Notepad's "Unicode" is UTF-16 with a BOM; its NUL bytes are not binary garbage.
    wide = _wide_bom_codec(data)
    if wide:
        try:
            return data.decode(wide)
        except UnicodeDecodeError as exc:
            raise UnreadableDocument(f"{name}: the file is not valid {wide.upper()} text") from exc
    if b"\x00" in data:
        raise UnreadableDocument(f"{name}: the file contains binary data, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Legacy Windows editors save cp1252; latin-1 decodes anything cp1252 leaves undefined.
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    # Without NUL bytes, binary data still shows itself by a density of control characters
    # that no real text has.
    if len(_BINARY_CONTROLS.findall(text)) > 0.05 * len(text):
        raise UnreadableDocument(f"{name}: the file contains binary data, not text")
    return text


def _parse_text(data: bytes, name: str, _limits: ParseLimits) -> tuple[str, str | None]:
    return _decode_text(data, name), None


def _parse_markdown(data: bytes, name: str, _limits: ParseLimits) -> tuple[str, str | None]:
    text = re.sub(r"\r\n?", "\n", _decode_text(data, name))
    # Static-site front matter is metadata, not content: it would otherwise open every
    # chunk of the first section. Only a block that reads as YAML counts, so a document
    # that merely begins with a horizontal rule keeps its text.
    match = _FRONT_MATTER.match(text.lstrip("\ufeff"))
    if match and all(_YAML_LINE.fullmatch(line) for line in match.group(1).split("\n")):
        title = _YAML_TITLE.search(match.group(1))
        body = text.lstrip("\ufeff")[match.end() :]
        return body, _clean_title(title.group(1).strip("\"'")) if title else None
    return text, None


# ---------------------------------------------------------------- HTML

_HTML_NOISE = (
    # Not `head` itself: html.parser does not repair a missing </head>, and dropping it
    # would then drop the whole body; its only content is these tags anyway.
    "title", "meta", "link", "base", "script", "style", "noscript", "template",
    "nav", "svg", "canvas", "iframe", "object", "embed", "button", "select", "textarea",
)  # fmt: skip
_HTML_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_HTML_BLOCKS = frozenset((
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
    "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header",
    "hgroup", "hr", "html", "li", "main", "ol", "p", "pre", "section", "summary", "table", "tbody",
    "td", "tfoot", "th", "thead", "tr", "ul",
))  # fmt: skip
# A table holding headings or other tables is page layout, not data: its cells are
# whole sections that must keep their own structure instead of becoming one row line.
_HTML_LAYOUT_MARKERS = ["table", "article", "section", "main", *_HTML_HEADINGS]


def _parse_html(data: bytes, name: str, _limits: ParseLimits) -> tuple[str, str | None]:
    if b"\x00" in data and not _wide_bom_codec(data):
        raise UnreadableDocument(f"{name}: the file contains binary data, not text")
    try:
        markup: str | bytes = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Not UTF-8: let BeautifulSoup honour <meta charset> or sniff the encoding.
        markup = data
    soup = BeautifulSoup(markup, "html.parser")
    page_title = _clean_title(soup.title.get_text(" ")) if soup.title else None
    for tag in [*soup.find_all(list(_HTML_NOISE)), *soup.find_all(hidden=True)]:
        tag.extract()
    return _join_blocks(_HtmlRenderer().render(soup)), page_title


class _HtmlRenderer:
    """Walks the tree iteratively: deeply nested markup must not hit the recursion limit."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.inline: list[str] = []
        self.prefix = ""  # "# " or "- " waiting for the text of the heading or list item
        self.kind = "para"
        self.list_depth = 0
        self.pre_depth = 0

    def render(self, root: Tag) -> list[Block]:
        stack: list[tuple[bool, object]] = [(True, root)]
        while stack:
            entering, node = stack.pop()
            if isinstance(node, PreformattedString):
                continue  # comments, CDATA, doctype, processing instructions
            if isinstance(node, NavigableString):
                self.text(str(node))
            elif isinstance(node, Tag):
                if not entering:
                    self.leave(node)
                elif self.enter(node):
                    stack.append((False, node))
                    stack.extend((True, child) for child in reversed(node.contents))
        self.flush()
        return self.blocks

    def text(self, text: str) -> None:
        # Outside <pre>, source line breaks are just spaces, as a browser renders them.
        self.inline.append(text if self.pre_depth else re.sub(r"\s+", " ", text))

    def enter(self, tag: Tag) -> bool:
        """Open an element; False means it was rendered whole and its children are skipped."""
        name = tag.name
        if name == "br":
            self.inline.append("\n")
        elif name in _HTML_HEADINGS:
            self.flush()
            self.prefix, self.kind = "#" * _HTML_HEADINGS[name] + " ", "heading"
        elif name == "li":
            self.flush()
            self.prefix, self.kind = "  " * max(self.list_depth - 1, 0) + "- ", "list"
        elif name == "pre":
            self.flush()
            self.pre_depth += 1
        elif name == "table" and not tag.find(_HTML_LAYOUT_MARKERS):
            self.flush()
            self.data_table(tag)
            return False
        elif name in _HTML_BLOCKS:
            self.flush()
            if name in ("ul", "ol"):
                self.list_depth += 1
        return True

    def leave(self, tag: Tag) -> None:
        name = tag.name
        if name == "pre":
            self.pre_depth -= 1
            if not self.pre_depth:
                code = "".join(self.inline).strip("\n")
                self.inline.clear()
                if code.strip():
                    # Fenced, so a "# comment" in code is never mistaken for a heading.
                    self.blocks.append(("code", f"```\n{code}\n```"))
        elif name in _HTML_HEADINGS or name == "li":
            self.flush()
            self.prefix, self.kind = "", "para"
        elif name in _HTML_BLOCKS:
            self.flush()
            if name in ("ul", "ol"):
                self.list_depth -= 1

    def flush(self) -> None:
        if self.pre_depth:
            return
        lines = [" ".join(line.split()) for line in "".join(self.inline).split("\n")]
        self.inline.clear()
        lines = [line for line in lines if line]
        if not lines:
            return  # an empty flush keeps the prefix: "<li><p>text</p></li>" is still an item
        if self.prefix:
            self.blocks.append((self.kind, self.prefix + " ".join(lines)))
        else:
            self.blocks.append(("para", "\n".join(lines)))
        self.prefix, self.kind = "", "para"

    def data_table(self, table: Tag) -> None:
        if table.caption:
            caption = " ".join(table.caption.get_text(" ").split())
            if caption:
                self.blocks.append(("para", caption))
        # One line per row keeps each value next to its neighbours, which is what makes a
        # retrieved row answerable ("Pro | $20 / month").
        rows = []
        for row in table.find_all("tr"):
            cells = [" ".join(cell.get_text(" ").split()) for cell in row.find_all(["td", "th"])]
            if any(cells):
                rows.append(" | ".join(cells))
        if rows:
            self.blocks.append(("table", "\n".join(rows)))


# ---------------------------------------------------------------- DOCX


def _parse_docx(data: bytes, name: str, limits: ParseLimits) -> tuple[str, str | None]:
    _refuse_zip_bomb(data, name, limits.max_unzipped_bytes)
    # python-docx fails with anything from BadZipFile to KeyError or lxml errors on
    # damaged or foreign files; to the user they are all the same problem.
    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[Block] = []
        _docx_blocks(document.iter_inner_content(), blocks)
        core_title = document.core_properties.title
    except Exception as exc:
        raise UnreadableDocument(
            f"{name}: the file is damaged or is not a Word .docx document "
            "(old .doc files must be saved as .docx first)"
        ) from exc
    return _join_blocks(blocks), _plausible_metadata_title(core_title)


def _refuse_zip_bomb(data: bytes, name: str, max_bytes: int) -> None:
    """Refuse a zip whose members add up to more than `max_bytes` unpacked, before unpacking any.

    The sizes are the archive's own claims, but zipfile never inflates a member past its
    claimed size (it stops there and fails the CRC check), so they bound the real cost.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return  # not a zip at all: python-docx reports the file as damaged
    if unpacked > max_bytes:
        raise UnreadableDocument(
            f"{name}: the document unpacks to {_megabytes(unpacked)}, more than the "
            f"{_megabytes(max_bytes)} allowed; split it or remove large embedded files"
        )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB"


def _docx_blocks(items: Iterable[Paragraph | Table], blocks: list[Block]) -> None:
    for item in items:
        if isinstance(item, Table):
            _docx_table(item, blocks)
            continue
        text = item.text.strip()
        if not text:
            continue
        level = _docx_heading_level(item)
        depth = None if level else _docx_list_depth(item)
        if level:
            blocks.append(("heading", "#" * level + " " + " ".join(text.split())))
        elif depth is not None:
            blocks.append(("list", "  " * min(depth, 8) + "- " + " ".join(text.split())))
        else:
            blocks.append(("para", text))


def _docx_style_names(paragraph: Paragraph) -> list[str]:
    # Custom styles such as "Chapter" are usually based on a built-in heading, so the
    # base-style chain is followed (a few steps: Word allows cycles in broken files).
    names, style = [], paragraph.style
    for _ in range(5):
        if style is None:
            break
        names.append((style.name or "").strip().lower())
        style = style.base_style
    return names


def _docx_heading_level(paragraph: Paragraph) -> int | None:
    for name in _docx_style_names(paragraph):
        if name == "title":
            return 1
        match = re.fullmatch(r"heading\s*(\d)", name)
        if match:
            return min(max(int(match.group(1)), 1), 6)
    return None


def _docx_list_depth(paragraph: Paragraph) -> int | None:
    match = re.fullmatch(r"list (?:bullet|number)(?: (\d))?", (_docx_style_names(paragraph) or [""])[0])
    if match:
        return int(match.group(1) or 1) - 1
    # Lists made with the toolbar buttons carry numbering on the paragraph itself, under
    # any style; python-docx has no public API for it.
    ppr = paragraph._p.pPr
    numpr = ppr.numPr if ppr is not None else None
    if numpr is None or numpr.numId is None or numpr.numId.val == 0:  # numId 0 removes numbering
        return None
    return numpr.ilvl.val if numpr.ilvl is not None else 0


def _docx_table(table: Table, blocks: list[Block]) -> None:
    rows = [_distinct_cells(row.cells) for row in table.rows]
    cells = [cell for row in rows for cell in row]
    if any(cell.tables or any(_docx_heading_level(p) for p in cell.paragraphs) for cell in cells):
        # Layout table (CV templates, newsletters): each cell is a section of its own.
        seen: list[object] = []
        for cell in cells:
            if not any(cell._tc is tc for tc in seen):
                seen.append(cell._tc)
                _docx_blocks(cell.iter_inner_content(), blocks)
        return
    lines = []
    for row in rows:
        texts = [" ".join(cell.text.split()) for cell in row]
        if any(texts):
            lines.append(" | ".join(texts))
    if lines:
        blocks.append(("table", "\n".join(lines)))


def _distinct_cells(cells: Iterable[_Cell]) -> list[_Cell]:
    # A merged cell is reported once per grid column it spans; its text belongs once.
    distinct: list[_Cell] = []
    for cell in cells:
        if not distinct or cell._tc is not distinct[-1]._tc:
            distinct.append(cell)
    return distinct


# ---------------------------------------------------------------- PDF


def _parse_pdf(data: bytes, name: str, limits: ParseLimits) -> tuple[str, str | None]:
    try:
        reader = PdfReader(io.BytesIO(data))
        # Many PDFs are encrypted only to restrict printing or editing, with an empty
        # user password; those open fine. A real user password cannot be guessed.
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise UnreadableDocument(
                f"{name}: the PDF is password-protected; upload a copy without a password"
            )
        if len(reader.pages) > limits.max_pdf_pages:
            raise UnreadableDocument(
                f"{name}: the PDF has {len(reader.pages)} pages, more than the {limits.max_pdf_pages} "
                "allowed; split it into smaller files"
            )
        pages = []
        for page in reader.pages:
            try:
                pages.append(page.extract_text() or "")
            except (DependencyError, LimitReachedError):
                raise
            except Exception:
                pages.append("")  # one broken page should not cost the text of the others
        metadata_title = _pdf_metadata_title(reader)
    except UnreadableDocument:
        raise
    except DependencyError as exc:
        # AES-encrypted files need the optional `cryptography` package.
        raise UnreadableDocument(f"{name}: the PDF is encrypted in a way this server cannot open") from exc
    except LimitReachedError as exc:
        raise UnreadableDocument(f"{name}: the PDF is too large or complex to read") from exc
    except Exception as exc:
        # pypdf reports damage with many exception types (PdfReadError, KeyError, ValueError...).
        raise UnreadableDocument(f"{name}: the file is damaged or is not a PDF") from exc
    if not _normalize("".join(pages)):
        raise UnreadableDocument(f"{name}: the PDF has no extractable text (scanned image?)")
    return _join_blocks(("para", page) for page in pages if page.strip()), metadata_title


def _pdf_metadata_title(reader: PdfReader) -> str | None:
    try:
        metadata = reader.metadata
        return _plausible_metadata_title(metadata.title if metadata else None)
    except Exception:
        return None  # a broken info dictionary should not reject a readable document


# ---------------------------------------------------------------- shared

_NEWLINES = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")
# C0/C1 controls (but tab and newline), soft hyphens and zero-width spaces that split words
# for search, the BOM, and lone surrogates, which cannot be stored as UTF-8 (NUL is also
# refused by PostgreSQL text columns).
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\u00ad\u200b\u2060\ufeff\ufffe\uffff\ud800-\udfff]")
_INDENT = re.compile(r"[^\S\n]*")
_INLINE_SPACE = re.compile(r"[^\S\n]+")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_ATX_H1 = re.compile(r" {0,3}# +(.*?)(?: +#+)? *")
_SYMBOL_BULLET = re.compile(r"(\s*)[•●○◦▪▫■□‣∙]\s*(?=\S)")
_MARKDOWN_BULLET = re.compile(r"(\s*)[*+]\s+(?=\S)")
_THEMATIC_BREAK = re.compile(r"\s*([*_-])(?:\s*\1){2,}\s*")
_SETEXT_UNDERLINE = re.compile(r" {0,3}(={3,}|-{3,})\s*")
_NOT_A_PARAGRAPH = re.compile(r"\s{4}|\s*(?:[#>|]|[-*+]\s|\d+[.)]\s|```|~~~)")


def _normalize(text: str) -> str:
    """NFC, one kind of newline, no controls, single spaces, at most one blank line in a row.

    Leading indentation is kept (tabs as four spaces): it carries nested lists and code.
    Idempotent, so it can run both before and after structural rewriting.
    """
    text = _CONTROLS.sub("", _NEWLINES.sub("\n", unicodedata.normalize("NFC", text)))
    lines = []
    for line in text.split("\n"):
        indent = _INDENT.match(line).group()
        body = _INLINE_SPACE.sub(" ", line[len(indent) :]).rstrip()
        lines.append("".join("    " if ch == "\t" else " " for ch in indent) + body if body else "")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def _fenced(lines: list[str]) -> list[bool]:
    """For each line, whether it belongs to a fenced code block (the fences included)."""
    flags, fence = [], ""
    for line in lines:
        if fence:
            flags.append(True)
            stripped = line.strip()
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                fence = ""
            continue
        opening = _FENCE.match(line)
        fence = opening.group(1) if opening else ""
        flags.append(bool(fence))
    return flags


def _tidy_lines(text: str, *, handwritten: bool) -> str:
    """Bring hand-made structure to the common form: `- ` bullets, `#` headings."""
    lines = text.split("\n")
    out: list[str] = []
    for line, in_code in zip(lines, _fenced(lines), strict=True):
        if in_code:
            out.append(line)
            continue
        bullet = _SYMBOL_BULLET.match(line)
        if not bullet and handwritten and not _THEMATIC_BREAK.fullmatch(line):
            bullet = _MARKDOWN_BULLET.match(line)
        if bullet:
            out.append(f"{bullet.group(1)}- {line[bullet.end() :]}")
            continue
        underline = _SETEXT_UNDERLINE.fullmatch(line) if handwritten else None
        previous = out[-1] if out else ""
        # Only a one-line paragraph is taken as a setext heading: that is how they are
        # written in practice, and it avoids turning a wrapped paragraph into a heading.
        if (
            underline
            and previous.strip()
            and not _NOT_A_PARAGRAPH.match(previous)
            and (len(out) < 2 or not out[-2].strip())
        ):
            out[-1] = ("# " if underline.group(1)[0] == "=" else "## ") + previous.strip()
            continue
        out.append(line)
    return "\n".join(out)


def _join_blocks(blocks: Iterable[Block]) -> str:
    parts: list[str] = []
    previous = ""
    for kind, text in blocks:
        if parts:
            parts.append("\n" if kind == previous == "list" else "\n\n")
        parts.append(text)
        previous = kind
    return "".join(parts)


def _first_h1(text: str) -> str | None:
    lines = text.split("\n")
    for line, in_code in zip(lines, _fenced(lines), strict=True):
        heading = None if in_code else _ATX_H1.fullmatch(line)
        if heading and _clean_title(heading.group(1)):
            return _clean_title(heading.group(1))
    return None


def _clean_title(title: str | None) -> str | None:
    if title is None:
        return None
    return " ".join(_CONTROLS.sub("", unicodedata.normalize("NFC", str(title))).split()) or None


_JUNK_METADATA_TITLE = re.compile(
    r"untitled.*|title|document\d*|microsoft (?:word|powerpoint) - .*"
    r"|.*\.(?:docx?|pdf|odt|rtf|txt|pptx?|tex)",
    re.IGNORECASE,
)


def _plausible_metadata_title(title: object) -> str | None:
    # Producers fill the title field with placeholders and source file names
    # ("Microsoft Word - draft3.docx"); the upload's own name is a better title then.
    cleaned = _clean_title(title) if isinstance(title, str) else None
    if cleaned is None or _JUNK_METADATA_TITLE.fullmatch(cleaned):
        return None
    return cleaned


def _title_from_name(name: str) -> str:
    stem = " ".join(re.sub(r"[-_]+", " ", os.path.splitext(name)[0]).split())
    # Only the first letter is raised: str.capitalize() would turn "NASA" into "Nasa".
    return stem[:1].upper() + stem[1:] if stem else "Untitled"


_PARSERS: dict[str, Callable[[bytes, str, ParseLimits], tuple[str, str | None]]] = {
    ".txt": _parse_text,
    ".md": _parse_markdown,
    ".markdown": _parse_markdown,
    ".html": _parse_html,
    ".htm": _parse_html,
    ".pdf": _parse_pdf,
    ".docx": _parse_docx,
}
