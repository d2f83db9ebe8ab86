"""Uploaded files become Markdown-like text that keeps the document's title and heading outline."""

from __future__ import annotations

import io
import random
import re

import docx
import pytest
from fpdf import FPDF

from rag.parsing import (
    SUPPORTED_EXTENSIONS,
    ParsedDocument,
    UnreadableDocument,
    media_type_for,
    parse_document,
)


def headings(text: str) -> list[str]:
    """The heading lines outside code fences, in order."""
    found, in_code = [], False
    for line in text.split("\n"):
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and re.match(r"#{1,6} ", line):
            found.append(line)
    return found


def unreadable(data: bytes, filename: str) -> str:
    with pytest.raises(UnreadableDocument) as caught:
        parse_document(data, filename)
    message = str(caught.value)
    base_name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    assert message.startswith(f"{base_name}: ")
    return message


def docx_bytes(document: docx.document.Document) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def pdf_bytes(pages: list[str], title: str | None = None, **encryption: str) -> bytes:
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    if encryption:
        pdf.set_encryption(**encryption)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


# ---------------------------------------------------------------- Markdown and text


def test_markdown_keeps_outline_and_is_normalized() -> None:
    source = (
        "\ufeff# Shipping   Policy\r\n"
        "\r\n"
        "Orders\tship  within 2 days.   \r\n"
        "\r\n\r\n\r\n\r\n"
        "## Returns\r\n"
        "Cafe\u0301 items\x07 can be returned.\r\n"
        "\r\n"
        "* Unused items\r\n"
        "* Within 30 days\r\n"
        "\r\n"
        "### Refund timing\r\n"
        "Refunds take 5 days.\r\n"
    ).encode()

    doc = parse_document(source, "shipping.md")

    assert doc == ParsedDocument(
        title="Shipping Policy",
        text=(
            "# Shipping Policy\n\n"
            "Orders ship within 2 days.\n\n"
            "## Returns\n"
            "Café items can be returned.\n\n"
            "- Unused items\n"
            "- Within 30 days\n\n"
            "### Refund timing\n"
            "Refunds take 5 days."
        ),
    )


def test_markdown_without_h1_takes_title_from_file_name_and_ignores_code_comments() -> None:
    source = b"## Changes\n\n```sh\n# install the tool\npip install thing\n```\n\nFixed the login bug.\n"

    doc = parse_document(source, "uploads/release-notes_v2.md")

    assert doc.title == "Release notes v2"
    assert headings(doc.text) == ["## Changes"]
    assert "# install the tool" in doc.text  # code is kept verbatim, just not as a heading
    assert "Fixed the login bug." in doc.text


def test_explicit_title_wins() -> None:
    doc = parse_document(b"# Draft heading\n\nBody.", "notes.md", title="  Final   name ")

    assert doc.title == "Final name"
    assert doc.text.startswith("# Draft heading")


def test_front_matter_is_metadata_not_text() -> None:
    source = b'---\ntitle: "Onboarding guide"\ntags: [hr]\n---\n\nWelcome aboard.\n'

    doc = parse_document(source, "onboarding.md")

    assert doc.title == "Onboarding guide"
    assert doc.text == "Welcome aboard."


def test_underlined_headings_in_plain_text_become_headings() -> None:
    source = b"User Guide\n==========\n\nIntro text.\n\nInstallation\n------------\n\nRun the installer.\n"

    doc = parse_document(source, "guide.txt")

    assert headings(doc.text) == ["# User Guide", "## Installation"]
    assert doc.title == "User Guide"
    assert "Run the installer." in doc.text


def test_cp1252_text_is_decoded() -> None:
    source = "Caf\u00e9 \u201cspecials\u201d cost \u20ac5 \u2013 daily.".encode("cp1252")

    doc = parse_document(source, "MENU.TXT")

    assert doc.text == "Café \u201cspecials\u201d cost €5 \u2013 daily."
    assert doc.title == "MENU"


def test_utf16_text_from_notepad_is_decoded() -> None:
    doc = parse_document("Résumé notes\r\n".encode("utf-16"), "cv.txt")

    assert doc.text == "Résumé notes"


@pytest.mark.parametrize("data", [b"", b"  \n\t\r\n  ", "\u00a0\n\u200b".encode()])
def test_empty_text_is_unreadable(data: bytes) -> None:
    assert "the document is empty" in unreadable(data, "blank.txt")


def test_binary_data_named_txt_is_unreadable() -> None:
    assert "binary" in unreadable(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" * 20, "setup.txt")


# ---------------------------------------------------------------- HTML

PAGE = """<!DOCTYPE html>
<html><head>
<title>Acme Help | Pricing</title>
<style>body { color: red }</style>
<script>var tracking = "secret";</script>
</head>
<body>
<nav><a href="/">Home</a> <a href="/about">About us</a></nav>
<!-- a comment that must not show -->
<article>
  <h1>Pricing &amp; plans</h1>
  <p>Pick the plan
     that fits your team.</p>
  <h2>Plans</h2>
  <table>
    <tr><th>Plan</th><th>Price</th></tr>
    <tr><td>Starter</td><td>Free</td></tr>
    <tr><td>Pro</td><td>$20 / month</td></tr>
  </table>
  <h3>What Pro adds</h3>
  <ul>
    <li>Unlimited projects</li>
    <li>Priority support
      <ul><li>24/7 chat</li></ul>
    </li>
  </ul>
  <pre># example config
plan: pro</pre>
</article>
</body></html>"""


def test_html_keeps_headings_lists_and_tables_and_drops_noise() -> None:
    doc = parse_document(PAGE.encode(), "pricing.html")

    assert doc.title == "Pricing & plans"
    assert headings(doc.text) == ["# Pricing & plans", "## Plans", "### What Pro adds"]
    assert "Pick the plan that fits your team." in doc.text
    assert "Plan | Price\nStarter | Free\nPro | $20 / month" in doc.text
    assert "- Unlimited projects\n- Priority support\n  - 24/7 chat" in doc.text
    assert "```\n# example config\nplan: pro\n```" in doc.text
    for noise in ("tracking", "color: red", "About us", "comment", "Acme Help"):
        assert noise not in doc.text
    assert doc.text.index("Pick the plan") < doc.text.index("## Plans") < doc.text.index("Unlimited")


def test_html_title_comes_from_title_tag_without_h1_and_survives_missing_head_close() -> None:
    page = "<html><head><title>Release   notes</title><body><h2>Fixes</h2><p>Login works.</p></body>"

    doc = parse_document(page.encode(), "notes.HTM")

    assert doc.title == "Release notes"
    assert doc.text == "## Fixes\n\nLogin works."


def test_html_with_only_noise_is_empty() -> None:
    page = b"<html><head><script>x=1</script></head><body><nav>Home</nav></body></html>"

    assert "empty" in unreadable(page, "blank.html")


# ---------------------------------------------------------------- DOCX


def handbook_docx() -> bytes:
    document = docx.Document()
    document.core_properties.title = "HB-2024 internal"
    document.add_heading("Employee Handbook", level=0)
    document.add_paragraph("Welcome to the company.")
    document.add_heading("Benefits", level=1)
    document.add_paragraph("Everyone gets health insurance.")
    document.add_heading("Dental plan", level=2)
    document.add_paragraph("Cleanings twice a year", style="List Bullet")
    document.add_paragraph("Orthodontics for children", style="List Bullet")
    document.add_heading("Paid time off", level=1)
    table = document.add_table(rows=3, cols=2)
    for row, values in zip(table.rows, [("Years", "Days"), ("0-2", "20"), ("3+", "25")], strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_paragraph("Unused days carry over.")
    return docx_bytes(document)


def test_docx_keeps_title_headings_lists_and_tables_in_order() -> None:
    doc = parse_document(handbook_docx(), "handbook.docx")

    assert doc.title == "Employee Handbook"
    assert headings(doc.text) == ["# Employee Handbook", "# Benefits", "## Dental plan", "# Paid time off"]
    assert "- Cleanings twice a year\n- Orthodontics for children" in doc.text
    assert "Years | Days\n0-2 | 20\n3+ | 25" in doc.text
    order = ["Welcome to the company.", "# Benefits", "health insurance", "## Dental plan", "Years | Days"]
    positions = [doc.text.index(part) for part in [*order, "Unused days carry over."]]
    assert positions == sorted(positions)


def test_docx_without_headings_uses_core_properties_title() -> None:
    document = docx.Document()
    document.core_properties.title = "Travel policy"
    document.add_paragraph("Book economy class for flights under six hours.")

    doc = parse_document(docx_bytes(document), "travel.docx")

    assert doc.title == "Travel policy"
    assert doc.text == "Book economy class for flights under six hours."


def test_corrupt_docx_is_unreadable() -> None:
    message = unreadable(random.Random(1).randbytes(4096), "contract.docx")
    assert "damaged" in message

    truncated = handbook_docx()[:2000]
    assert "damaged" in unreadable(truncated, "contract.docx")


# ---------------------------------------------------------------- PDF


def test_pdf_text_from_every_page_in_order_with_metadata_title() -> None:
    data = pdf_bytes(
        [
            "Orders ship within two business days.\nExpress delivery costs 12 dollars.",
            "Gift cards never expire.",
        ],
        title="Customer FAQ",
    )

    doc = parse_document(data, "faq.pdf")

    assert doc.title == "Customer FAQ"
    assert "Orders ship within two business days." in doc.text
    assert "Express delivery costs 12 dollars." in doc.text
    assert doc.text.index("Express delivery") < doc.text.index("\n\nGift cards never expire.")


def test_pdf_without_metadata_title_uses_file_name() -> None:
    doc = parse_document(pdf_bytes(["Some text."]), "annual_report-2024.pdf")

    assert doc.title == "Annual report 2024"


def test_pdf_restricted_only_by_owner_password_is_read() -> None:
    doc = parse_document(pdf_bytes(["Confidential but readable."], owner_password="owner"), "memo.pdf")

    assert "Confidential but readable." in doc.text


def test_password_protected_pdf_is_unreadable() -> None:
    data = pdf_bytes(["Secret."], owner_password="owner", user_password="user")

    assert "password" in unreadable(data, "secret.pdf")


def test_pdf_without_text_is_unreadable() -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")  # what a scan looks like to a text extractor

    assert "no extractable text (scanned image?)" in unreadable(bytes(pdf.output()), "scan.pdf")


def test_corrupt_pdf_is_unreadable() -> None:
    assert "damaged" in unreadable(random.Random(0).randbytes(4096), "report.pdf")
    assert "damaged" in unreadable(b"%PDF-1.7\n" + random.Random(2).randbytes(500), "report.pdf")


# ---------------------------------------------------------------- file types


def test_unsupported_extension_names_the_type_and_the_supported_ones() -> None:
    message = unreadable(b"MZ\x90\x00", "setup.exe")

    assert "unsupported file type .exe" in message
    assert all(ext in message for ext in SUPPORTED_EXTENSIONS)


def test_file_without_extension_is_unsupported() -> None:
    assert "unsupported file type" in unreadable(b"hello", "README")


def test_client_path_in_file_name_is_not_part_of_the_title_or_messages() -> None:
    assert parse_document(b"Hello.", "C:\\Users\\ann\\team_notes.txt").title == "Team notes"
    assert "empty" in unreadable(b"", "C:\\Users\\ann\\blank.txt")  # the message names just blank.txt


def test_media_types() -> None:
    assert media_type_for("a.md") == "text/markdown"
    assert media_type_for("A.PDF") == "application/pdf"
    assert media_type_for("b.htm") == "text/html"
    assert media_type_for("c.txt") == "text/plain"
    assert media_type_for("d.docx").endswith("wordprocessingml.document")
    assert media_type_for("e.exe") == "application/octet-stream"
