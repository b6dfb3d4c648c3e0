"""GitLab-flavoured Markdown to safe HTML: markdown-it-py (CommonMark + tables, strikethrough, task
lists, autolinks), Pygments for fenced code, and nh3 as the last step so that nothing a user wrote (raw
HTML included) survives unless the allow-list below permits it.

References (``#12``, ``@user``, ``~label``) are domain knowledge: callers pass a ``linker`` that turns
plain text into HTML, applied only to text outside code and outside existing links.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from functools import cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from mdit_py_plugins.tasklists import tasklists_plugin
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

# A linker receives a run of plain text and returns it as HTML (escaped), with references as links.
Linker = Callable[[str], str]

_TAGS = set(nh3.ALLOWED_TAGS) | {"input", "span", "details", "summary", "del", "s", "ins", "mark", "kbd"}
_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"class", "title"},
    "a": {"href", "data-reference-type", "data-original"},
    "img": {"src", "alt", "width", "height"},
    "input": {"type", "checked", "disabled"},
    "td": {"align", "style"},
    "th": {"align", "style"},
    "ol": {"start"},
}
_URL_SCHEMES = {"http", "https", "mailto", "ftp"}


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def _highlight(code: str, lang: str, _attrs: str) -> str:
    try:
        lexer = get_lexer_by_name(lang) if lang else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return ""  # markdown-it escapes and wraps it itself
    body = pygments_highlight(code, lexer, HtmlFormatter(nowrap=True))
    return f'<pre class="code highlight"><code class="language-{escape(lang)}">{body}</code></pre>'


def _reference_rule(state: StateCore) -> None:
    linker: Linker | None = state.env.get("linker")
    if linker is None:
        return
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        depth = 0
        children: list[Token] = []
        for tok in block.children:
            if tok.type == "link_open":
                depth += 1
            elif tok.type == "link_close":
                depth -= 1
            elif tok.type == "text" and depth == 0 and tok.content:
                rendered = linker(tok.content)
                if rendered != escape(tok.content):
                    replacement = Token("html_inline", "", 0)
                    replacement.content = rendered
                    children.append(replacement)
                    continue
            children.append(tok)
        block.children = children


@cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("gfm-like", {"highlight": _highlight}).use(tasklists_plugin)
    md.core.ruler.push("dockyard_references", _reference_rule)
    return md


def render(text: str, *, linker: Linker | None = None) -> str:
    """``text`` as sanitised HTML. ``linker`` turns references in plain text into links."""
    if not text:
        return ""
    raw = _parser().render(text, {"linker": linker})
    return nh3.clean(
        raw,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
