"""The broker's pages: the login form and the refusal page, plain HTML and a little CSS.

No script and no external asset (the style sheet is served by the broker itself, so the
Content-Security-Policy can forbid everything else). The form works without JavaScript and
with a keyboard alone: every field has a label, errors are announced (``role="alert"``) and
tied to the fields they concern.
"""

from __future__ import annotations

from html import escape

__all__ = ["STYLESHEET", "login_page", "refusal_page"]

STYLESHEET = """\
:root { color-scheme: light dark; --accent: #006580; --error: #b00020; }
* { box-sizing: border-box; }
body {
  margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  background: #f2f4f5; color: #1d2327;
}
main {
  width: min(26rem, 100% - 2rem); padding: 2rem; background: #fff; border-radius: 8px;
  box-shadow: 0 1px 3px rgb(0 0 0 / 15%);
}
h1 { margin: 0 0 .25rem; font-size: 1.5rem; }
p { margin: 0 0 1rem; }
label { display: block; margin: 1rem 0 .25rem; font-weight: 600; }
input[type=text], input[type=password] {
  width: 100%; padding: .6rem .7rem; font: inherit; border: 1px solid #6b7780;
  border-radius: 4px; background: #fff; color: inherit;
}
input:focus, button:focus { outline: 3px solid var(--accent); outline-offset: 2px; }
input[aria-invalid=true] { border-color: var(--error); }
.help { margin: .25rem 0 0; font-size: .875rem; color: #4f5b62; }
.error {
  padding: .75rem; border-left: 4px solid var(--error); background: #fdecee; color: #7a0016;
}
button {
  margin-top: 1.5rem; width: 100%; padding: .7rem; font: inherit; font-weight: 600;
  color: #fff; background: var(--accent); border: 0; border-radius: 4px; cursor: pointer;
}
button:hover { background: #004e63; }
.ref { font-size: .875rem; color: #4f5b62; }
@media (prefers-color-scheme: dark) {
  body { background: #15191c; color: #e8ecee; }
  main, input[type=text], input[type=password] { background: #1f2528; }
  .help, .ref { color: #b3bec4; }
  .error { background: #3a1519; color: #ffd7dc; }
}
"""

_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<link rel="stylesheet" href="broker.css">
</head>
<body>
<main>
"""
_FOOT = """</main>
</body>
</html>
"""


def login_page(
    *,
    title: str,
    token: str,
    target_id: str | None,
    proxy_rest_uri: str | None,
    user: str = "",
    error: str | None = None,
) -> str:
    """The login form; ``error`` is shown above it, ``user`` is kept, never the password."""
    hidden = [("csrf", token)]
    if target_id is not None:
        hidden.append(("targetId", target_id))
    if proxy_rest_uri is not None:
        hidden.append(("proxyRestUri", proxy_rest_uri))
    fields = "".join(
        f'<input type="hidden" name="{name}" value="{escape(value, quote=True)}">\n'
        for name, value in hidden
    )
    described = "user-help login-error" if error else "user-help"
    invalid = ' aria-invalid="true"' if error else ""
    alert = f'<p class="error" role="alert" id="login-error">{escape(error)}</p>\n' if error else ""
    return (
        _HEAD.format(title=f"Log in - {escape(title)}")
        + f"<h1>{escape(title)}</h1>\n<p>Log in with your Windows account.</p>\n{alert}"
        + '<form method="post" action=".">\n'
        + fields
        + '<label for="user">User name</label>\n'
        + f'<input id="user" name="user" type="text" value="{escape(user, quote=True)}" '
        + 'autocomplete="username" autocapitalize="none" spellcheck="false" required '
        + f'autofocus aria-describedby="{described}"{invalid}>\n'
        + '<p class="help" id="user-help">DOMAIN\\user or user@domain</p>\n'
        + '<label for="password">Password</label>\n'
        + '<input id="password" name="password" type="password" '
        + f'autocomplete="current-password" required{invalid}>\n'
        + '<button type="submit">Log in</button>\n</form>\n'
        + _FOOT
    )


def refusal_page(*, title: str, heading: str, message: str, ref: str) -> str:
    """A page that says why nothing can be done here, with a reference for the audit log."""
    return (
        _HEAD.format(title=f"{escape(heading)} - {escape(title)}")
        + f'<h1>{escape(heading)}</h1>\n<p role="alert">{escape(message)}</p>\n'
        + "<p>Open Qlik Sense again from its usual address. If this keeps happening, tell "
        + "your administrator this reference:</p>\n"
        + f'<p class="ref"><code>{escape(ref)}</code></p>\n'
        + _FOOT
    )
