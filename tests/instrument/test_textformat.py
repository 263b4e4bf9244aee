"""The formatting subset of questionnaire texts: each construct renders, and markup or script in
a text always stays escaped."""

from __future__ import annotations

from vakstem.instrument.textformat import plain_text, to_html, to_html_inline


def test_blank_lines_make_paragraphs_and_single_newlines_break_lines() -> None:
    assert str(to_html("een\ntwee\n\ndrie")) == "<p>een<br>twee</p><p>drie</p>"


def test_double_asterisks_make_bold_and_single_asterisks_italic() -> None:
    assert str(to_html_inline("**Anoniem.** Dat is *echt* zo")) == (
        "<strong>Anoniem.</strong> Dat is <em>echt</em> zo"
    )


def test_an_asterisk_between_spaces_is_not_emphasis() -> None:
    assert str(to_html_inline("5 * 3 * 2")) == "5 * 3 * 2"


def test_lines_starting_with_a_dash_make_a_bulleted_list() -> None:
    assert str(to_html("Je krijgt:\n- een code\n- een **link**")) == (
        "<p>Je krijgt:</p><ul><li>een code</li><li>een <strong>link</strong></li></ul>"
    )


def test_markdown_link_renders_as_anchor_with_its_url() -> None:
    html = str(to_html_inline("Lees [de privacyverklaring](https://example.org/p?a=1&b=2)."))
    assert html == 'Lees <a href="https://example.org/p?a=1&amp;b=2">de privacyverklaring</a>.'


def test_bare_email_address_becomes_mailto_link() -> None:
    assert str(to_html_inline("Mail naar team@uu.nl.")) == (
        'Mail naar <a href="mailto:team@uu.nl">team@uu.nl</a>.'
    )


def test_link_with_another_scheme_is_left_as_text() -> None:
    html = str(to_html_inline("[klik](javascript:alert(1))"))
    assert "<a" not in html
    assert html == "[klik](javascript:alert(1))"


def test_html_and_script_in_a_text_stay_escaped() -> None:
    html = str(to_html('<script>alert("x")</script>\n\n**<b onclick=x>vet</b>**'))
    assert "<script" not in html and "<b " not in html
    assert "&lt;script&gt;" in html
    assert "<strong>&lt;b onclick=x&gt;vet&lt;/b&gt;</strong>" in html


def test_a_link_url_cannot_break_out_of_its_attribute() -> None:
    html = str(to_html_inline('[x](https://a.nl/"onmouseover="alert(1))'))
    assert 'onmouseover="' not in html
    assert "&#34;" in html


def test_plain_text_strips_the_markers_and_keeps_link_targets() -> None:
    assert plain_text("**Vragen?** Lees *dit*: [info](https://a.nl)") == (
        "Vragen? Lees dit: info (https://a.nl)"
    )
